package linkmux

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// sendQueueEmpty reports whether the link's socket holds no byte waiting
// to be sent or acknowledged (SIOCOUTQ): a write of a few bytes then goes
// into its send buffer at once, whatever the peer does.
func sendQueueEmpty(rc syscall.RawConn) bool {
	empty := false
	_ = rc.Control(func(fd uintptr) {
		n, err := unix.IoctlGetInt(int(fd), unix.SIOCOUTQ)
		empty = err == nil && n == 0
	})
	return empty
}
