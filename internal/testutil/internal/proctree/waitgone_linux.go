package proctree

import (
	"time"

	"golang.org/x/sys/unix"
)

// WaitGone waits, up to timeout in all, until each of pids has exited
// (waiting on a pidfd, so without polling), and reports whether they all
// did. A pid that no longer exists counts as gone.
func WaitGone(pids []int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for _, pid := range pids {
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			continue // already gone (ESRCH)
		}
		ok := false
		for {
			ms := int(time.Until(deadline) / time.Millisecond)
			if ms <= 0 {
				break
			}
			n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, ms)
			if err == unix.EINTR {
				continue
			}
			ok = err == nil && n > 0
			break
		}
		unix.Close(fd)
		if !ok {
			return false
		}
	}
	return true
}
