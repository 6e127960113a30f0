//go:build unix

package sockio

import (
	"errors"
	"io"
	"os"
	"syscall"
)

// ErrWouldBlock is ReadNow's answer when the socket has nothing to give
// yet: the caller waits for it elsewhere.
var ErrWouldBlock = errors.New("sockio: nothing to read yet")

// ReadNow reads into p what the socket behind rc has now, without
// waiting: n bytes, io.EOF at the peer's end, ErrWouldBlock when it has
// nothing yet, or the socket's error (an *os.SyscallError, such as a
// reset's ECONNRESET, or rc's own error when the connection was closed
// here). A p of no bytes reads nothing: 0, nil. The read is a recvfrom(2)
// with MSG_DONTWAIT: it never waits, even on a socket in blocking mode.
// On Linux it is a raw system call (see the package comment): the
// runtime's monitor thread is not woken.
func ReadNow(rc syscall.RawConn, p []byte) (int, error) {
	var n int
	var errno syscall.Errno
	cerr := rc.Read(func(fd uintptr) bool {
		for {
			n, errno = recvNowFD(fd, p)
			if errno != syscall.EINTR {
				return true // never park
			}
		}
	})
	switch {
	case cerr != nil:
		return 0, cerr
	case errno == syscall.EAGAIN || errno == syscall.EWOULDBLOCK:
		return 0, ErrWouldBlock
	case errno != 0:
		return 0, os.NewSyscallError("read", errno)
	case n == 0 && len(p) > 0:
		return 0, io.EOF
	}
	return n, nil
}

// ReadableNow tells whether the socket behind rc has something to give
// now (bytes, its end or an error), without reading it and without
// waiting: a one-byte MSG_PEEK|MSG_DONTWAIT (a raw system call on
// Linux). A pending error is left for the read that follows (it is not
// consumed unless the peek fails with it, and then that read reports the
// socket's end). A connection closed here is readable: the read that
// follows reports it.
func ReadableNow(rc syscall.RawConn) bool {
	var peek [1]byte
	ready := true
	err := rc.Read(func(fd uintptr) bool {
		e := peekFD(fd, peek[:])
		for e == syscall.EINTR {
			e = peekFD(fd, peek[:])
		}
		ready = e != syscall.EAGAIN && e != syscall.EWOULDBLOCK
		return true // never park
	})
	return ready || err != nil
}
