package deptest

import (
	"strings"
	"testing"
)

// TestPackageDocs requires every non-test package to have a doc comment
// in Go's form: "Package name ..." (or "Command name ..." for a main
// package). Packages of tests only (such as internal/e2e) are exempt.
func TestPackageDocs(t *testing.T) {
	for path, p := range listModule(t) {
		if p.GoFiles == 0 {
			continue
		}
		want := "Package " + p.Name + " "
		if p.Name == "main" {
			want = "Command "
		}
		switch {
		case p.Doc == "":
			t.Errorf("%s has no package doc comment: add one (%q) saying what the package does and what it does not", path, want+"…")
		case !strings.HasPrefix(p.Doc, want):
			t.Errorf("%s: package doc should begin %q, got %q", path, want, p.Doc)
		}
	}
}
