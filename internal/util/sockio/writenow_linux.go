package sockio

import (
	"os"
	"syscall"
)

// WriteNowWorks says WriteNow writes here (Linux: a raw sendto(2) with
// MSG_DONTWAIT); elsewhere it writes nothing and callers keep to blocking
// writes.
const WriteNowWorks = true

// WriteNow writes as much of p to the socket behind rc as it takes at
// once and returns how much, without waiting for room: a full socket is
// n < len(p) and no error; the socket's error is an *os.SyscallError
// (rc's own error when the connection was closed here). The endpoint
// agent writes a tunnel's bytes to its target with it from the link's
// receive loop, which must never wait.
func WriteNow(rc syscall.RawConn, p []byte) (n int, err error) {
	o := getOp()
	o.p = p
	cerr := rc.Write(o.sendNow)
	n, errno := o.n, o.errno
	o.put()
	switch {
	case cerr != nil:
		return n, cerr // closed
	case errno != 0:
		return n, os.NewSyscallError("write", errno)
	}
	return n, nil
}
