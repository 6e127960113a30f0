//go:build !postern_client

package cli_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postern/postern/internal/testutil/ci"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// awsBin is Debian's AWS CLI v2 (scripts/test-deps.sh).
const awsBin = "/usr/bin/aws"

// awsCLIBeside starts a server in the test's process for postern and
// /usr/bin/aws to ask side by side: the server, the environment to run
// aws with (cliEnv's credentials; the AWS CLI reads an empty AWS_PROFILE
// as the profile "", so only the variables cliEnv set to a value), and
// the options both take (region, endpoint, CA bundle).
func awsCLIBeside(t *testing.T) (e *tunneltest.Env, awsEnv, common []string) {
	t.Helper()
	if out, err := exec.Command(awsBin, "--version").CombinedOutput(); err != nil {
		ci.Need(t, "%s: %v: %s", awsBin, err, bytes.TrimSpace(out))
	}
	e = tunneltest.Start(t, tunneltest.Options{})
	cliEnv(t, e.Admin)
	for _, kv := range os.Environ() {
		if k, v, _ := strings.Cut(kv, "="); !strings.HasPrefix(k, "AWS_") || v != "" {
			awsEnv = append(awsEnv, kv)
		}
	}
	return e, awsEnv, []string{"--region", e.Region, "--endpoint-url", e.URL, "--ca-bundle", filepath.Join(e.Dir, "ca.pem")}
}

// TestSI19YAMLKeysSortedAsAWSCLI: --output yaml and yaml-stream print
// each mapping's keys sorted (by code point), at every depth (maps in
// maps, maps in lists), as the AWS CLI v2 does (ruamel.yaml's safe
// dumper sorts a dict's keys), byte for byte with /usr/bin/aws on the
// same server's answers and --query results. Before, postern printed the
// keys in the response's order ("UserId, Account, Arn" where aws prints
// "Account, Arn, UserId").
func TestSI19YAMLKeysSortedAsAWSCLI(t *testing.T) {
	_, awsEnv, common := awsCLIBeside(t)
	if code, _, stderr := runCLI(append(common, "ec2", "create-vpc", "--cidr-block", "10.61.0.0/16",
		"--tag-specifications", "ResourceType=vpc,Tags=[{Key=zeta,Value=1},{Key=Alpha,Value=2}]")...); code != 0 {
		t.Fatalf("create-vpc: exit %d: %s", code, stderr)
	}
	for _, args := range [][]string{
		{"sts", "get-caller-identity", "--output", "yaml"},
		{"iam", "list-users", "--output", "yaml"},
		{"ec2", "describe-vpcs", "--output", "yaml"}, // maps in lists in maps, three deep
		{"ec2", "describe-vpcs", "--output", "yaml-stream"},
		// Keys a --query makes: upper before lower case, digits and '_'
		// by code point, a non-ASCII key last; a map in a list in a map.
		{"sts", "get-caller-identity", "--output", "yaml", "--query",
			`{b: Account, A: Arn, a: UserId, "é": Account, Z: Arn, "_x": Account, "10": Arn, "9": Arn, l: [{y: Account, x: {d: Arn, c: UserId}}]}`},
	} {
		t.Run(strings.Join(args[:4], " "), func(t *testing.T) {
			outputAsAWSCLI(t, awsEnv, append(common, args...)...)
		})
	}
}
