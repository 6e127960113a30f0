//go:build linux

package main

import (
	"debug/elf"
	"debug/gosym"
	"os"
	"testing"

	"github.com/postern/postern/internal/testutil/posternbin"
)

func TestMain(m *testing.M) { os.Exit(posternbin.Run(m)) }

// TestBuildsLinkOnlyServedOperations: both builds link the SDK client
// methods of the operations Postern serves and not the others (ec2's
// client alone has ~750), nor text/template's execution: a reachable
// reflect method lookup by a name known only at run time (the CLI's, or a
// template's) makes the linker keep every exported method of every
// reachable type, which made the client build 72 MB instead of 24 (the
// full build 96 instead of 47) and cost every process (ssh's
// ProxyCommand among them) ~10 % of its start (internal/cli
// servedOperations, versionFirst).
func TestBuildsLinkOnlyServedOperations(t *testing.T) {
	for _, b := range []struct {
		name string
		path func(testing.TB) string
	}{{"client", posternbin.ClientPath}, {"full", posternbin.Path}} {
		t.Run(b.name, func(t *testing.T) { linksOnlyServedOperations(t, b.path(t)) })
	}
}

// linksOnlyServedOperations checks the functions bin links, by its
// function table (.gopclntab: present in a stripped binary too).
func linksOnlyServedOperations(t *testing.T, bin string) {
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pcln, text := f.Section(".gopclntab"), f.Section(".text")
	if pcln == nil || text == nil {
		t.Fatalf("%s: no .gopclntab or .text section", bin)
	}
	data, err := pcln.Data()
	if err != nil {
		t.Fatal(err)
	}
	tab, err := gosym.NewTable(nil, gosym.NewLineTable(data, text.Addr))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		fn     string
		linked bool
	}{
		{"github.com/aws/aws-sdk-go-v2/service/ec2.(*Client).DescribeInstances", true},
		{"github.com/aws/aws-sdk-go-v2/service/iam.(*Client).CreateUser", true},
		{"github.com/aws/aws-sdk-go-v2/service/ec2.(*Client).RunInstances", false},
		{"github.com/aws/aws-sdk-go-v2/service/ec2.(*Client).DescribeImages", false},
		{"github.com/aws/aws-sdk-go-v2/service/iam.(*Client).CreateServiceLinkedRole", false},
		{"text/template.(*state).evalField", false},
	} {
		if got := tab.LookupFunc(c.fn) != nil; got != c.linked {
			t.Errorf("%s: linked %v, want %v", c.fn, got, c.linked)
		}
	}
}
