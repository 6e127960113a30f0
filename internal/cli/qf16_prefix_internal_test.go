//go:build !postern_client

package cli

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postern/postern/internal/agent"
	"github.com/postern/postern/internal/util/filelock"
)

// TestQF16ServerCommandErrorsNameThePackageOnce: the server-side commands'
// failures begin "postern COMMAND: " and then say what failed, without the
// package name the server and agent packages put before their errors.
// Before: "postern server: server: open database: the database … is in use
// by another Postern server" for a second server on one data directory,
// "postern server: server: listen on …" for a port in use, "postern
// endpoint-agent: agent: state directory: …".
func TestQF16ServerCommandErrorsNameThePackageOnce(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	notADir := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(notADir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string) // dir: a fresh data or state directory
		args  func(dir string) []string
		want  string
	}{
		{"a second server on one data directory", func(t *testing.T, dir string) {
			// What a running server holds (package sqlstore): its lock
			// on the database.
			abs, err := filepath.Abs(filepath.Join(dir, "postern.db"))
			if err != nil {
				t.Fatal(err)
			}
			unlock, err := filelock.Lock(abs + ".lock")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(unlock)
		}, func(dir string) []string {
			return []string{"server", "--data-dir", dir, "--listen", "127.0.0.1:0"}
		}, "postern server: open database: the database "},
		{"a server on a port in use", nil, func(dir string) []string {
			return []string{"server", "--data-dir", dir, "--listen", held.Addr().String()}
		}, "postern server: listen on " + held.Addr().String()},
		{"a server with an unknown database", nil, func(dir string) []string {
			return []string{"server", "--data-dir", dir, "--listen", "127.0.0.1:0", "--database", "mysql://x"}
		}, `postern server: database "mysql://x": want sqlite`},
		{"migrate with an unknown database", nil, func(dir string) []string {
			return []string{"migrate", "--data-dir", dir, "--database", "mysql://x"}
		}, `postern migrate: database "mysql://x": want sqlite`},
		{"an agent whose state directory cannot be made", nil, func(string) []string {
			return []string{"endpoint-agent", "--state-dir", filepath.Join(notADir, "state")}
		}, "postern endpoint-agent: state directory: mkdir "},
		{"an agent whose state directory is in use", func(t *testing.T, dir string) {
			unlock, err := agent.LockStateDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(unlock)
		}, func(dir string) []string {
			return []string{"endpoint-agent", "--state-dir", dir}
		}, "postern endpoint-agent: the state directory "},
		{"an agent given an unreadable join token", nil, func(dir string) []string {
			return []string{"endpoint-agent", "--state-dir", dir, "--join-token", "PJT1.not-a-token"}
		}, "postern endpoint-agent: join: the server refused this agent permanently (InvalidToken)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.setup != nil {
				tc.setup(t, dir)
			}
			var stdout, stderr bytes.Buffer
			code := Main(context.Background(), tc.args(dir), strings.NewReader(""), &stdout, &stderr)
			if code == 0 {
				t.Fatalf("exit 0; stderr:\n%s", stderr.String())
			}
			got := stderr.String()
			if !strings.Contains(got, tc.want) {
				t.Errorf("stderr:\n%s\nwant it to contain %q", got, tc.want)
			}
			for _, twice := range []string{"server: server:", "migrate: server:", "agent: agent:", "join: join"} {
				if strings.Contains(got, twice) {
					t.Errorf("stderr says %q:\n%s", twice, got)
				}
			}
		})
	}
}

// TestQF16TrimPackage: only a leading package name of the server-side
// commands' packages is dropped, and a join is named once.
func TestQF16TrimPackage(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"server: open database: x", "open database: x"},
		{"agent: read state: open s/agent.json: permission denied", "read state: open s/agent.json: permission denied"},
		{"config: tls.sans: bad", "config: tls.sans: bad"},
		{"the state directory d is in use", "the state directory d is in use"},
		{"open database: server: x", "open database: server: x"},
	} {
		if got := trimPackage(tc.in); got != tc.want {
			t.Errorf("trimPackage(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
