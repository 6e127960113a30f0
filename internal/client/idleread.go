package client

import (
	"errors"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/postern/postern/internal/util/netutil"
	"github.com/postern/postern/internal/util/sockio"
)

// serverReader is what a tunnel's frame reader reads the server's
// connection through. Between frames, an idle tunnel waits for the
// server's next bytes on the socket beneath TLS (sockio.Socket.Wait: a
// one-byte MSG_PEEK through the runtime's poller) instead of inside
// crypto/tls's Read, whose record layer keeps a waiting goroutine's stack
// at 4 KiB or more (copyOut waits so on a goroutine that never runs TLS
// code). The server's front door does the same for its side of every
// tunnel (internal/server/frontdoor/idleread.go).
//
// Waiting on the socket is only right when crypto/tls holds no record
// that it has read but not yet delivered: held asks crypto/tls for one
// byte with the read deadline in the past, which answers from what it
// holds or fails at once with a timeout (not a lasting error in
// crypto/tls) when it would have to read the socket. The byte it gets is
// served first by Read.
type serverReader struct {
	pre   []byte          // bytes buffered by the upgrade's reader, served first
	conn  net.Conn        // the connection
	sock  sockio.Socket   // the TCP socket beneath TLS
	rc    syscall.RawConn // the same, for readableNow
	waits bool            // sock and rc are set: idle reads wait on the socket
	one   [1]byte         // a byte ready read ahead
	has   bool            // one holds a byte not yet served

	dmu      sync.Mutex // guards deadline and the connection's read deadline
	deadline time.Time  // the read deadline set by SetReadDeadline
}

// init makes r the reader of conn's server bytes, pre served first.
func (r *serverReader) init(conn net.Conn, pre []byte) {
	r.conn, r.pre = conn, pre
	if raw := netutil.TCPBeneath(conn); raw != nil {
		if rc, err := raw.(*net.TCPConn).SyscallConn(); err == nil {
			r.sock, r.rc, r.waits = sockio.Of(raw), rc, true
		}
	}
}

// Read serves the bytes read ahead, then reads the connection.
func (r *serverReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if r.has {
		p[0] = r.one[0]
		r.has = false
		return 1, nil
	}
	if len(r.pre) > 0 {
		n := copy(p, r.pre)
		r.pre = r.pre[n:]
		if len(r.pre) == 0 {
			r.pre = nil
		}
		return n, nil
	}
	return r.conn.Read(p)
}

// setDeadline sets the connection's read deadline.
func (r *serverReader) setDeadline(d time.Time) error {
	r.dmu.Lock()
	defer r.dmu.Unlock()
	r.deadline = d
	return r.conn.SetReadDeadline(d)
}

// longAgo is a read deadline in the past: a read that would wait fails at
// once with a timeout.
var longAgo = time.Unix(1, 0)

// held tells whether Read has bytes to give without waiting for the
// socket: bytes read ahead, or held by crypto/tls (a one-byte read with
// the read deadline in the past answers from those or fails at once), or
// a lasting error of crypto/tls (the Read that follows reports it). When
// it says no, the server's next bytes are to be waited for on the socket
// (sock.Wait). It is always yes for a connection that is not TLS over a
// TCP socket.
func (r *serverReader) held() bool {
	if !r.waits || r.has || len(r.pre) > 0 {
		return true
	}
	r.dmu.Lock()
	_ = r.conn.SetReadDeadline(longAgo)
	n, err := r.conn.Read(r.one[:])
	_ = r.conn.SetReadDeadline(r.deadline)
	r.dmu.Unlock()
	if n > 0 {
		r.has = true
		return true
	}
	return err != nil && !errors.Is(err, os.ErrDeadlineExceeded)
}

// waitBriefly waits at most d for the socket to have something to give
// (without reading it), then sets the read deadline back. It tells
// whether it has (or failed: err, as for sock.Wait); false when d passed.
func (r *serverReader) waitBriefly(d time.Duration) (bool, error) {
	r.dmu.Lock()
	by := time.Now().Add(d)
	if !r.deadline.IsZero() && r.deadline.Before(by) {
		by = r.deadline
	}
	_ = r.conn.SetReadDeadline(by)
	r.dmu.Unlock()
	err := r.sock.Wait()
	r.dmu.Lock()
	_ = r.conn.SetReadDeadline(r.deadline)
	r.dmu.Unlock()
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return false, nil
	}
	return true, err
}
