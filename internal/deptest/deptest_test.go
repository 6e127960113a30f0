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
//	(e) internal/server/... imports no other role's program: not the
//	    agent program (internal/agent itself), the instance helper, the
//	    CLI or the client. The server's embedded agent dials through
//	    internal/agent/targetdial and internal/agent/egress, and the key
//	    fingerprints both sides agree on are in internal/wire/agentkey.
//	    One import is allowed: the console's browser terminal
//	    (internal/server/console/webterm) is a client of its own server,
//	    so it resolves, presigns and dials with internal/client.
//	(f) code that ships (every package outside internal/testutil,
//	    internal/e2e, internal/bench and internal/deptest) imports no test
//	    helper.
//	(g) internal/util/..., plumbing every role uses, imports nothing of
//	    this module outside internal/util.
//	(h) only the CLI imports the server's composition root
//	    (internal/server itself): no shipped package below it or beside
//	    it uses the root as a library.
type rule struct {
	name string
	from []string
	// forbidden says whether p may not be reached from the rule's
	// packages, and why.
	forbidden func(p *pkg) (bool, string)
	// allowed lists the imports (from → to) the rule lets through, each
	// with its reason; the walk goes on through them.
	allowed []edge
}

// edge is one import: package from imports package to.
type edge struct{ from, to, why string }

// shipped are the folders of code that ships in the binary (rule f).
var shipped = []string{
	"cmd/...", "internal/agent/...", "internal/cli/...", "internal/client/...",
	"internal/instance/...", "internal/server/...", "internal/store/...",
	"internal/util/...", "internal/wire/...",
}

