package deptest

import (
	"bytes"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// clientTag is the build tag of the client build (make client): the
// postern command without its server-only commands.
const clientTag = "postern_client"

// serverOnlyDeps are import-path prefixes the client build must not link:
// the server and its store, the endpoint agent, SQLite, PostgreSQL's
// driver and the Prometheus client. Each is linked by the full build
// (checked below), so the rule cannot hold by accident.
var serverOnlyDeps = []string{
	module + "/internal/server",
	module + "/internal/store",
	module + "/internal/agent",
	"modernc.org/sqlite",
	"modernc.org/libc",
	"github.com/jackc/pgx",
	"github.com/prometheus/",
}

// deps lists every package `go list -deps` finds for the postern command
// with the given build tags ("" for none).
func deps(t *testing.T, tags string) []string {
	t.Helper()
	args := []string{"list", "-deps"}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	cmd := exec.Command("go", append(args, module+"/cmd/postern")...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %v: %v\n%s", args, err, stderr.Bytes())
	}
	return strings.Fields(string(out))
}

// TestClientBuildLinksNoServer: the client build of cmd/postern (-tags
// postern_client) links none of serverOnlyDeps, each of which the full
// build links.
func TestClientBuildLinksNoServer(t *testing.T) {
	full, client := deps(t, ""), deps(t, clientTag)
	has := func(pkgs []string, prefix string) string {
		for _, p := range pkgs {
			if base := strings.TrimSuffix(prefix, "/"); p == base || strings.HasPrefix(p, base+"/") {
				return p
			}
		}
		return ""
	}
	for _, prefix := range serverOnlyDeps {
		if has(full, prefix) == "" {
			t.Errorf("the full build does not link %s: the rule would hold by accident (update serverOnlyDeps)", prefix)
		}
		if p := has(client, prefix); p != "" {
			t.Errorf("the client build (-tags %s) links %s: move what imports it behind //go:build !%s (see internal/cli/servercmds.go)", clientTag, p, clientTag)
		}
	}
	if !slices.Contains(client, module+"/internal/client") {
		t.Errorf("the client build does not link internal/client: is it still the postern command?")
	}
}
