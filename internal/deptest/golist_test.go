package deptest

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// module is this module's path; every rule is written relative to it.
const module = "github.com/postern/postern"

// pkg is one non-test package of the module as `go list` reports it.
type pkg struct {
	Path    string   // import path without the module prefix, e.g. "internal/agent"
	Name    string   // package name
	Doc     string   // package doc synopsis
	GoFiles int      // number of non-test Go files
	Imports []string // this module's packages it imports directly (no test imports)
}

// listModule runs `go list` over the whole module and returns its
// packages by path (relative to the module).
func listModule(t *testing.T) map[string]*pkg {
	t.Helper()
	const sep = "\x1f"
	format := strings.Join([]string{"{{.ImportPath}}", "{{.Name}}", "{{len .GoFiles}}", `{{join .Imports " "}}`, "{{.Doc}}"}, sep)
	cmd := exec.Command("go", "list", "-e", "-f", format, module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	pkgs := map[string]*pkg{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), sep, 5)
		if len(f) != 5 {
			t.Fatalf("go list: unexpected line %q", sc.Text())
		}
		p := &pkg{Path: rel(f[0]), Name: f[1], Doc: f[4]}
		if f[2] != "0" {
			p.GoFiles = 1 // only "any or none" matters
		}
		for imp := range strings.FieldsSeq(f[3]) {
			if imp == module || strings.HasPrefix(imp, module+"/") {
				p.Imports = append(p.Imports, rel(imp))
			}
		}
		pkgs[p.Path] = p
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(pkgs) == 0 {
		t.Fatal("go list found no packages")
	}
	return pkgs
}

// rel strips the module prefix from an import path.
func rel(importPath string) string {
	if importPath == module {
		return "."
	}
	return strings.TrimPrefix(importPath, module+"/")
}
