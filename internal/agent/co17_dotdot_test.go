package agent

import (
	"os"
	"path/filepath"
	"testing"
)

// TestStateDirDotDotAfterASymlinkIsOneDirectory: a --state-dir with a ".."
// after a symlink is one directory for the agent's lock, the one its files
// are named in (filepath.Join cleans ".." as text). Before, the lock's
// directory was made where the kernel goes and the lock file then opened
// in a directory that did not exist.
func TestStateDirDotDotAfterASymlinkIsOneDirectory(t *testing.T) {
	base := t.TempDir()
	if err := os.MkdirAll(filepath.Join(base, "a", "b"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("a", "b"), filepath.Join(base, "link")); err != nil {
		t.Fatal(err)
	}
	unlock, err := LockStateDir(base + "/link/../state")
	if err != nil {
		t.Fatalf("lock: %v", err)
	}
	defer unlock()
	if _, err := os.Stat(filepath.Join(base, "state", lockFile)); err != nil {
		t.Errorf("lock file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(base, "a", "state")); !os.IsNotExist(err) {
		t.Errorf("a second directory was made where the kernel goes (base/a/state): %v", err)
	}
}
