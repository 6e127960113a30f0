package e2e

import (
	"testing"

	"github.com/postern/postern/internal/testutil/hostenv"
)

// TestHostileHost re-runs the tests that start foreign clients (the AWS
// CLI, botocore) and ssh on a hostile host: proxies, POSTERN_SSH,
// NODE_OPTIONS, an unknown locale, the umask 077 and a hostile ~/.aws.
// Without hostenv.Isolate (before TestMain builds postern) each failed:
// botocore's "ProxyConnectionError" for 127.0.0.1, `postern ssh` exiting 1
// (POSTERN_SSH=/bin/false).
func TestHostileHost(t *testing.T) {
	hostenv.RunHostile(t, "^(TestKeylessSSH|TestBotocore|TestAWSCLI)$")
}
