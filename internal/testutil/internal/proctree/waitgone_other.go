//go:build !linux

package proctree

import (
	"syscall"
	"time"
)

// WaitGone waits, up to timeout in all, until each of pids has exited,
// and reports whether they all did. Without pidfds (Linux only) it polls
// each with signal 0, every 10 ms; the package's tests run on Linux, this
// is here so that the test helpers build (and vet) elsewhere.
func WaitGone(pids []int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for _, pid := range pids {
		for syscall.Kill(pid, 0) == nil {
			if time.Now().After(deadline) {
				return false
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return true
}
