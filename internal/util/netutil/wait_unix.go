//go:build unix

package netutil

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// waitReadable parks the goroutine in the runtime's poller until the
// socket is readable: a one-byte MSG_PEEK that would block makes the
// callback return false, which tells the runtime to wait for readability
// and call it again.
func waitReadable(rc syscall.RawConn) error {
	var peek [1]byte
	var opErr error
	err := rc.Read(func(fd uintptr) bool {
		_, _, err := unix.Recvfrom(int(fd), peek[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		for err == unix.EINTR {
			_, _, err = unix.Recvfrom(int(fd), peek[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		}
		if err == unix.EAGAIN || err == unix.EWOULDBLOCK {
			return false
		}
		if err != nil {
			// A pending socket error (a reset) is consumed by the peek:
			// report it here, or the next Read would only see EOF.
			opErr = os.NewSyscallError("recvfrom", err)
		}
		return true
	})
	if err != nil {
		return err
	}
	return opErr
}
