package cli_test

import (
	"testing"

	"github.com/postern/postern/internal/testutil/hostenv"
)

// TestHostileHost re-runs tests of the CLI that read the AWS variables and
// ~/.aws (the CLI runs in this process) on a hostile host: a profile,
// region, endpoint, CA bundle (CI's machine sets AWS_CA_BUNDLE) and FIPS
// switch of the developer's, proxies, POSTERN_SSH. TestMain's
// hostenv.Isolate keeps them out; without it every one of these failed
// ("FIPS and custom endpoint are not supported", "open
// /nonexistent/...ca.pem").
func TestHostileHost(t *testing.T) {
	hostenv.RunHostile(t, "^(TestErrorMessages|TestConfigureServer|TestUserAgentHasVersion|TestTunnelGoesOverLookupConnection|TestRegionHintTyped)$")
}
