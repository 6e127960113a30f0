package cli_test

import (
	"context"
	"os"
	"testing"

	"github.com/postern/postern/internal/cli"
	"github.com/postern/postern/internal/testutil/hostenv"
)

// asPostern makes this test binary run as the postern program when it is
// started with the variable set: the profile's credential_process (which
// `postern login --configure` writes with this program's path) then runs
// the CLI as an AWS SDK or the AWS CLI would run it.
const asPostern = "POSTERN_CLI_TEST_AS_POSTERN"

func TestMain(m *testing.M) {
	if os.Getenv(asPostern) == "1" {
		os.Exit(cli.Main(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	// The CLI reads AWS_*, POSTERN_* and ~/.aws itself (in this process):
	// a developer's or CI host's settings (AWS_CA_BUNDLE, a FIPS switch, a
	// profile) must not reach it. The child above keeps what its parent set.
	restore := hostenv.Isolate()
	code := m.Run()
	restore()
	os.Exit(code)
}
