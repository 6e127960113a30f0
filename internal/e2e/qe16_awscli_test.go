package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// debianAWS is where Debian's awscli package puts the AWS CLI: what
// scripts/test-deps.sh installs, so what CI runs. A developer's own CLI
// (pyenv's v1, AWS's v2 installer) is usually earlier on PATH; the tests
// pick Debian's deliberately, so that they see what CI sees.
const debianAWS = "/usr/bin/aws"

// awsCLIVar names another AWS CLI to run instead of Debian's, e.g.
// POSTERN_TEST_AWS_CLI=$(command -v aws) for the one first on PATH.
const awsCLIVar = "POSTERN_TEST_AWS_CLI"

// awsCLI is the real AWS CLI a test drives, and its version.
type awsCLI struct {
	bin     string
	version string // as `aws --version` prints it: "2.9.19"
	v       [3]int
}

var (
	awsCLIMu    sync.Mutex
	awsCLIFound = map[string]*awsCLI{} // by path: `aws --version` takes a second
	awsCLIOps   = map[string]bool{}    // by path, service and operation
	awsCLIErrs  = map[string]error{}   // by path: a CLI that does not run
	awsVersion  = regexp.MustCompile(`aws-cli/(\d+)\.(\d+)\.(\d+)`)
)

// findAWSCLI returns the AWS CLI the tests run: $POSTERN_TEST_AWS_CLI,
// else Debian's, else the first on PATH. It skips t where there is none
// or it does not run (fails it under CI, which installs Debian's).
func findAWSCLI(t *testing.T) *awsCLI {
	t.Helper()
	bin, err := lookupAWSCLI()
	if err == nil {
		var c *awsCLI
		if c, err = awsCLIAt(bin); err == nil {
			t.Logf("the AWS CLI: %s, aws-cli/%s", c.bin, c.version)
			return c
		}
	}
	foreignStack(t, "the AWS CLI (Debian package awscli)", err)
	return nil
}

// lookupAWSCLI is findAWSCLI's choice of path.
func lookupAWSCLI() (string, error) {
	if bin := os.Getenv(awsCLIVar); bin != "" {
		return bin, nil
	}
	if fi, err := os.Stat(debianAWS); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
		return debianAWS, nil
	}
	return exec.LookPath("aws")
}

// awsCLIAt runs `bin --version`, once per path.
func awsCLIAt(bin string) (*awsCLI, error) {
	awsCLIMu.Lock()
	defer awsCLIMu.Unlock()
	if c, ok := awsCLIFound[bin]; ok {
		return c, nil
	}
	if err, ok := awsCLIErrs[bin]; ok {
		return nil, err
	}
	cmd := exec.Command(bin, "--version")
	cmd.Env = cleanEnv()
	// v1 before 1.17 printed its version on stderr.
	out, err := cmd.CombinedOutput()
	if err == nil {
		var c awsCLI
		if c.version, c.v, err = parseAWSCLIVersion(string(out)); err == nil {
			c.bin = bin
			awsCLIFound[bin] = &c
			return &c, nil
		}
	}
	err = fmt.Errorf("%s --version: %v: %s", bin, err, bytes.TrimSpace(out))
	awsCLIErrs[bin] = err
	return nil, err
}

// parseAWSCLIVersion reads "aws-cli/2.9.19 Python/3.11.2 ..." (v2) or
// "aws-cli/1.45.11 Python/3.11.7 ... botocore/1.43.11" (v1).
func parseAWSCLIVersion(out string) (string, [3]int, error) {
	m := awsVersion.FindStringSubmatch(out)
	if m == nil {
		return "", [3]int{}, errors.New("no aws-cli/X.Y.Z in the output")
	}
	var v [3]int
	for i := range v {
		v[i], _ = strconv.Atoi(m[i+1])
	}
	return m[1] + "." + m[2] + "." + m[3], v, nil
}

// atLeast reports whether c is v1 at least v1min, or v2 (or later) at
// least v2min: the two lines carry features with different numbers.
func (c *awsCLI) atLeast(v1min, v2min [3]int) bool {
	min := v2min
	if c.v[0] < 2 {
		min = v1min
	}
	for i := range c.v {
		if c.v[i] != min[i] {
			return c.v[i] > min[i]
		}
	}
	return true
}

// readsProfileEndpoint reports whether c takes endpoint_url from the
// profile (and AWS_ENDPOINT_URL): AWS CLI 1.29.0 and 2.13.0 brought it
// (the "service-specific endpoints" of July 2023); Debian 12's 2.9.19
// predates it and would call AWS itself.
func (c *awsCLI) readsProfileEndpoint() bool {
	return c.atLeast([3]int{1, 29, 0}, [3]int{2, 13, 0})
}

// endpointArgs is what c needs on the command line to reach url: nothing
// where it reads the profile's endpoint_url (the tests then show that
// the profile the server wrote is enough), --endpoint-url before.
func (c *awsCLI) endpointArgs(t *testing.T, url string) []string {
	t.Helper()
	if c.readsProfileEndpoint() {
		return nil
	}
	t.Logf("aws-cli/%s predates endpoint_url in a profile (1.29.0, 2.13.0): --endpoint-url %s", c.version, url)
	return []string{"--endpoint-url", url}
}

// hasOperation reports whether c's model has `aws service operation`,
// asking c for the operation's input skeleton (no call, no credentials).
// Debian 12's 2.9.19 has no EC2 Instance Connect Endpoint operations
// (June 2023), and no v1 and no v2 before 2.12.0 has open-tunnel.
func (c *awsCLI) hasOperation(t *testing.T, service, operation string) bool {
	t.Helper()
	key := c.bin + " " + service + " " + operation
	awsCLIMu.Lock()
	has, ok := awsCLIOps[key]
	awsCLIMu.Unlock()
	if ok {
		return has
	}
	cmd := exec.Command(c.bin, service, operation, "--generate-cli-skeleton")
	cmd.Env = cleanEnv()
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	switch err := cmd.Run(); {
	case err == nil:
		has = true
	case strings.Contains(e.String(), "Invalid choice"):
		has = false
	default:
		t.Fatalf("aws %s %s --generate-cli-skeleton: %v\n%s%s", service, operation, err, o.String(), e.String())
	}
	awsCLIMu.Lock()
	awsCLIOps[key] = has
	awsCLIMu.Unlock()
	return has
}

// needOperation skips t, naming the version, where c's model lacks
// `aws service operation`.
func (c *awsCLI) needOperation(t *testing.T, service, operation string) {
	t.Helper()
	if !c.hasOperation(t, service, operation) {
		t.Skipf("aws-cli/%s (%s) has no `aws %s %s` in its model", c.version, c.bin, service, operation)
	}
}

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
		version, v, err := parseAWSCLIVersion(tc.out)
		if err != nil || version != tc.version {
			t.Errorf("%q: version %q, %v; want %s", tc.out, version, err, tc.version)
			continue
		}
		if got := (&awsCLI{version: version, v: v}).readsProfileEndpoint(); got != tc.readsProfile {
			t.Errorf("aws-cli/%s reads endpoint_url from the profile: %v, want %v", version, got, tc.readsProfile)
		}
	}
	if _, _, err := parseAWSCLIVersion("Python 3.11.2\n"); err == nil {
		t.Error("no aws-cli/ in the output: no error")
	}
}
