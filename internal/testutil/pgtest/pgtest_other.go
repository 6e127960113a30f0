//go:build !unix

package pgtest

import (
	"os"
	"testing"

	"github.com/postern/postern/internal/testutil/ci"
)

// Main runs the tests. Without Unix sockets and credentials there is no
// PostgreSQL server to stop.
func Main(m *testing.M) { os.Exit(Run(m)) }

// Run runs the tests and returns the exit code.
func Run(m *testing.M) int { return m.Run() }

// Start skips the test: pgtest starts PostgreSQL on Unix-like systems only.
func Start(t testing.TB) string {
	t.Helper()
	if ci.Strict() {
		t.Fatal("pgtest: PostgreSQL tests need a Unix-like system")
	}
	t.Skip("pgtest: PostgreSQL tests need a Unix-like system")
	return ""
}
