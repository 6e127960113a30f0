//go:build unix

package client

import (
	"io"
	"os"
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
		err := peekNow(fd, peek[:])
		for err == unix.EINTR {
			err = peekNow(fd, peek[:])
		}
		ready = err != unix.EAGAIN && err != unix.EWOULDBLOCK
		return true // never park
	})
	return ready || err != nil
}

// readNoWait reads into p what the socket has now, without waiting: n
// bytes, io.EOF at the peer's end, or wouldBlock when it has nothing yet
// (the caller then waits for it elsewhere).
func readNoWait(rc syscall.RawConn, p []byte) (n int, err error, wouldBlock bool) {
	var rerr error
	cerr := rc.Read(func(fd uintptr) bool {
		for {
			n, rerr = readNow(fd, p)
			if rerr != unix.EINTR {
				return true // never park
			}
		}
	})
	switch {
	case cerr != nil:
		return 0, cerr, false
	case rerr == unix.EAGAIN || rerr == unix.EWOULDBLOCK:
		return 0, nil, true
	case rerr != nil:
		return 0, os.NewSyscallError("read", rerr), false
	case n == 0 && len(p) > 0:
		return 0, io.EOF, false
	}
	return n, nil, false
}
