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
	"testing"
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
