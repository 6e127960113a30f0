//go:build unix

package ownerhint_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/postern/postern/internal/util/ownerhint"
)

// The set-up the hint tests share: another uid's directory, the symlink
// tree a ".." is followed through, and the hint's chown -R run as a user
// would paste it.

// needRoot skips t unless it runs as root: the tests give files to
// another uid, which only root can.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a file to another uid")
	}
}

// serverDir is the server's --data-dir at path, as the server hands it
// to ownerhint.Wrap.
func serverDir(path string) ownerhint.Dir {
	return ownerhint.Dir{Path: path, Noun: "data directory", Program: "server", Flag: "--data-dir"}
}

// dotDotTree is base with link → a/b, so that base/link/../data is
// base/a/data to the kernel and base/data as text; both directories
// exist, this uid's.
func dotDotTree(t *testing.T, linkName string) (base, reached, text string) {
	t.Helper()
	base = t.TempDir()
	reached, text = filepath.Join(base, "a", "data"), filepath.Join(base, "data")
	for _, d := range []string{filepath.Join(base, "a", "b"), reached, text} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(base, "a", "b"), filepath.Join(base, linkName)); err != nil {
		t.Fatal(err)
	}
	return base, reached, text
}

// giveAway gives dir and a 0600 secret.key it writes in it to uid other
// and returns the key's path.
func giveAway(t *testing.T, dir string, other int) string {
	t.Helper()
	key := filepath.Join(dir, "secret.key")
	if err := os.WriteFile(key, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, key} {
		if err := os.Chown(p, other, other); err != nil {
			t.Fatal(err)
		}
	}
	return key
}

// uidOf is the uid that owns p.
func uidOf(t *testing.T, p string) int {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return int(fi.Sys().(*syscall.Stat_t).Uid)
}

// pasteChown runs the hint's chown -R in another directory (pasted
// elsewhere) and checks that it handed want (and the files in it) to
// this uid.
func pasteChown(t *testing.T, msg string, want ...string) {
	t.Helper()
	_, cmd, ok := strings.Cut(msg, "chown -R ")
	if !ok || !strings.HasSuffix(cmd, ")") {
		t.Fatalf("no chown -R … at the end of %q", msg)
	}
	cmd = "chown -R " + strings.TrimSuffix(cmd, ")")
	sh := exec.Command("sh", "-c", cmd)
	sh.Dir = t.TempDir()
	if out, err := sh.CombinedOutput(); err != nil {
		t.Fatalf("the hint's %q failed: %v: %s", cmd, err, out)
	}
	for _, p := range want {
		if uid := uidOf(t, p); uid != os.Geteuid() {
			t.Fatalf("after %q, %s belongs to uid %d; want %d", cmd, p, uid, os.Geteuid())
		}
	}
}
