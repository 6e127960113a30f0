// Package posternbin gives benchmarks and end-to-end tests the postern
// binary as a user runs it: $POSTERN_BIN when set, else one built once per
// test process, static as the release builds it (scripts/release.sh), and
// an environment free of the developer's own AWS settings.
package posternbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/postern/postern/internal/testutil/syncbuf"
)

var (
	once     sync.Once
	dir      string
	path     string
	buildErr error
)

// Path returns the postern binary, building it on first use.
func Path(tb testing.TB) string {
	tb.Helper()
	once.Do(func() {
		if p := os.Getenv("POSTERN_BIN"); p != "" {
			path, buildErr = filepath.Abs(p)
			return
		}
		dir, buildErr = os.MkdirTemp("", "postern-bin")
		if buildErr != nil {
			return
		}
		path = filepath.Join(dir, "postern")
		// Static: a dynamically linked binary spends ~1 ms more in every exec.
		build := exec.Command("go", "build", "-o", path, "github.com/postern/postern/cmd/postern")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("building postern: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return path
}

// Run is a TestMain body: it drops AWS_* variables (a developer's own
// settings must not reach the measured processes), runs the tests and
// removes the built binary.
func Run(m *testing.M) int {
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "AWS_") {
			os.Unsetenv(k)
		}
	}
	code := m.Run()
	if dir != "" {
		os.RemoveAll(dir)
	}
	return code
}

// Proc is a running postern process started by Start.
type Proc struct {
	Cmd  *exec.Cmd
	Out  *syncbuf.Buffer // stdout and stderr
	Done chan struct{}   // closed once the process has exited
}

// Start starts the postern binary with args and env; at cleanup it gets
// SIGTERM, then SIGKILL after 20 s.
func Start(tb testing.TB, env []string, args ...string) *Proc {
	tb.Helper()
	p := &Proc{Cmd: exec.Command(Path(tb), args...), Out: &syncbuf.Buffer{}, Done: make(chan struct{})}
	p.Cmd.Env = env
	p.Cmd.Stdout, p.Cmd.Stderr = p.Out, p.Out
	if err := p.Cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() { _ = p.Cmd.Wait(); close(p.Done) }()
	tb.Cleanup(func() {
		_ = p.Cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.Done:
		case <-time.After(20 * time.Second):
			_ = p.Cmd.Process.Kill()
			<-p.Done
		}
	})
	return p
}

// WaitFor polls cond every 50 ms until it holds; after timeout, or when p
// exits, it fails tb.
func (p *Proc) WaitFor(tb testing.TB, what string, timeout time.Duration, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		select {
		case <-p.Done:
			tb.Fatalf("%s: the process exited:\n%s", what, p.Out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			tb.Fatalf("waited %v for %s:\n%s", timeout, what, p.Out.String())
		}
	}
}