var rules = []rule{
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
		name:      "(e) the server imports no agent program, instance helper, CLI or client",
		from:      []string{"internal/server/..."},
		forbidden: under("internal/agent", "internal/instance/...", "internal/cli/...", "internal/client/..."),
		allowed: []edge{{
			from: "internal/server/console/webterm", to: "internal/client",
			why: "the browser terminal is a client of its own server: it opens tunnels with the client's code",
		}},
	},
	{
		name:      "(f) code that ships imports no test helper",
		from:      shipped,
		forbidden: under("internal/testutil/...", "internal/e2e/...", "internal/bench/...", "internal/deptest"),
	},
	{
		name: "(g) util imports nothing of the module outside util",
		from: []string{"internal/util/..."},
		forbidden: func(p *pkg) (bool, string) {
			if match("internal/util/...", p.Path) {
				return false, ""
			}
			return true, "not under internal/util"
		},
	},
	{
		name: "(h) only the CLI imports the composition root",
		from: []string{
			"internal/agent/...", "internal/client/...", "internal/instance/...", "internal/server/...",
			"internal/store/...", "internal/util/...", "internal/wire/...",
		},
		forbidden: under("internal/server"),
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
			for _, e := range r.allowed {
				if p := pkgs[e.from]; p == nil || !slices.Contains(p.Imports, e.to) {
					t.Errorf("the rule allows %s to import %s, but it does not: remove the exception", e.from, e.to)
				}
			}
			for _, src := range sources {
				for _, v := range violations(pkgs, src, r) {
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
// shortest import chain, every package it reaches that r forbids. It does
// not walk on through a forbidden package; it walks on through an import
// r allows.
func violations(pkgs map[string]*pkg, src string, r rule) []string {
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
			if bad, why := r.forbidden(q); bad && !r.allows(cur, imp) {
				out = append(out, src+" must not import "+imp+" ("+why+"): "+chain(parent, imp))
				continue
			}
			queue = append(queue, imp)
		}
	}
	return out
}

// allows says whether r lets package from import package to.
func (r rule) allows(from, to string) bool {
	return slices.ContainsFunc(r.allowed, func(e edge) bool { return e.from == from && e.to == to })
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

// TestRulesCatchViolations shows that every rule fails on the import it
// forbids, directly and through a chain, and that an allowed import lets
// only itself through: each case adds one import to a small module graph
// that otherwise keeps the rules.
func TestRulesCatchViolations(t *testing.T) {
	base := map[string][]string{
		"internal/agent":                  {"internal/agent/egress", "internal/wire/linkmux"},
		"internal/agent/egress":           nil,
		"internal/client":                 {"internal/wire/wsframe"},
		"internal/instance/helper":        {"internal/wire/sshkeys"},
		"internal/server/policy":          {"internal/wire/jsonkeys"},
		"internal/server/relay":           {"internal/agent/egress", "internal/store"},
		"internal/server/console/webterm": {"internal/client"},
		"internal/store":                  nil,
		"internal/store/sqlstore":         {"internal/store"},
		"internal/testutil/pgtest":        nil,
		"internal/util/bufpool":           nil,
		"internal/wire/jsonkeys":          nil,
		"internal/wire/linkmux":           {"internal/wire/tlsbatch"},
		"internal/wire/sigv4":             nil,
		"internal/wire/sshkeys":           nil,
		"internal/wire/tlsbatch":          nil,
		"internal/wire/wsframe":           nil,
	}
	tests := []struct {
		rule     string // the rule's name starts with this
		src, imp string // the import added to base
		want     string // a violation of src names this chain; "" for none
	}{
		{"(a)", "internal/agent", "internal/store/sqlstore",
			"internal/agent imports internal/store/sqlstore"},
		{"(a)", "internal/agent/egress", "internal/server/relay",
			"internal/agent/egress imports internal/server/relay"},
		{"(a)", "internal/wire/linkmux", "internal/store",
			"internal/agent imports internal/wire/linkmux imports internal/store"},
		{"(a)", "internal/client", "internal/server/relay",
			"internal/client imports internal/server/relay"},
		{"(a)", "internal/instance/helper", "internal/store",
			"internal/instance/helper imports internal/store"},
		{"(b)", "internal/server/policy", "internal/wire/linkmux",
			"internal/server/policy imports internal/wire/linkmux"},
		{"(b)", "internal/wire/sigv4", "internal/util/bufpool",
			"internal/wire/sigv4 imports internal/util/bufpool"},
		{"(c)", "internal/store/sqlstore", "internal/wire/sshkeys",
			"internal/store/sqlstore imports internal/wire/sshkeys"},
		{"(d)", "internal/wire/tlsbatch", "internal/server/policy",
			"internal/wire/linkmux imports internal/wire/tlsbatch imports internal/server/policy"},
		{"(e)", "internal/server/relay", "internal/agent",
			"internal/server/relay imports internal/agent"},
		{"(e)", "internal/server/relay", "internal/client",
			"internal/server/relay imports internal/client"},
		{"(e)", "internal/server/policy", "internal/instance/helper",
			"internal/server/policy imports internal/instance/helper"},
		{"(e)", "internal/server/console/webterm", "internal/util/bufpool", ""}, // only the allowed import to the client
		{"(e)", "internal/client", "internal/agent",
			"internal/server/console/webterm imports internal/client imports internal/agent"},
		{"(f)", "internal/server/relay", "internal/testutil/pgtest",
			"internal/server/relay imports internal/testutil/pgtest"},
		{"(g)", "internal/util/bufpool", "internal/wire/tlsbatch",
			"internal/util/bufpool imports internal/wire/tlsbatch"},
		{"(h)", "internal/server/console/webterm", "internal/server",
			"internal/server/console/webterm imports internal/server"},
		{"(h)", "internal/server/relay", "internal/server/policy", ""}, // a sibling, not the root
	}
	for _, tt := range tests {
		t.Run(tt.rule+" "+tt.src+" imports "+tt.imp, func(t *testing.T) {
			pkgs := map[string]*pkg{}
			for path, imports := range base {
				pkgs[path] = &pkg{Path: path, Imports: slices.Clone(imports)}
			}
			pkgs[tt.src].Imports = append(pkgs[tt.src].Imports, tt.imp)
			i := slices.IndexFunc(rules, func(r rule) bool { return strings.HasPrefix(r.name, tt.rule) })
			if i < 0 {
				t.Fatalf("no rule %s", tt.rule)
			}
			r := rules[i]
			var got []string
			for path := range pkgs {
				if slices.ContainsFunc(r.from, func(pat string) bool { return match(pat, path) }) {
					got = append(got, violations(pkgs, path, r)...)
				}
			}
			if tt.want == "" {
				if len(got) > 0 {
					t.Errorf("rule %s: violations %q, want none", r.name, got)
				}
				return
			}
			if !slices.ContainsFunc(got, func(v string) bool { return strings.HasSuffix(v, ": "+tt.want) }) {
				t.Errorf("rule %s: violations %q, want one ending %q", r.name, got, tt.want)
			}
		})
	}
}
