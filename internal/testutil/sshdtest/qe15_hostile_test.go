package sshdtest_test

import (
	"testing"

	"github.com/postern/postern/internal/testutil/hostenv"
)

// TestHostileHost re-runs the ssh client tests on a hostile host. Without
// TestMain's hostenv.Isolate, TestProxyCommand failed: ssh's shell for the
// ProxyCommand printed "bash: warning: setlocale: LC_ALL: cannot change
// locale" into the output it compares.
func TestHostileHost(t *testing.T) {
	hostenv.RunHostile(t, "^(TestProxyCommand|TestDirect|TestSCPRoundTrip|TestAuthorizedKeysCommand)$")
}
