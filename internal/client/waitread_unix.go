//go:build unix

package client

import "syscall"

// waitReadable returns once c has bytes to read, has reached its end or
// has failed (the Read that follows tells which), without a buffer: it
// peeks at one byte through the runtime's poller.
func waitReadable(c syscall.Conn) {
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	var b [1]byte
	_ = rc.Read(func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return err != syscall.EAGAIN && err != syscall.EWOULDBLOCK && err != syscall.EINTR
	})
}
