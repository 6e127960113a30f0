// Package netutil holds small socket helpers shared by the tunnel's copy
// loops: waiting for data without holding a buffer, and naming why a
// connection to a target failed.
package netutil

import (
	"bufio"
	"errors"
	"net"
	"os"
	"syscall"
)

// WaitReadable blocks until c has data to read, has reached EOF or has
// failed, without reading anything, so the caller can borrow a buffer only
// when there is something to put in it. For connections that do not expose
// their socket it returns nil at once (the caller then reads with its
// buffer, as usual).
func WaitReadable(c net.Conn) error {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return waitReadable(rc)
}

// Classification of connection errors, for dial results and end reasons.
const (
	KindRefused     = "refused"
	KindReset       = "reset"
	KindTimeout     = "timeout"
	KindUnreachable = "unreachable"
	KindClosed      = "closed"
	KindOther       = "other"
)

// Classify names the kind of a connection error.
func Classify(err error) string {
	var ne net.Error
	switch {
	case err == nil:
		return ""
	case errors.Is(err, syscall.ECONNREFUSED):
		return KindRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return KindReset
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return KindTimeout
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTDOWN),
		errors.Is(err, syscall.EADDRNOTAVAIL), errors.Is(err, syscall.ENETDOWN):
		return KindUnreachable
	case errors.Is(err, net.ErrClosed):
		return KindClosed
	}
	return KindOther
}

// BufferedConn is a connection whose first bytes were read into a
// bufio.Reader (an HTTP exchange before an upgrade): reads drain the
// reader first, then go to the connection.
type BufferedConn struct {
	net.Conn
	R *bufio.Reader
}

// NetConn returns the wrapped connection (as tls.Conn.NetConn does), so
// that what lies beneath can be found (tlsbatch.Of).
func (c *BufferedConn) NetConn() net.Conn { return c.Conn }

func (c *BufferedConn) Read(p []byte) (int, error) {
	if c.R != nil {
		if c.R.Buffered() > 0 {
			return c.R.Read(p)
		}
		c.R = nil
	}
	return c.Conn.Read(p)
}

// Beneath returns the connection of type T that c is or wraps: c itself,
// or the first one of type T reached by unwrapping c through NetConn
// methods (crypto/tls's, tlsbatch's, httpedge's and BufferedConn's). It
// returns false when there is none.
func Beneath[T net.Conn](c net.Conn) (T, bool) {
	for range 8 {
		if t, ok := c.(T); ok {
			return t, true
		}
		w, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		c = w.NetConn()
	}
	var none T
	return none, false
}

// TCPBeneath returns the TCP socket beneath c (see Beneath), or nil.
func TCPBeneath(c net.Conn) net.Conn {
	if t, ok := Beneath[*net.TCPConn](c); ok {
		return t
	}
	return nil
}
