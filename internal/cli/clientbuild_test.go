//go:build postern_client

package cli_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/postern/postern/internal/cli"
)

// TestClientBuildLeavesOutServerCommands (client build: go test -tags
// postern_client): `postern server`, `migrate` and `endpoint-agent`, with
// or without flags and --help, fail with a usage error (exit 252) that
// names the full build and run nothing; `postern --help` does not list
// them; the other commands are all there.
func TestClientBuildLeavesOutServerCommands(t *testing.T) {
	if !cli.ClientBuild {
		t.Fatal("built without -tags postern_client, yet this file is in the build")
	}
	tests := []struct {
		name string
		args []string
	}{
		{"server", []string{"server"}},
		{"server with flags", []string{"server", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0"}},
		{"server --help", []string{"server", "--help"}},
		{"global option first", []string{"--region", "us-east-1", "server"}},
		{"migrate", []string{"migrate", "--database", "sqlite"}},
		{"endpoint-agent", []string{"endpoint-agent", "--join-token", "PJT1.x"}},
		{"help server", []string{"help", "server"}},
		{"help migrate", []string{"help", "migrate"}},
		{"help endpoint-agent", []string{"help", "endpoint-agent"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := cli.Main(context.Background(), tt.args, strings.NewReader(""), &stdout, &stderr)
			if code != cli.ExitUsage {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, cli.ExitUsage, stderr.String())
			}
			cmd := tt.args[0]
			switch cmd {
			case "--region":
				cmd = tt.args[2]
			case "help":
				cmd = tt.args[1]
			}
			for _, want := range []string{"`postern " + cmd + "` is not in this build", "client build", "full build of postern"} {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
				}
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout: %q", stdout.String())
			}
		})
	}

	var stdout, stderr bytes.Buffer
	if code := cli.Main(context.Background(), []string{"--help"}, strings.NewReader(""), &stdout, &stderr); code != cli.ExitOK {
		t.Fatalf("--help: exit %d: %s", code, stderr.String())
	}
	for _, line := range strings.Split(stdout.String(), "\n") {
		for _, gone := range []string{"server", "migrate", "endpoint-agent"} {
			if f := strings.Fields(line); len(f) > 0 && f[0] == gone {
				t.Errorf("--help lists %s: %q", gone, line)
			}
		}
	}
	for _, kept := range []string{"ec2-instance-connect", "ssh", "tunnel", "configure", "login", "apply", "instance", "version"} {
		if !strings.Contains(stdout.String(), "\n  "+kept+" ") {
			t.Errorf("--help lacks %s:\n%s", kept, stdout.String())
		}
	}
}
