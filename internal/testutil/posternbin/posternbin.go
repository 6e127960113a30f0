// Package posternbin gives benchmarks and end-to-end tests the postern
// binary as a user runs it: $POSTERN_BIN when set, else one built once per
// test process, static as the release builds it (scripts/release.sh), and
// an environment free of the developer's own AWS settings. ClientPath is
// the same for the client build (-tags postern_client, make client), the
// one workstations run.
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

// ClientTag is the build tag of the client build.
const ClientTag = "postern_client"

// binary is one build of postern, built at most once per test process.
type binary struct {
	once     sync.Once
	path     string
	buildErr error
}

var (
	dirOnce sync.Once
	dir     string // the built binaries' directory, removed by Run
	dirErr  error
	full    binary
	client  binary
)

// Path returns the postern binary ($POSTERN_BIN), building it on first use.
func Path(tb testing.TB) string {
	tb.Helper()
	return full.get(tb, "POSTERN_BIN", "postern")
}

// ClientPath returns the client build of postern ($POSTERN_CLIENT_BIN;
// -tags postern_client: no server, migrate or endpoint-agent), building
// it on first use.
func ClientPath(tb testing.TB) string {
	tb.Helper()
	return client.get(tb, "POSTERN_CLIENT_BIN", "postern-client", "-tags", ClientTag)
}

// get returns $envVar when set, else builds the binary named name in the
// package's temporary directory with the go build flags given.
func (b *binary) get(tb testing.TB, envVar, name string, flags ...string) string {
	tb.Helper()
	b.once.Do(func() {
		if p := os.Getenv(envVar); p != "" {
			b.path, b.buildErr = filepath.Abs(p)
			return
		}
		dirOnce.Do(func() { dir, dirErr = os.MkdirTemp("", "postern-bin") })
		if dirErr != nil {
			b.buildErr = dirErr
			return
		}
		b.path = filepath.Join(dir, name)
		// Static: a dynamically linked binary spends ~1 ms more in every exec.
		args := append(append([]string{"build"}, flags...), "-o", b.path, "github.com/postern/postern/cmd/postern")
		build := exec.Command("go", args...)
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			b.buildErr = fmt.Errorf("building %s: %v\n%s", name, err, out)
		}
	})
	if b.buildErr != nil {
		tb.Fatal(b.buildErr)
	}
	return b.path
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
	return StartBinary(tb, Path(tb), env, args...)
}

// StartBinary is Start of the binary at bin (ClientPath's, say).
func StartBinary(tb testing.TB, bin string, env []string, args ...string) *Proc {
	tb.Helper()
	p := &Proc{Cmd: exec.Command(bin, args...), Out: &syncbuf.Buffer{}, Done: make(chan struct{})}
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
