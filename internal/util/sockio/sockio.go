// Package sockio reads and writes a TCP socket the way the tunnels' copy
// loops need it, with less of the Go runtime's work per system call.
//
// On Linux, Socket's Read and Write make their read(2) and write(2) on the
// non-blocking socket as raw system calls inside the runtime poller's
// callbacks (syscall.RawConn): the poller still parks the goroutine while
// the socket is not ready, and deadlines and Close work as for the
// net.Conn, but the call itself does not go through the runtime's
// entersyscall/exitsyscall. Those wake the runtime's monitor thread
// (sysmon) from its deep sleep whenever the process was idle, and sysmon
// then polls every 20 µs for a millisecond or more: in the tunnel path's
// profiles (internal/bench/tunnelbench/RESULTS.md) that polling and the
// thread hand-offs around it were 5–19 % of each process's CPU, more than
// any copy. A call on a non-blocking socket never waits for the peer: it
// holds its P (its share of GOMAXPROCS) only while the kernel copies, tens
// of microseconds for a 256 KiB loopback write, during which the runtime
// cannot hand that P to another thread as it can in an ordinary system
// call; the other Ps go on running.
//
// Elsewhere, and for connections that are not TCP sockets, Socket uses
// the connection's own Read and Write.
//
// ReadNow and ReadableNow (Unix) read or peek at a socket without
// waiting, for a caller that waits elsewhere: recvfrom(2) with
// MSG_DONTWAIT (recvNowFD, peekFD), which never waits even on a socket in
// blocking mode; raw system calls on Linux, x/sys/unix's elsewhere.
// WriteNow (Linux) is a raw sendto(2) with MSG_DONTWAIT (sendNowFD).
// Unsent (Linux) reads a socket's send queue with a raw ioctl(2), for
// linkmux's receive loop, which asks it for every window update it owes.
package sockio

import (
	"net"
	"syscall"

	"github.com/postern/postern/internal/util/netutil"
)

// Socket reads and writes one connection. The zero value is not usable;
// make one with Of. Read may be called by one goroutine while Write is
// called by another, as with a net.Conn.
type Socket struct {
	c  net.Conn
	rc syscall.RawConn // nil: c's own Read and Write
}

// Of returns a Socket for c.
func Of(c net.Conn) Socket {
	s := Socket{c: c}
	if raw {
		if tc, ok := c.(*net.TCPConn); ok {
			if rc, err := tc.SyscallConn(); err == nil {
				s.rc = rc
			}
		}
	}
	return s
}

// Conn is the connection s reads and writes.
func (s Socket) Conn() net.Conn { return s.c }

// Read reads into p as the connection's Read does: at least one byte, or
// an error (io.EOF at the end of the peer's bytes).
func (s Socket) Read(p []byte) (int, error) {
	if s.rc == nil || len(p) == 0 {
		return s.c.Read(p)
	}
	return s.read(p)
}

// ReadBorrowed reads once the socket has something to give (bytes, its
// end or an error) without holding a buffer while it waits: it calls
// borrow for the buffer to read into just before each read, and giveBack
// when that read found nothing and the wait goes on. On return the
// caller holds the buffer of the last borrow (if any: a connection closed
// before the first attempt borrows none), with n bytes read into it.
// Idle connections thus hold no buffer, and a read costs one system call
// instead of a readiness wait and a read.
func (s Socket) ReadBorrowed(borrow func() []byte, giveBack func()) (n int, err error) {
	if s.rc == nil {
		if err := netutil.WaitReadable(s.c); err != nil {
			return 0, err
		}
		return s.c.Read(borrow())
	}
	return s.readBorrowed(borrow, giveBack)
}

// Wait returns once the socket has something to give (bytes, its end or
// an error), without reading it and without a buffer; a pending error
// (a reset) is returned here, as the wait consumes it.
func (s Socket) Wait() error {
	if s.rc == nil {
		return netutil.WaitReadable(s.c)
	}
	return s.wait()
}

// Write writes all of p, or returns an error, as the connection's Write
// does.
func (s Socket) Write(p []byte) (int, error) {
	if s.rc == nil || len(p) == 0 {
		return s.c.Write(p)
	}
	return s.write(p)
}

func (s Socket) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: s.c.LocalAddr().Network(), Source: s.c.LocalAddr(), Addr: s.c.RemoteAddr(), Err: err}
}
