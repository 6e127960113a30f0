// Package hostenv gives a test binary an environment of its own, so that
// the settings of whoever runs the tests cannot change what the tests see:
// the AWS SDKs' and CLI's variables and dotfiles (~/.aws), proxies (for
// loopback), the
// SSH agent, Postern's own variables, XDG folders, Python's and Node's
// start-up variables, the locale and the umask. (The time zone stays: a
// hostile TZ failed no test.) RunHostile re-runs a package's tests on a
// hostile host, to show that its TestMain isolates them.
//
// Call Isolate from TestMain, before m.Run (and after any branch where the
// test binary runs as a child process whose environment the parent set):
//
//	func TestMain(m *testing.M) {
//		restore := hostenv.Isolate()
//		code := m.Run()
//		restore()
//		os.Exit(code)
//	}
//
// Tests then set what they need with t.Setenv or exec.Cmd.Env. The
// variables that choose the test's tools (PATH, CI, GOCACHE and the Go
// toolchain's others, the POSTERN_* knobs of the tests and benches) are
// kept: they are the machine's, not a user's preference the product reads.
//
// ssh reads ~/.ssh from the password database, not $HOME; the test sshd
// and clients (package sshdtest) pass their own files instead. A remote
// interactive shell still reads the login user's ~/.bashrc.
package hostenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// prefixes are the variable families the tests never inherit: the AWS
// SDKs' and CLI's (a developer's profile, region, endpoint, FIPS switch or
// CA bundle would redirect or refuse the tests' calls), Python's and the
// locale's.
var prefixes = []string{"AWS_", "PYTHON", "LC_"}

// loopback is what NO_PROXY must name so that no client proxies a call
// to a test server.
const loopback = "localhost,127.0.0.1,::1"

// names are the single variables the tests never inherit.
var names = []string{
	// An SSH agent would offer the developer's keys to the test sshd.
	"SSH_AUTH_SOCK", "SSH_AGENT_PID",
	// What the postern binary reads (internal/cli): a developer's ssh
	// wrapper, join token or "allow real AWS" switch.
	"POSTERN_SSH", "POSTERN_JOIN_TOKEN", "POSTERN_ALLOW_AWS",
	// Folders the product and the tools it runs take instead of $HOME's.
	"XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_RUNTIME_DIR",
	// Node: options and module paths of the developer's own.
	"NODE_OPTIONS", "NODE_PATH", "NODE_EXTRA_CA_CERTS", "NPM_CONFIG_USERCONFIG",
	// Other programs' CA bundles (python's requests, curl): the tests
	// give theirs explicitly. (SSL_CERT_FILE and SSL_CERT_DIR stay: Go
	// and OpenSSL reach the module proxy with them.)
	"REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
	// A pyenv version pinned in the shell would pick another Python for
	// the tools on PATH (aws).
	"PYENV_VERSION",
}

// Isolate removes the user's variables from the process environment, adds
// loopback to NO_PROXY, points HOME at a fresh empty folder (no ~/.aws,
// ~/.postern, ~/.config/postern, ~/.npmrc), sets LANG=C.UTF-8 and the
// umask 022, and returns a function that removes the folder. It keeps the Go
// toolchain's caches and settings where they were (a cold build cache
// would make every test that builds postern slow). It panics if it cannot
// make the folder: no test could run as intended.
func Isolate() (restore func()) {
	// Pin the Go toolchain's folders, which default to $HOME's, first.
	if os.Getenv("GOCACHE") == "" {
		if d, err := os.UserCacheDir(); err == nil {
			os.Setenv("GOCACHE", filepath.Join(d, "go-build"))
		}
	}
	if os.Getenv("GOENV") == "" {
		if d, err := os.UserConfigDir(); err == nil {
			os.Setenv("GOENV", filepath.Join(d, "go", "env"))
		}
	}
	if os.Getenv("GOPATH") == "" {
		if d, err := os.UserHomeDir(); err == nil {
			os.Setenv("GOPATH", filepath.Join(d, "go"))
		}
	}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		for _, p := range prefixes {
			if strings.HasPrefix(k, p) {
				os.Unsetenv(k)
			}
		}
	}
	for _, k := range names {
		os.Unsetenv(k)
	}
	home, err := os.MkdirTemp("", "hostenv-home-")
	if err != nil {
		panic(fmt.Sprintf("hostenv: a HOME for the tests: %v", err))
	}
	os.Setenv("HOME", home)
	// The proxies stay (the go command may need them to fetch modules)
	// but never for loopback, where every test server listens: Go skips
	// it by itself, the AWS CLI and botocore do not.
	for _, k := range []string{"NO_PROXY", "no_proxy"} {
		v := loopback
		if old := os.Getenv(k); old != "" {
			v = old + "," + loopback
		}
		os.Setenv(k, v)
	}
	os.Setenv("LANG", "C.UTF-8")
	os.Unsetenv("LANGUAGE")
	setUmask()
	return func() { os.RemoveAll(home) }
}
