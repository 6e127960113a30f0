package agent

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// A second agent on one state directory is refused with an error naming
// the first; the directory is free again once the first unlocks.
func TestLockStateDir(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no lock on this platform")
	}
	dir := filepath.Join(t.TempDir(), "state")
	unlock, err := LockStateDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var inUse *StateDirInUseError
	if _, err := LockStateDir(dir); !errors.As(err, &inUse) || !errors.Is(err, ErrStateDirInUse) || inUse.PID != os.Getpid() {
		t.Fatalf("a second agent: %v, want a StateDirInUseError naming pid %d", err, os.Getpid())
	}
	unlock()
	again, err := LockStateDir(dir)
	if err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	again()
}
