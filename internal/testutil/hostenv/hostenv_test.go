package hostenv

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestIsolate: every variable of a hostile host is gone after Isolate
// (proxies stay, loopback is in NO_PROXY),
// HOME is a new empty folder, the tools' variables stay, the Go
// toolchain's folders stay where $HOME put them, and files are made with
// the umask 022.
func TestIsolate(t *testing.T) {
	dir := t.TempDir()
	oldHome := os.Getenv("HOME")
	for _, kv := range HostileEnv(t, dir) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	keep := map[string]string{"CI": "1", "POSTERN_BIN": "/x/postern", "POSTERN_TEST_LOG": "1"}
	for k, v := range keep {
		t.Setenv(k, v)
	}
	hostileHome := os.Getenv("HOME")
	for _, k := range []string{"GOCACHE", "GOENV", "GOPATH", "XDG_CACHE_HOME"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("LANGUAGE", "tr")
	cacheDir, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	configDir, err := os.UserConfigDir()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Setenv("HOME", oldHome) })
	old := syscall.Umask(0o077)
	t.Cleanup(func() { syscall.Umask(old) })

	restore := Isolate()

	for _, k := range []string{"AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID",
		"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
		"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS", "AWS_CA_BUNDLE", "AWS_USE_FIPS_ENDPOINT",
		"SSH_AUTH_SOCK", "POSTERN_SSH", "POSTERN_JOIN_TOKEN", "POSTERN_ALLOW_AWS",
		"XDG_CONFIG_HOME", "XDG_STATE_HOME", "PYTHONPATH", "PYTHONSTARTUP", "NODE_OPTIONS", "LC_ALL", "LANGUAGE"} {
		if v, ok := os.LookupEnv(k); ok {
			t.Errorf("%s=%q after Isolate", k, v)
		}
	}
	for k, v := range keep {
		if got := os.Getenv(k); got != v {
			t.Errorf("%s=%q after Isolate, want it kept (%q)", k, got, v)
		}
	}
	for _, k := range []string{"NO_PROXY", "no_proxy"} {
		if got := os.Getenv(k); !strings.Contains(got, "127.0.0.1") || !strings.Contains(got, "localhost") {
			t.Errorf("%s=%q, want loopback in it", k, got)
		}
	}
	if got := os.Getenv("HTTPS_PROXY"); got == "" {
		t.Errorf("HTTPS_PROXY dropped: the go command may need it")
	}
	if got := os.Getenv("LANG"); got != "C.UTF-8" {
		t.Errorf("LANG=%q, want C.UTF-8", got)
	}
	for k, want := range map[string]string{
		"GOCACHE": filepath.Join(cacheDir, "go-build"),
		"GOENV":   filepath.Join(configDir, "go", "env"),
		"GOPATH":  filepath.Join(hostileHome, "go"),
	} {
		if got := os.Getenv(k); got != want {
			t.Errorf("%s=%q, want %q (where it was before HOME moved)", k, got, want)
		}
	}
	home := os.Getenv("HOME")
	if home == hostileHome || home == "" {
		t.Fatalf("HOME=%q, want a new folder", home)
	}
	if ents, err := os.ReadDir(home); err != nil || len(ents) != 0 {
		t.Errorf("HOME %s: %v entries, err %v; want an empty folder", home, len(ents), err)
	}
	f := filepath.Join(home, "f")
	if err := os.WriteFile(f, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("a file made with 0666: %v %v, want -rw-r--r-- (umask 022)", fi.Mode(), err)
	}

	restore()
	if _, err := os.Stat(home); !os.IsNotExist(err) {
		t.Errorf("HOME %s still there after restore: %v", home, err)
	}
}
