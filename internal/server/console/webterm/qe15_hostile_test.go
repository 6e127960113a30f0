package webterm_test

import (
	"testing"

	"github.com/postern/postern/internal/testutil/hostenv"
)

// TestHostileHost re-runs the terminal's tests on a hostile host. Without
// TestMain's hostenv.Isolate, the umask 077 left the helper config
// unreadable for the sshd's AuthorizedKeysCommandUser ("open
// /run/sshdtest-…/instance.json: permission denied") and every terminal
// failed to connect.
func TestHostileHost(t *testing.T) {
	hostenv.RunHostile(t, "^(TestTerminal|TestHostKeyPinnedPerPort)$")
}
