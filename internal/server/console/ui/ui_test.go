package ui

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

// TestPageIsComplete checks the embedded build as the browser sees it:
// index.html names each asset with ?v=<first 16 hex digits of its SHA-256>
// (the cache key of the year-long asset cache), every named asset is
// embedded, and the page holds nothing a strict Content-Security-Policy
// (script-src 'self'; style-src 'self') would refuse: no inline script or
// style, no inline event handler, nothing from another origin.
func TestPageIsComplete(t *testing.T) {
	page := FS()
	index, err := fs.ReadFile(page, "index.html")
	if err != nil {
		t.Fatalf("index.html: %v", err)
	}
	html := string(index)

	refs := regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(html, -1)
	named := map[string]bool{}
	for _, m := range refs {
		ref := m[1]
		if strings.Contains(ref, "//") || strings.HasPrefix(ref, "/") || strings.HasPrefix(ref, "data:") {
			t.Errorf("index.html loads %q: assets must be relative to the console and from its own origin", ref)
			continue
		}
		name, version, ok := strings.Cut(ref, "?v=")
		if !ok {
			t.Errorf("index.html names %q without ?v=<content hash>", ref)
			continue
		}
		body, err := fs.ReadFile(page, name)
		if err != nil {
			t.Errorf("index.html names %q, which is not embedded: %v", name, err)
			continue
		}
		sum := sha256.Sum256(body)
		if want := hex.EncodeToString(sum[:])[:16]; version != want {
			t.Errorf("%s?v=%s, but its content hash is %s: rebuild with scripts/console-build.sh", name, version, want)
		}
		named[name] = true
	}
	for _, want := range []string{"app.js", "app.css"} {
		if !named[want] {
			t.Errorf("index.html does not load %s", want)
		}
	}

	tests := []struct {
		name string
		re   string
	}{
		{"an inline script", `<script(?:\s[^>]*)?>\s*[^<\s]`},
		{"a style element", `<style[\s>]`},
		{"a style attribute", `\sstyle=`},
		{"an event handler attribute", `\son[a-z]+=`},
		{"a javascript: URL", `javascript:`},
	}
	for _, tc := range tests {
		if loc := regexp.MustCompile(`(?i)` + tc.re).FindStringIndex(html); loc != nil {
			t.Errorf("index.html has %s (refused by the console's CSP): %q", tc.name, html[loc[0]:min(len(html), loc[1]+40)])
		}
	}

	for _, tag := range regexp.MustCompile(`(?i)<script[^>]*>`).FindAllString(html, -1) {
		if !strings.Contains(tag, " src=") {
			t.Errorf("index.html has a script without src (refused by the console's CSP): %s", tag)
		}
	}

	// Every embedded file is one the page uses (no stale build output).
	entries, err := fs.ReadDir(page, ".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "index.html" && !named[e.Name()] {
			t.Errorf("dist holds %s, which index.html does not use", e.Name())
		}
	}
}

// TestScriptsHaveNoEval checks the bundled code for what script-src 'self'
// (without 'unsafe-eval') refuses at run time.
func TestScriptsHaveNoEval(t *testing.T) {
	js, err := fs.ReadFile(FS(), "app.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []*regexp.Regexp{
		regexp.MustCompile(`\beval\(`),
		regexp.MustCompile(`new Function\(`),
		regexp.MustCompile(`setAttribute\("style"`),
		regexp.MustCompile(`createElement\("style"\)`),
	} {
		if loc := bad.FindIndex(js); loc != nil {
			t.Errorf("app.js has %q (refused by the console's CSP) near %q", bad, js[max(0, loc[0]-40):min(len(js), loc[1]+40)])
		}
	}
}
