package ec2api

import (
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/postern/postern/internal/testutil/ci"
)

// debianAWS is where Debian's awscli package puts the AWS CLI: what
// scripts/test-deps.sh installs, so what CI runs. A developer's own CLI
// (pyenv's v1, AWS's v2 installer) is usually earlier on PATH; the test
// picks Debian's deliberately, so that it sees what CI sees.
const debianAWS = "/usr/bin/aws"

// awsCLIVar names another AWS CLI to run instead of Debian's, e.g.
// POSTERN_TEST_AWS_CLI=$(command -v aws) for the one first on PATH.
const awsCLIVar = "POSTERN_TEST_AWS_CLI"

var awsVersion = regexp.MustCompile(`aws-cli/\d+\.\d+\.\d+`)

// awsCLI is the real AWS CLI a test drives.
type awsCLI struct {
	bin     string
	version string // "aws-cli/2.9.19"
	env     []string
}

// findAWSCLI returns the AWS CLI the test runs, with env as its
// environment: $POSTERN_TEST_AWS_CLI, else Debian's, else the first on
// PATH. It skips t where there is none or it does not run (fails it
// under CI, which installs Debian's).
func findAWSCLI(t *testing.T, env []string) *awsCLI {
	t.Helper()
	bin := os.Getenv(awsCLIVar)
	if bin == "" {
		if fi, err := os.Stat(debianAWS); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			bin = debianAWS
		} else if bin, err = exec.LookPath("aws"); err != nil {
			ci.Need(t, "the AWS CLI (Debian package awscli) is not installed")
		}
	}
	cmd := exec.Command(bin, "--version")
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	version := awsVersion.FindString(string(out))
	if err != nil || version == "" {
		ci.Need(t, "the AWS CLI does not run here: %s --version: %v %s", bin, err, bytes.TrimSpace(out))
	}
	t.Logf("the AWS CLI: %s, %s", bin, version)
	return &awsCLI{bin: bin, version: version, env: env}
}

// needOperation skips t, naming the version, where c's model lacks
// `aws service operation` (Debian 12's 2.9.19 has no EC2 Instance Connect
// Endpoint operations, June 2023). It asks c for the operation's input
// skeleton: no call, no credentials.
func (c *awsCLI) needOperation(t *testing.T, service, operation string) {
	t.Helper()
	cmd := exec.Command(c.bin, service, operation, "--generate-cli-skeleton")
	cmd.Env = c.env
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	switch err := cmd.Run(); {
	case err == nil:
	case strings.Contains(e.String(), "Invalid choice"):
		t.Skipf("%s (%s) has no `aws %s %s` in its model", c.version, c.bin, service, operation)
	default:
		t.Fatalf("aws %s %s --generate-cli-skeleton: %v\n%s%s", service, operation, err, o.String(), e.String())
	}
}
