package hostenv

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/testutil/refused"
)

// hostileMarker is set in the environment of a test binary that RunHostile
// re-runs, so a hostile run never starts another one.
const hostileMarker = "HOSTENV_HOSTILE_CHILD"

// hostileFiles are dotfiles a developer or a CI host may have, each
// pointing somewhere no test should go (DEADADDR: HostileEnv's refused
// address).
var hostileFiles = map[string]string{
	".aws/config": `[default]
region = xx-hostile-1
output = text
endpoint_url = https://DEADADDR
ca_bundle = /nonexistent/hostenv/ca.pem
cli_pager = /bin/false
[profile hostile]
region = xx-hostile-2
endpoint_url = https://DEADADDR
credential_process = /bin/false hostenv
[profile postern]
region = xx-hostile-3
endpoint_url = https://DEADADDR
`,
	".aws/credentials": `[default]
aws_access_key_id = AKIAHOSTENVDEFAULT00
aws_secret_access_key = hostenvhostenvhostenvhostenvhostenv00000
[postern]
aws_access_key_id = AKIAHOSTENVPOSTERN00
aws_secret_access_key = hostenvhostenvhostenvhostenvhostenv00000
`,
	".postern/login/postern.json": `{"AccessKeyId":"AKIAHOSTENV`,
	".config/postern/config.yaml": "hostile: [\n",
	".npmrc":                      "registry=http://DEADADDR/\noffline=true\n",
}

// HostileEnv returns the test's environment with what a hostile host adds:
// the AWS variables (a profile, region, endpoint, CA bundle, FIPS and
// dual-stack switches, credentials), proxies that refuse, a missing SSH
// agent, Postern's own variables, XDG folders, Python and Node start-up
// variables, a locale the machine does not have, and HOME in a new folder
// under dir with hostile ~/.aws, ~/.postern, ~/.config/postern and ~/.npmrc,
// and PATH led by a python3 that only fails.
func HostileEnv(t testing.TB, dir string) []string {
	t.Helper()
	// Where the hostile settings point: a loopback port this test holds
	// bound and never listens on, so a connection there is refused (not
	// a fixed port another service on the host might answer).
	dead := refused.Addr(t)
	home := filepath.Join(dir, "hostile-home")
	for name, text := range hostileFiles {
		text = strings.ReplaceAll(text, "DEADADDR", dead)
		p := filepath.Join(home, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A python3 first on PATH that is not the system's (CI's root has
	// pyenv's shims first): tests that need Debian's Python must name it.
	bin := filepath.Join(dir, "hostile-bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"python3", "python"} {
		fake := "#!/bin/sh\necho \"hostenv: a python3 on PATH that is not the system's: $0 $*\" >&2\nexit 3\n"
		if err := os.WriteFile(filepath.Join(bin, name), []byte(fake), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The Go toolchain's folders stay where the developer has them (they
	// follow the real HOME): a hostile host has its module cache too.
	var gotools []string
	if d, err := os.UserCacheDir(); err == nil && os.Getenv("GOCACHE") == "" {
		gotools = append(gotools, "GOCACHE="+filepath.Join(d, "go-build"))
	}
	if d, err := os.UserConfigDir(); err == nil && os.Getenv("GOENV") == "" {
		gotools = append(gotools, "GOENV="+filepath.Join(d, "go", "env"))
	}
	if d, err := os.UserHomeDir(); err == nil && os.Getenv("GOPATH") == "" {
		gotools = append(gotools, "GOPATH="+filepath.Join(d, "go"))
	}
	return append(append(os.Environ(), gotools...),
		"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"HOME="+home,
		"AWS_PROFILE=hostile", "AWS_REGION=xx-hostile-9", "AWS_DEFAULT_REGION=xx-hostile-8",
		"AWS_ACCESS_KEY_ID=AKIAHOSTENVENV000000", "AWS_SECRET_ACCESS_KEY=hostenvenvhostenvenvhostenvenv0000000000",
		"AWS_SESSION_TOKEN=hostenv-token",
		"AWS_CONFIG_FILE="+filepath.Join(home, ".aws", "config"),
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(home, ".aws", "credentials"),
		"AWS_ENDPOINT_URL=https://"+dead, "AWS_ENDPOINT_URL_STS=https://"+dead,
		"AWS_CA_BUNDLE=/nonexistent/hostenv/env-ca.pem",
		"AWS_DEFAULT_OUTPUT=text", "AWS_PAGER=/bin/false", "AWS_USE_FIPS_ENDPOINT=true",
		"AWS_USE_DUALSTACK_ENDPOINT=true", "AWS_MAX_ATTEMPTS=1", "AWS_CLI_AUTO_PROMPT=on",
		"HTTP_PROXY=http://"+dead, "HTTPS_PROXY=http://"+dead,
		"http_proxy=http://"+dead, "https_proxy=http://"+dead,
		"ALL_PROXY=socks5://"+dead, "NO_PROXY=", "no_proxy=",
		"SSH_AUTH_SOCK=/nonexistent/hostenv/agent.sock",
		"POSTERN_SSH=/bin/false", "POSTERN_JOIN_TOKEN=hostenv-join-token", "POSTERN_ALLOW_AWS=true",
		"XDG_CONFIG_HOME="+filepath.Join(dir, "xdg-config"), "XDG_STATE_HOME="+filepath.Join(dir, "xdg-state"),
		"PYTHONPATH=/nonexistent/hostenv", "PYTHONSTARTUP=/nonexistent/hostenv",
		"NODE_OPTIONS=--hostenv-no-such-option",
		"LANG=tr_TR.UTF-8", "LC_ALL=tr_TR.UTF-8",
	)
}

// RunHostile runs this test binary again with -test.run pattern in
// HostileEnv, with the umask 077, and fails t with the run's output unless
// every test it runs passes. A package's regression test for its
// TestMain's Isolate calls it with the tests that read the environment.
// Inside such a run it skips t.
func RunHostile(t *testing.T, pattern string) {
	t.Helper()
	if os.Getenv(hostileMarker) != "" {
		t.Skip("already a hostile run")
	}
	if testing.Short() {
		t.Skip("re-runs tests in a hostile environment")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// sh sets the umask for the child only; the test binary's own stays.
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", `umask 077 && exec "$@"`, "sh",
		os.Args[0], "-test.run", pattern, "-test.count=1", "-test.v")
	cmd.Env = append(HostileEnv(t, t.TempDir()), hostileMarker+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("tests %s in a hostile environment: %v\n%s", pattern, err, out)
	}
	if !strings.Contains(string(out), "\nPASS\n") && !strings.HasPrefix(string(out), "PASS\n") {
		t.Fatalf("tests %s in a hostile environment did not pass:\n%s", pattern, out)
	}
	if strings.Contains(string(out), "testing: warning: no tests to run") {
		t.Fatalf("pattern %s runs no test", pattern)
	}
	// The top-level results, so a skip (a tool missing) shows in -v.
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "--- ") {
			t.Log(line)
		}
	}
}
