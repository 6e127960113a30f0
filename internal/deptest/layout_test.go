package deptest

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// notInLayout are top-level folders of the checkout that are not part of
// the source tree: build outputs and what tests leave behind (all in
// .gitignore).
var notInLayout = []string{"bin", "dist", "node_modules", "postern-data", "test-artifacts"}

// TestLayoutMapsEveryFolder keeps the README's Layout section a complete
// map: every package folder under internal/ (and cmd/) is named in it, in
// backquotes, by its path or a tail of its path ("console/ui" for
// internal/server/console/ui), and so is every top-level folder of the
// repository.
func TestLayoutMapsEveryFolder(t *testing.T) {
	named := layoutNames(t)
	for path := range listModule(t) {
		if path == "." {
			continue
		}
		if !slices.ContainsFunc(tails(path), func(s string) bool { return named[s] }) {
			t.Errorf("the README's Layout section does not name package folder %s: add a line (or a word) for it", path)
		}
	}
	entries, err := os.ReadDir(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || strings.HasPrefix(name, ".") || slices.Contains(notInLayout, name) {
			continue
		}
		if !named[name] {
			t.Errorf("the README's Layout section does not name the top-level folder %s/: add a line for it", name)
		}
	}
}

// tails returns path's suffixes by whole elements, longest first, each
// without the leading "internal/": "server/console/ui", "console/ui",
// "ui" for internal/server/console/ui.
func tails(path string) []string {
	elems := strings.Split(strings.TrimPrefix(path, "internal/"), "/")
	var out []string
	for i := range elems {
		out = append(out, strings.Join(elems[i:], "/"))
	}
	return out
}

// layoutNames reads the README's Layout section and returns what it names
// in backquotes: each quoted path with its trailing slash removed, and
// each of its leading folders ("web/console" names "web" too).
func layoutNames(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Layout\n")
	if !ok {
		t.Fatal("README.md has no \"## Layout\" section")
	}
	if i := strings.Index(section, "\n## "); i >= 0 {
		section = section[:i]
	}
	named := map[string]bool{}
	for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(section, -1) {
		whole := strings.TrimSuffix(m[1], "/")
		p := strings.TrimPrefix(whole, "internal/")
		named[whole], named[p] = true, true
		for dir := range strings.SplitSeq(p, "/") {
			named[dir] = true
			break
		}
	}
	return named
}

func TestTails(t *testing.T) {
	tests := []struct {
		path string
		want []string
	}{
		{"internal/server/console/ui", []string{"server/console/ui", "console/ui", "ui"}},
		{"internal/agent", []string{"agent"}},
		{"cmd/postern", []string{"cmd/postern", "postern"}},
	}
	for _, tt := range tests {
		if got := tails(tt.path); !slices.Equal(got, tt.want) {
			t.Errorf("tails(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}
