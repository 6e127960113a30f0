// Package ci tells tests whether they run in CI, where a missing tool or
// privilege is a failure (CI installs and grants everything the suite
// needs), not a reason to skip.
package ci

import (
	"os"
	"testing"
)

// Strict reports whether $CI says the tests run in CI: set, and not
// "false" or "0".
func Strict() bool {
	v := os.Getenv("CI")
	return v != "" && v != "false" && v != "0"
}

// Need fails the test under CI and skips it elsewhere, with the reason.
func Need(t testing.TB, format string, args ...any) {
	t.Helper()
	if Strict() {
		t.Fatalf(format+" (CI runs this test: scripts/test-deps.sh installs what it needs)", args...)
	}
	t.Skipf(format, args...)
}
