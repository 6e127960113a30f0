// Command gendocs writes the help text of the operations Postern serves
// (internal/cli/served) from the AWS SDK for Go v2's doc comments: each
// operation's client method comment and its input structure's member
// comments, as plain text, one line per paragraph. The SDK carries no
// documentation at run time, so the CLI embeds the file this writes.
//
// Run by `go generate ./internal/cli/` (see docs.go there); it reads the
// SDK's sources from the module cache through `go list`.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"go/ast"
	"go/doc/comment"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/postern/postern/internal/cli/served"
)

// sdkPackages maps the AWS CLI's service command to the SDK package.
var sdkPackages = map[string]string{
	"iam":                  "github.com/aws/aws-sdk-go-v2/service/iam",
	"sts":                  "github.com/aws/aws-sdk-go-v2/service/sts",
	"ec2":                  "github.com/aws/aws-sdk-go-v2/service/ec2",
	"ec2-instance-connect": "github.com/aws/aws-sdk-go-v2/service/ec2instanceconnect",
	"cloudtrail":           "github.com/aws/aws-sdk-go-v2/service/cloudtrail",
}

// opDoc is one operation's help: its description and its input members'.
type opDoc struct {
	Doc    string            `json:"doc"`
	Params map[string]string `json:"params,omitempty"`
}

func main() {
	out := flag.String("o", "docs.json", "file to write")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
}

func run(out string) error {
	all := map[string]map[string]opDoc{}
	services := make([]string, 0, len(served.Operations))
	for s := range served.Operations {
		services = append(services, s)
	}
	slices.Sort(services)
	for _, svc := range services {
		pkg, ok := sdkPackages[svc]
		if !ok {
			return fmt.Errorf("service %s: no SDK package known", svc)
		}
		dir, err := packageDir(pkg)
		if err != nil {
			return err
		}
		docs := map[string]opDoc{}
		for _, op := range served.Operations[svc] {
			d, ok, err := operationDoc(filepath.Join(dir, "api_op_"+op+".go"), op)
			if err != nil {
				return fmt.Errorf("%s %s: %w", svc, op, err)
			}
			if ok { // not an SDK operation: Postern's own, documented in its command
				docs[op] = d
			}
		}
		all[svc] = docs
	}
	b, err := json.MarshalIndent(all, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(out, append(b, '\n'), 0o644)
}

// packageDir finds an imported package's source directory.
func packageDir(pkg string) (string, error) {
	var stderr bytes.Buffer
	cmd := exec.Command("go", "list", "-f", "{{.Dir}}", pkg)
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go list %s: %w: %s", pkg, err, stderr.String())
	}
	return strings.TrimSpace(string(b)), nil
}

// operationDoc reads op's client method comment and its input members'
// comments from the SDK file that defines them; ok is false when there is
// no such file.
func operationDoc(path, op string) (opDoc, bool, error) {
	if _, err := os.Stat(path); os.IsNotExist(err) {
		return opDoc{}, false, nil
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
	if err != nil {
		return opDoc{}, false, err
	}
	d := opDoc{Params: map[string]string{}}
	for _, decl := range f.Decls {
		switch decl := decl.(type) {
		case *ast.FuncDecl:
			if decl.Name.Name == op && decl.Recv != nil && decl.Doc != nil {
				d.Doc = plain(decl.Doc.Text())
			}
		case *ast.GenDecl:
			for _, spec := range decl.Specs {
				ts, ok := spec.(*ast.TypeSpec)
				if !ok || ts.Name.Name != op+"Input" {
					continue
				}
				st, ok := ts.Type.(*ast.StructType)
				if !ok {
					continue
				}
				for _, fl := range st.Fields.List {
					if fl.Doc == nil {
						continue
					}
					for _, n := range fl.Names {
						if n.IsExported() {
							d.Params[n.Name] = plain(fl.Doc.Text())
						}
					}
				}
			}
		}
	}
	if d.Doc == "" {
		return opDoc{}, false, fmt.Errorf("%s: no doc comment on the %s method", path, op)
	}
	return d, true, nil
}

// plain renders a doc comment as text with one line per paragraph (the
// CLI wraps it to the terminal), link definitions kept at the end.
func plain(text string) string {
	var p comment.Parser
	pr := comment.Printer{TextWidth: -1}
	return strings.TrimSpace(string(pr.Text(p.Parse(text))))
}
