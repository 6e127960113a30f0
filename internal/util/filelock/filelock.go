// Package filelock makes sure that one process at a time uses something
// on disk (an agent's state directory, a server's SQLite database): an
// exclusive flock(2) on a lock file that records the holder's process id.
// The kernel releases it when the process exits, even after a kill -9, so
// a lock is never left behind.
package filelock

import (
	"errors"
	"fmt"
	"strconv"
)

// ErrHeld is matched (errors.Is) by a *HeldError.
var ErrHeld = errors.New("filelock: held by another process")

// HeldError: another process holds the lock (PID 0 when it could not be
// read).
type HeldError struct {
	Path string
	PID  int
}

func (e *HeldError) Error() string {
	who := "another process"
	if e.PID > 0 {
		who += " (pid " + strconv.Itoa(e.PID) + ")"
	}
	return fmt.Sprintf("%s is held by %s", e.Path, who)
}

func (e *HeldError) Is(target error) bool { return target == ErrHeld }
