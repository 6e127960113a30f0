package frontdoor

import (
	"errors"
	"io"
	"net"
	"os"
	"time"

	"github.com/postern/postern/internal/util/netutil"
	"github.com/postern/postern/internal/util/sockio"
)

// clientReader is what a tunnel's frame reader reads the client's
// connection through. Between frames, an idle tunnel's reading goroutine
// waits for the client's next bytes on the socket beneath TLS
// (sockio.Socket.Wait: a one-byte MSG_PEEK through the runtime's
// poller) instead of inside crypto/tls's Read. A goroutine parked inside
// crypto/tls's record reader keeps at least a 4 KiB stack (it uses more
// than 1 KiB there, the quarter of 4 KiB below which a collection halves
// a stack); parked on the socket it uses less and the collector shrinks
// it to the 2 KiB minimum. Measured with BenchmarkConcurrentTunnels
// (internal/bench/tunnelbench).
//
// Waiting on the socket is only right when crypto/tls holds no record
// that it has read but not yet delivered: wait first asks crypto/tls for
// one byte with the read deadline in the past, which answers from what it
// holds or fails at once with a timeout (not a lasting error in
// crypto/tls) when it would have to read the socket. The byte it gets is
// served first by Read.
type clientReader struct {
	src  io.Reader     // the connection (or buffered bytes, then it)
	conn net.Conn      // the connection, for its read deadline
	raw  net.Conn      // the TCP socket beneath TLS, nil: no waiting
	sock sockio.Socket // raw's (setRaw)
	one  [1]byte       // a byte wait read ahead
	has  bool          // one holds a byte not yet served
}

// setRaw sets the socket wait waits on (nil: wait does not wait).
func (c *clientReader) setRaw(raw net.Conn) {
	c.raw = raw
	if raw != nil {
		c.sock = sockio.Of(raw)
	}
}

// Read serves the byte wait read ahead, then reads src.
func (c *clientReader) Read(p []byte) (int, error) {
	if c.has && len(p) > 0 {
		p[0] = c.one[0]
		c.has = false
		return 1, nil
	}
	return c.src.Read(p)
}

// longAgo is a read deadline in the past: a read that would wait fails at
// once with a timeout.
var longAgo = time.Unix(1, 0)

// wait returns once the client's connection has bytes for Read, has
// ended or failed (Read then says which), or its read deadline passed.
// restore sets the connection's read deadline back (the tunnel's
// deadline may have been changed meanwhile by finish). A nil error does
// not promise that Read will not block: bytes arrived, maybe only part of
// a record.
func (c *clientReader) wait(restore func()) error {
	if c.held(restore) {
		return nil
	}
	// A raw MSG_PEEK on Linux: an ordinary system call here (once per
	// WebSocket frame) woke the runtime's sysmon, which then polled every
	// 20 µs (internal/util/sockio).
	return c.sock.Wait()
}

// held tells whether Read has something to give without waiting for the
// socket: a byte read ahead, a record crypto/tls holds, or a lasting error
// of crypto/tls (the Read that follows reports it). It is always yes for
// a connection with no socket to wait on (raw nil). restore is as for
// wait. When it says no, the client's next bytes are to be waited for on
// the socket (sock.Wait, or the tunnel's sockwait.Waiter).
func (c *clientReader) held(restore func()) bool {
	if c.raw == nil || c.has {
		return true
	}
	_ = c.conn.SetReadDeadline(longAgo)
	n, err := c.conn.Read(c.one[:])
	restore()
	if n > 0 {
		c.has = true
		return true
	}
	return err != nil && !errors.Is(err, os.ErrDeadlineExceeded)
}

// waitBriefly waits at most d for the socket to have something to give
// (without reading it), then sets the read deadline back (restore). It
// tells whether it has (or failed: the Read that follows reports it);
// false when d passed.
func (c *clientReader) waitBriefly(d time.Duration, restore func()) bool {
	_ = c.conn.SetReadDeadline(time.Now().Add(d))
	err := c.sock.Wait()
	restore()
	return !errors.Is(err, os.ErrDeadlineExceeded)
}

// goneWatch watches a client's connection while its attempt's dial runs
// (serveTunnel), for the client closing or resetting it, without reading
// a byte of it: what the client sends before its tunnel is recorded stays
// in the socket for the tunnel to read. Where it cannot watch (not a TCP
// socket, such as the console's in-memory connection, or not Linux) a
// client that leaves is noticed when its tunnel first reads, and the dial
// runs to its own timeout.
type goneWatch struct {
	raw  net.Conn // the TCP socket watched
	done chan struct{}
	gone error // why the client is gone (set before done closes); nil: stopped first
}

// watchGone starts watching conn; onGone is called once, from the
// watching goroutine, as soon as the client is gone. A nil *goneWatch
// (nothing to watch) is valid: its stop returns nil.
func watchGone(conn net.Conn, onGone func()) *goneWatch {
	raw := netutil.TCPBeneath(conn)
	if !canWatchGone || raw == nil {
		return nil
	}
	w := &goneWatch{raw: raw, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		if gone := waitPeerGone(raw); gone != nil {
			w.gone = gone
			onGone()
		}
	}()
	return w
}

// clientGoneNow tells, without waiting, whether the client of conn has
// closed or reset its connection by now (nil: not, or it cannot be told
// here): serveTunnel's look in place of a watch (watchGone) when the
// dial answered before the record committed.
func clientGoneNow(conn net.Conn) error {
	raw := netutil.TCPBeneath(conn)
	if !canWatchGone || raw == nil {
		return nil
	}
	return peerGone(raw)
}

// stop ends the watch and reports why the client is gone, or nil. It
// leaves the connection without a read deadline, as the upgrader did.
// A watch stopped before its goroutine first looked (the dial answered
// at once) has looked at nothing: the read deadline in the past fails
// the wait before it asks the socket. So stop looks once more itself
// (peerGone), and a client that left before the watch began is not taken
// for present.
func (w *goneWatch) stop() error {
	if w == nil {
		return nil
	}
	_ = w.raw.SetReadDeadline(longAgo) // ends the wait
	<-w.done
	_ = w.raw.SetReadDeadline(time.Time{})
	if w.gone == nil {
		w.gone = peerGone(w.raw)
	}
	return w.gone
}
