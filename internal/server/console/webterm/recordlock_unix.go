//go:build unix

package webterm

import (
	"errors"
	"os"
	"syscall"
)

// lockRecording takes an exclusive flock(2) on a recording's file for as
// long as it is being written: the kernel releases it when the file is
// closed or the process ends (even killed with SIGKILL), so a recording
// whose file nobody holds and whose metadata has no end was cut short.
func lockRecording(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}

// recordingHeld reports whether a process (this one or another) holds the
// lock of lockRecording on f, which is open for reading; known is false
// when the file system cannot tell (no flock there).
func recordingHeld(f *os.File) (held, known bool) {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
	switch {
	case err == nil:
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		return false, true
	case errors.Is(err, syscall.EWOULDBLOCK):
		return true, true
	default:
		return false, false
	}
}
