//go:build unix

package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// LockStateDir makes sure that only this process runs an agent from dir
// (created with mode 0700 if missing): two agents with one identity would
// take each other's link to the server in turns. It holds an exclusive
// flock(2) on dir/agent.lock, which records this process's id, until
// unlock is called or the process exits (the kernel releases it even after
// a kill -9). When another process holds it, the error is a
// *StateDirInUseError naming that process.
func LockStateDir(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("agent: state directory: %w", err)
	}
	path := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, stateModes)
	if err != nil {
		return nil, fmt.Errorf("agent: lock the state directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			b, _ := os.ReadFile(path)
			pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			return nil, &StateDirInUseError{Dir: dir, PID: pid}
		}
		return nil, fmt.Errorf("agent: lock %s: %w", path, err)
	}
	// Ours now: record who holds it, for the next one's error.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() {
		_ = f.Truncate(0)
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
	}, nil
}
