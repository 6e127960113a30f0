package posternbin

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) { os.Exit(Run(m)) }

// TestStart runs the real binary through Start and waits on its output
// with WaitFor: `postern version` prints its version and exits.
func TestStart(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "version", args: []string{"version"}, want: "postern"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Start(t, os.Environ(), tt.args...)
			select {
			case <-p.Done:
			case <-time.After(60 * time.Second):
				t.Fatalf("postern %v did not exit:\n%s", tt.args, p.Out.String())
			}
			if !strings.Contains(strings.ToLower(p.Out.String()), tt.want) {
				t.Fatalf("output %q does not contain %q", p.Out.String(), tt.want)
			}
			if code := p.Cmd.ProcessState.ExitCode(); code != 0 {
				t.Fatalf("exit code %d:\n%s", code, p.Out.String())
			}
		})
	}
}

// TestWaitFor sees a condition that holds while the process runs.
func TestWaitFor(t *testing.T) {
	p := Start(t, os.Environ(), "server", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0")
	p.WaitFor(t, "the server to start", 60*time.Second, func() bool {
		return strings.Contains(p.Out.String(), "Postern is running on")
	})
}
