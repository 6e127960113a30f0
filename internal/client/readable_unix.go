//go:build unix

package client

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// readableNow tells whether the socket has something to give now (bytes,
// its end or an error), without reading it and without waiting: a
// one-byte MSG_PEEK|MSG_DONTWAIT. A pending error is left for the read
// that follows (it is not consumed unless the peek fails with it, and
// then that read reports the socket's end).
func readableNow(rc syscall.RawConn) bool {
	var peek [1]byte
	ready := true
	err := rc.Read(func(fd uintptr) bool {
		_, _, err := unix.Recvfrom(int(fd), peek[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		for err == unix.EINTR {
			_, _, err = unix.Recvfrom(int(fd), peek[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		}
		ready = err != unix.EAGAIN && err != unix.EWOULDBLOCK
		return true // never park
	})
	return ready || err != nil
}
