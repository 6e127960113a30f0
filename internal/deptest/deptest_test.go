package deptest

import (
	"slices"
	"strings"
	"testing"
)

// The import rules. Paths are relative to the module; "dir/..." means dir
// and every package below it. Only non-test imports count (a test may
// start a server to talk to an agent), and every rule is transitive: a
// package may not reach a forbidden package through any chain of the
// module's packages.
//
//	(a) internal/agent/..., internal/instance/... and internal/client/...
//	    (code that runs on an endpoint's network, on an instance or on a
//	    user's machine) import no internal/server/... and no
//	    internal/store/... package.
//	(b) internal/server/policy and internal/wire/sigv4 stay pure: the only
//	    packages of this module they may reach are internal/wire/...
//	    packages that themselves import no package of this module
//	    (policy uses internal/wire/jsonkeys).
//	(c) internal/store/... imports no protocol or role package:
//	    nothing under internal/wire, internal/server, internal/agent,
//	    internal/instance, internal/client or internal/cli.
//	(d) internal/wire/..., shared by every role, imports no role or
//	    storage package: nothing under internal/server, internal/agent,
//	    internal/instance, internal/client, internal/store or internal/cli.
//	(e) internal/server/... does not import the agent program
//	    (internal/agent itself); the server's embedded agent dials through
//	    internal/agent/targetdial and internal/agent/egress, and the key
//	    fingerprints both sides agree on are in internal/wire/agentkey.
var rules = []struct {
	name string
	from []string
	// forbidden says whether p may not be reached from the rule's
	// packages, and why.
	forbidden func(p *pkg) (bool, string)
}{
	{
		name:      "(a) agent, instance helper and client import no server or storage package",
		from:      []string{"internal/agent/...", "internal/instance/...", "internal/client/..."},
		forbidden: under("internal/server/...", "internal/store/..."),
	},
	{
		name: "(b) policy and sigv4 reach only leaf internal/wire packages",
		from: []string{"internal/server/policy", "internal/wire/sigv4"},
		forbidden: func(p *pkg) (bool, string) {
			if !match("internal/wire/...", p.Path) {
				return true, "not an internal/wire package"
			}
			if len(p.Imports) > 0 {
				return true, "not a leaf: it imports " + strings.Join(p.Imports, ", ")
			}
			return false, ""
		},
	},
	{
		name:      "(c) storage imports no protocol or role package",
		from:      []string{"internal/store/..."},
		forbidden: under("internal/wire/...", "internal/server/...", "internal/agent/...", "internal/instance/...", "internal/client/...", "internal/cli/..."),
	},
	{
		name:      "(d) wire imports no role or storage package",
		from:      []string{"internal/wire/..."},
		forbidden: under("internal/server/...", "internal/agent/...", "internal/instance/...", "internal/client/...", "internal/store/...", "internal/cli/..."),
	},
	{
		name:      "(e) the server does not import the agent program",
		from:      []string{"internal/server/..."},
		forbidden: under("internal/agent"),
	},
}

// topLevel lists the folders a package under internal/ may live in: the
// layout the README's Layout section maps.
var topLevel = []string{
	"agent", "bench", "cli", "client", "deptest", "e2e", "instance",
	"server", "store", "testutil", "util", "wire",
}

func TestImportRules(t *testing.T) {
	pkgs := listModule(t)
	for _, r := range rules {
		t.Run(r.name, func(t *testing.T) {
			var sources []string
			for path := range pkgs {
				if slices.ContainsFunc(r.from, func(pat string) bool { return match(pat, path) }) {
					sources = append(sources, path)
				}
			}
			if len(sources) == 0 {
				t.Fatalf("no package matches %v: the rule checks nothing (was a folder renamed?)", r.from)
			}
			slices.Sort(sources)
			for _, src := range sources {
				for _, v := range violations(pkgs, src, r.forbidden) {
					t.Errorf("%s", v)
				}
			}
		})
	}
}

// TestTopLevelFolders keeps internal/ grouped by where code runs: no
// package sits outside the known folders.
func TestTopLevelFolders(t *testing.T) {
	for path := range listModule(t) {
		rest, ok := strings.CutPrefix(path, "internal/")
		if !ok {
			continue
		}
		top, _, _ := strings.Cut(rest, "/")
		if !slices.Contains(topLevel, top) {
			t.Errorf("package %s is outside the layout: put it under one of internal/{%s} (and update the README's Layout)", path, strings.Join(topLevel, ","))
		}
	}
}

// violations walks src's imports breadth first and describes, with the
// shortest import chain, every forbidden package it reaches. It does not
// walk on through a forbidden package.
func violations(pkgs map[string]*pkg, src string, forbidden func(*pkg) (bool, string)) []string {
	parent := map[string]string{src: ""}
	queue := []string{src}
	var out []string
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		p := pkgs[cur]
		if p == nil {
			continue
		}
		imports := slices.Clone(p.Imports)
		slices.Sort(imports)
		for _, imp := range imports {
			if _, seen := parent[imp]; seen {
				continue
			}
			parent[imp] = cur
			q := pkgs[imp]
			if q == nil {
				q = &pkg{Path: imp}
			}
			if bad, why := forbidden(q); bad {
				out = append(out, src+" must not import "+imp+" ("+why+"): "+chain(parent, imp))
				continue
			}
			queue = append(queue, imp)
		}
	}
	return out
}

// chain renders the import chain that led to path: "a imports b imports c".
func chain(parent map[string]string, path string) string {
	var rev []string
	for p := path; p != ""; p = parent[p] {
		rev = append(rev, p)
	}
	slices.Reverse(rev)
	return strings.Join(rev, " imports ")
}

// under returns a forbidden func that rejects packages matching any of
// the patterns.
func under(patterns ...string) func(*pkg) (bool, string) {
	return func(p *pkg) (bool, string) {
		for _, pat := range patterns {
			if match(pat, p.Path) {
				return true, "matches " + pat
			}
		}
		return false, ""
	}
}

// match reports whether path matches pattern: "dir/..." matches dir and
// everything below it; any other pattern matches only itself.
func match(pattern, path string) bool {
	if dir, ok := strings.CutSuffix(pattern, "/..."); ok {
		return path == dir || strings.HasPrefix(path, dir+"/")
	}
	return path == pattern
}

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, path string
		want          bool
	}{
		{"internal/store/...", "internal/store", true},
		{"internal/store/...", "internal/store/sqlstore", true},
		{"internal/store/...", "internal/storex", false},
		{"internal/agent", "internal/agent", true},
		{"internal/agent", "internal/agent/egress", false},
	}
	for _, tt := range tests {
		if got := match(tt.pattern, tt.path); got != tt.want {
			t.Errorf("match(%q, %q) = %v, want %v", tt.pattern, tt.path, got, tt.want)
		}
	}
}
