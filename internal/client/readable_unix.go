//go:build unix

package client

import (
	"errors"
	"syscall"

	"github.com/postern/postern/internal/util/sockio"
)

// readableNow tells whether the socket has something to give now (bytes,
// its end or an error), without reading it and without waiting
// (sockio.ReadableNow: a raw system call on Linux).
func readableNow(rc syscall.RawConn) bool { return sockio.ReadableNow(rc) }

// readNoWait reads into p what the socket has now, without waiting: n
// bytes, io.EOF at the peer's end, or wouldBlock when it has nothing yet
// (the caller then waits for it elsewhere). sockio.ReadNow makes the
// read: a raw system call on Linux, as an ordinary one wakes the
// runtime's monitor thread (in the one-hop upload's profile that was 4 %
// of the client's CPU and a third of its context switches).
func readNoWait(rc syscall.RawConn, p []byte) (n int, err error, wouldBlock bool) {
	n, err = sockio.ReadNow(rc, p)
	if errors.Is(err, sockio.ErrWouldBlock) {
		return 0, nil, true
	}
	return n, err, false
}
