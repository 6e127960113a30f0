// Package awscli gives tests the real AWS CLI to drive against Postern:
// which one (POSTERN_TEST_AWS_CLI, else Debian's /usr/bin/aws, which
// scripts/test-deps.sh installs and CI runs, else the first on PATH), its
// version, whether it needs --endpoint-url (a CLI older than endpoint_url
// in a profile) and whether its model has an operation. It does not run
// the CLI's calls: each test does, with the environment it means.
package awscli

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

	"github.com/postern/postern/internal/testutil/ci"
)

// DebianPath is where Debian's awscli package puts the AWS CLI: what
// scripts/test-deps.sh installs, so what CI runs. A developer's own CLI
// (pyenv's v1, AWS's v2 installer) is usually earlier on PATH; the tests
// pick Debian's deliberately, so that they see what CI sees.
const DebianPath = "/usr/bin/aws"

// EnvVar names another AWS CLI to run instead of Debian's, e.g.
// POSTERN_TEST_AWS_CLI=$(command -v aws) for the one first on PATH.
const EnvVar = "POSTERN_TEST_AWS_CLI"

// CLI is a real AWS CLI that runs, and its version.
type CLI struct {
	// Path is the program to run.
	Path string
	// Version is as `aws --version` prints it, without "aws-cli/":
	// "2.9.19".
	Version string
	v       [3]int
	env     []string // for the CLI's probes (--generate-cli-skeleton)
}

var (
	mu      sync.Mutex
	found   = map[string]*CLI{}  // by path: `aws --version` takes a second
	failed  = map[string]error{} // by path: a CLI that does not run
	ops     = map[string]bool{}  // by path, service and operation
	version = regexp.MustCompile(`aws-cli/(\d+)\.(\d+)\.(\d+)`)
)

// Find returns the AWS CLI the tests run ($POSTERN_TEST_AWS_CLI, else
// Debian's, else the first on PATH), asking it with env as its
// environment, and logs its path and version. It skips t where there is
// none or it does not run, and fails t under CI, which installs Debian's.
func Find(t testing.TB, env []string) *CLI {
	t.Helper()
	path, err := Lookup()
	if err == nil {
		var c *CLI
		if c, err = At(path, env); err == nil {
			t.Logf("the AWS CLI: %s, aws-cli/%s", c.Path, c.Version)
			return c
		}
	}
	const what = "the AWS CLI (Debian package awscli)"
	if ci.Strict() {
		t.Fatalf("%s is not available (%v); CI must run this test (scripts/test-deps.sh installs it)", what, err)
	}
	t.Skipf("%s is not available (%v); run scripts/test-deps.sh", what, err)
	return nil
}

// Lookup is Find's choice of path, without running it: an error means
// no CLI is installed (and $POSTERN_TEST_AWS_CLI names none).
func Lookup() (string, error) {
	if path := os.Getenv(EnvVar); path != "" {
		return path, nil
	}
	if fi, err := os.Stat(DebianPath); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
		return DebianPath, nil
	}
	return exec.LookPath("aws")
}

// At runs `path --version` with env as its environment, once per path in
// the test process, and returns the CLI; an error means it does not run
// or prints no aws-cli/X.Y.Z. env is kept for the CLI's probes
// (HasOperation); the first caller's env for a path is the one kept.
func At(path string, env []string) (*CLI, error) {
	mu.Lock()
	defer mu.Unlock()
	if c, ok := found[path]; ok {
		return c, nil
	}
	if err, ok := failed[path]; ok {
		return nil, err
	}
	cmd := exec.Command(path, "--version")
	cmd.Env = env
	// v1 before 1.17 printed its version on stderr.
	out, err := cmd.CombinedOutput()
	if err == nil {
		c := CLI{Path: path, env: env}
		if c.Version, c.v, err = parseVersion(string(out)); err == nil {
			found[path] = &c
			return &c, nil
		}
	}
	err = fmt.Errorf("%s --version: %v: %s", path, err, bytes.TrimSpace(out))
	failed[path] = err
	return nil, err
}

// parseVersion reads "aws-cli/2.9.19 Python/3.11.2 ..." (v2) or
// "aws-cli/1.45.11 Python/3.11.7 ... botocore/1.43.11" (v1).
func parseVersion(out string) (string, [3]int, error) {
	m := version.FindStringSubmatch(out)
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
func (c *CLI) atLeast(v1min, v2min [3]int) bool {
	floor := v2min
	if c.v[0] < 2 {
		floor = v1min
	}
	for i := range c.v {
		if c.v[i] != floor[i] {
			return c.v[i] > floor[i]
		}
	}
	return true
}

// ReadsProfileEndpoint reports whether c takes endpoint_url from the
// profile (and AWS_ENDPOINT_URL): AWS CLI 1.29.0 and 2.13.0 brought it
// (the "service-specific endpoints" of July 2023); Debian 12's 2.9.19
// predates it and would call AWS itself.
func (c *CLI) ReadsProfileEndpoint() bool {
	return c.atLeast([3]int{1, 29, 0}, [3]int{2, 13, 0})
}

// EndpointArgs is what c needs on the command line to reach url: nothing
// where it reads the profile's endpoint_url (a test then shows that the
// profile the server wrote is enough), --endpoint-url before, which it
// logs.
func (c *CLI) EndpointArgs(t testing.TB, url string) []string {
	t.Helper()
	if c.ReadsProfileEndpoint() {
		return nil
	}
	t.Logf("aws-cli/%s predates endpoint_url in a profile (1.29.0, 2.13.0): --endpoint-url %s", c.Version, url)
	return []string{"--endpoint-url", url}
}

// HasOperation reports whether c's model has `aws service operation`,
// asking c for the operation's input skeleton (no call, no credentials),
// once per path in the test process. Debian 12's 2.9.19 has no EC2
// Instance Connect Endpoint operations (June 2023), and no v1 and no v2
// before 2.12.0 has open-tunnel. An answer other than "Invalid choice"
// fails t.
func (c *CLI) HasOperation(t testing.TB, service, operation string) bool {
	t.Helper()
	key := c.Path + " " + service + " " + operation
	mu.Lock()
	has, ok := ops[key]
	mu.Unlock()
	if ok {
		return has
	}
	cmd := exec.Command(c.Path, service, operation, "--generate-cli-skeleton")
	cmd.Env = c.env
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
	mu.Lock()
	ops[key] = has
	mu.Unlock()
	return has
}

// NeedOperation skips t, naming the version, where c's model lacks
// `aws service operation`.
func (c *CLI) NeedOperation(t testing.TB, service, operation string) {
	t.Helper()
	if !c.HasOperation(t, service, operation) {
		t.Skipf("aws-cli/%s (%s) has no `aws %s %s` in its model", c.Version, c.Path, service, operation)
	}
}
