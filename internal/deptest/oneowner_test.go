package deptest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// owned is a decision or a text that one package owns; shipped code
// elsewhere must call the owner rather than write it again.
type owned struct {
	what  string
	owner string // folder (relative to the module) whose packages may write it
	// found reports whether node writes it again.
	found func(n ast.Node) bool
	fix   string
}

var ownedRules = []owned{
	{
		what:  "a type assertion to store.ChangeCounter (whether a cache may key on the change count)",
		owner: "internal/store",
		found: func(n ast.Node) bool {
			ta, ok := n.(*ast.TypeAssertExpr)
			if !ok {
				return false
			}
			sel, ok := ta.Type.(*ast.SelectorExpr)
			if !ok || sel.Sel.Name != "ChangeCounter" {
				return false
			}
			id, ok := sel.X.(*ast.Ident)
			return ok && id.Name == "store"
		},
		fix: "use store.CacheCounter(st, store.NextRead or store.ChangeFeed)",
	},
	{
		what:  `the maximum-duration close reason ("Maximum tunnel duration …")`,
		owner: "internal/wire/tunnelproto",
		found: func(n ast.Node) bool { return stringHas(n, "Maximum tunnel duration") },
		fix:   "use tunnelproto.MaxDurationCloseReason / IsMaxDurationCloseReason",
	},
	{
		what:  `the hint on a directory another user owns ("… belongs to uid N and this … runs as uid M …")`,
		owner: "internal/util/ownerhint",
		found: func(n ast.Node) bool { return stringHas(n, "belongs to uid") },
		fix:   "use ownerhint.Wrap with the directory's words (ownerhint.Dir)",
	},
}

// stringHas reports whether n is a string literal containing s.
func stringHas(n ast.Node, s string) bool {
	lit, ok := n.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return false
	}
	v, err := strconv.Unquote(lit.Value)
	return err == nil && strings.Contains(v, s)
}

// TestOneOwner: no shipped file outside an owner writes what the owner
// owns (ownedRules). Test files may: they pin the texts users see.
func TestOneOwner(t *testing.T) {
	root := filepath.Join("..", "..")
	fset := token.NewFileSet()
	files := 0
	for _, dir := range []string{"cmd", "internal"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".") {
					return filepath.SkipDir
				}
				return nil
			}
			if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			rel = filepath.ToSlash(rel)
			f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
			if err != nil {
				t.Errorf("%s: %v", rel, err)
				return nil
			}
			files++
			for _, v := range ownerViolations(fset, rel, f) {
				t.Error(v)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if files == 0 {
		t.Fatal("no Go file found: the test checks nothing (was the module moved?)")
	}
}

// ownerViolations describes every place in f (at rel, relative to the
// module) that writes what another folder owns.
func ownerViolations(fset *token.FileSet, rel string, f *ast.File) []string {
	var out []string
	dir := filepath.ToSlash(filepath.Dir(rel))
	for _, r := range ownedRules {
		if dir == r.owner || strings.HasPrefix(dir, r.owner+"/") {
			continue
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if n != nil && r.found(n) {
				out = append(out, fset.Position(n.Pos()).String()+" writes "+r.what+", which "+r.owner+" owns: "+r.fix)
			}
			return true
		})
	}
	return out
}

// TestOneOwnerFails shows each rule failing on what it forbids, and
// letting its owner through.
func TestOneOwnerFails(t *testing.T) {
	const src = `package x

func f(st any) (string, bool) {
	_, ok := st.(store.ChangeCounter)
	_ = "/srv belongs to uid 0"
	return "Maximum tunnel duration of 60 seconds reached", ok
}
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "x.go", src, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		rel  string
		want int
	}{
		{"internal/server/frontdoor/x.go", len(ownedRules)},
		{"internal/store/x.go", len(ownedRules) - 1},
		{"internal/wire/tunnelproto/x.go", len(ownedRules) - 1},
		{"internal/util/ownerhint/x.go", len(ownedRules) - 1},
	}
	for _, tt := range tests {
		if got := ownerViolations(fset, tt.rel, f); len(got) != tt.want {
			t.Errorf("%s: %d violations, want %d: %q", tt.rel, len(got), tt.want, got)
		}
	}
}
