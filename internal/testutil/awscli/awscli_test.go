package awscli

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestAWSCLIVersionCutoffs: the versions the tests pass --endpoint-url
// to, from the versions `aws --version` prints.
func TestAWSCLIVersionCutoffs(t *testing.T) {
	for _, tc := range []struct {
		out          string
		version      string
		readsProfile bool
	}{
		{"aws-cli/2.9.19 Python/3.11.2 Linux/6.1.0 source/x86_64.debian.12 prompt/off\n", "2.9.19", false},
		{"aws-cli/2.12.7 Python/3.11.4 Linux/6.1.0 exe/x86_64.debian.12 prompt/off\n", "2.12.7", false},
		{"aws-cli/2.13.0 Python/3.11.4 Linux/6.1.0 exe/x86_64.debian.12 prompt/off\n", "2.13.0", true},
		{"aws-cli/2.22.35 Python/3.12.6 Linux/6.1.0 exe/x86_64.debian.12\n", "2.22.35", true},
		{"aws-cli/1.27.150 Python/3.11.4 Linux/6.1.0 botocore/1.29.150\n", "1.27.150", false},
		{"aws-cli/1.29.0 Python/3.11.4 Linux/6.1.0 botocore/1.31.0\n", "1.29.0", true},
		{"aws-cli/1.45.11 Python/3.11.7 Linux/6.18.44-fc-v1300 botocore/1.43.11\n", "1.45.11", true},
		{"aws-cli/3.0.0 Python/3.13.0\n", "3.0.0", true},
	} {
		version, v, err := parseVersion(tc.out)
		if err != nil || version != tc.version {
			t.Errorf("%q: version %q, %v; want %s", tc.out, version, err, tc.version)
			continue
		}
		if got := (&CLI{Version: version, v: v}).ReadsProfileEndpoint(); got != tc.readsProfile {
			t.Errorf("aws-cli/%s reads endpoint_url from the profile: %v, want %v", version, got, tc.readsProfile)
		}
	}
	if _, _, err := parseVersion("Python 3.11.2\n"); err == nil {
		t.Error("no aws-cli/ in the output: no error")
	}
}

// fakeCLI writes a program that answers --version with versionLine and
// --generate-cli-skeleton as the AWS CLI does: the skeleton, or "Invalid
// choice" (exit 252) for `ec2 create-instance-connect-endpoint`. It stands
// in for CLIs this host does not have; TestAWSCLIInstalled runs the real
// one.
func fakeCLI(t *testing.T, versionLine string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "aws")
	script := `#!/bin/sh
if [ "$1" = --version ]; then echo '` + versionLine + `'; exit 0; fi
if [ "$2" = create-instance-connect-endpoint ]; then
	echo 'aws: error: argument operation: Invalid choice, valid choices are:' >&2
	exit 252
fi
echo '{}'
`
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestAWSCLIChoiceAndProbes: $POSTERN_TEST_AWS_CLI is the CLI chosen; At
// reads its version once per path and errs, naming the path, on a program
// that does not run or prints no version; a CLI older than endpoint_url in
// a profile gets --endpoint-url, a newer one nothing; HasOperation tells
// an operation the model has from one it lacks.
func TestAWSCLIChoiceAndProbes(t *testing.T) {
	old := fakeCLI(t, "aws-cli/2.9.19 Python/3.11.2 Linux/6.1.0 source/x86_64.debian.12 prompt/off")
	t.Setenv(EnvVar, old)
	if got, err := Lookup(); got != old || err != nil {
		t.Fatalf("Lookup with %s=%s: %q, %v", EnvVar, old, got, err)
	}
	c, err := At(old, nil)
	if err != nil || c.Path != old || c.Version != "2.9.19" {
		t.Fatalf("At(%s): %+v, %v; want aws-cli/2.9.19", old, c, err)
	}
	if again, _ := At(old, nil); again != c {
		t.Errorf("At(%s) ran --version again", old)
	}
	if got, want := c.EndpointArgs(t, "https://127.0.0.1:1"), []string{"--endpoint-url", "https://127.0.0.1:1"}; !slices.Equal(got, want) {
		t.Errorf("aws-cli/2.9.19: endpoint arguments %q, want %q", got, want)
	}
	if !c.HasOperation(t, "sts", "get-caller-identity") {
		t.Error("sts get-caller-identity: not in the model")
	}
	if c.HasOperation(t, "ec2", "create-instance-connect-endpoint") {
		t.Error("ec2 create-instance-connect-endpoint (Invalid choice): in the model")
	}

	newer := fakeCLI(t, "aws-cli/2.13.0 Python/3.11.4 Linux/6.1.0 exe/x86_64.debian.12 prompt/off")
	if c, err := At(newer, nil); err != nil {
		t.Errorf("At(%s): %v", newer, err)
	} else if got := c.EndpointArgs(t, "https://127.0.0.1:1"); got != nil {
		t.Errorf("aws-cli/2.13.0: endpoint arguments %q, want none (the profile's endpoint_url)", got)
	}

	for _, path := range []string{
		filepath.Join(t.TempDir(), "missing", "aws"),
		fakeCLI(t, "Python 3.11.2"),
	} {
		if c, err := At(path, nil); err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("At(%s): %+v, %v; want an error naming the path", path, c, err)
		}
	}
}

// TestAWSCLIInstalled asks the CLI the tests run (Debian's in CI) for an
// operation every model has and one none has, in an environment without
// the host's AWS_* settings.
func TestAWSCLIInstalled(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the AWS CLI")
	}
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "AWS_") })
	c := Find(t, env)
	if !c.HasOperation(t, "sts", "get-caller-identity") {
		t.Errorf("aws-cli/%s (%s): no sts get-caller-identity", c.Version, c.Path)
	}
	if c.HasOperation(t, "sts", "no-such-operation") {
		t.Errorf("aws-cli/%s (%s): sts no-such-operation is in the model", c.Version, c.Path)
	}
}
