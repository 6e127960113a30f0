// Package tlsbatch sends the TLS records of one large write in one system
// call. crypto/tls writes each record (at most 16 KiB of plaintext) to the
// connection beneath it on its own, so a 64 KiB tunnel write costs four
// write system calls per TLS hop, and system calls are most of a tunnel's
// CPU time (BenchmarkTunnelThroughput's profile). A Conn sits beneath a
// tls.Conn; Batch runs a write on the tls.Conn with the records held back
// and sends them together when it returns.
//
// Only how bytes are grouped into system calls changes, never their
// order: every record crypto/tls writes while a batch is open (including
// one written by another goroutine, such as an alert or a key update from
// a read) joins the batch in the order crypto/tls wrote it, and a write
// outside a batch waits for a pending batch to be sent first. crypto/tls
// calls Write with its output lock held; Conn's own lock is never held
// while waiting for that lock, so the two cannot deadlock.
package tlsbatch

import (
	"net"
	"sync"

	"github.com/postern/postern/internal/util/netutil"
	"github.com/postern/postern/internal/util/sockio"
)

// maxKept is the largest batch buffer returned to the pool: above the
// records of a bulk transfer's 256 KiB write (bufpool.BigChunk plus 16
// records' overhead), which would otherwise be allocated (and grown)
// anew for every write.
const maxKept = 1 << 20

var pool = sync.Pool{New: func() any { b := make([]byte, 0, 80<<10); return &b }}

// Conn is a raw connection beneath a tls.Conn that can hold records back.
//
// Its reads and writes of the socket go through sockio (raw system calls
// on Linux: less of the runtime's work per call).
type Conn struct {
	net.Conn
	sock sockio.Socket
	mu   sync.Mutex // guards open, buf; held while a batch is sent
	open int        // batches in progress
	buf  *[]byte    // held records, from pool while open > 0
}

// Wrap returns c as a Conn.
func Wrap(c net.Conn) *Conn { return &Conn{Conn: c, sock: sockio.Of(c)} }

// Read reads from the socket.
func (c *Conn) Read(p []byte) (int, error) { return c.sock.Read(p) }

// Of returns the Conn beneath c (a *tls.Conn, or a wrapper of one with a
// NetConn method), or nil when there is none.
func Of(c net.Conn) *Conn {
	b, _ := netutil.Beneath[*Conn](c)
	return b
}

// NetConn returns the connection beneath c (for netutil.Beneath).
func (c *Conn) NetConn() net.Conn { return c.Conn }

// Write holds p back while a batch is open; otherwise it writes it now.
func (c *Conn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open > 0 {
		*c.buf = append(*c.buf, p...)
		return len(p), nil
	}
	return c.sock.Write(p)
}

// Record is the most plaintext one TLS record carries: a write of at most
// this much is one record and one system call without a batch.
const Record = 16 << 10

// Send runs fn, which writes n bytes of plaintext to the tls.Conn above c:
// as a batch when they span several records, directly otherwise. c may be
// nil (no Conn beneath), and then fn runs directly.
func (c *Conn) Send(n int, fn func() error) error {
	if c == nil || n <= Record {
		return fn()
	}
	return c.Batch(fn)
}

// Batch runs fn, which writes to the tls.Conn above c, and sends the
// records written meanwhile in one write. It returns fn's error, or the
// send's.
func (c *Conn) Batch(fn func() error) error {
	c.mu.Lock()
	if c.open == 0 {
		c.buf = pool.Get().(*[]byte)
	}
	c.open++
	c.mu.Unlock()

	err := fn()

	c.mu.Lock()
	defer c.mu.Unlock()
	c.open--
	if c.open > 0 {
		return err // the last batch to end sends
	}
	b := c.buf
	c.buf = nil
	var werr error
	if len(*b) > 0 {
		_, werr = c.sock.Write(*b)
	}
	if cap(*b) <= maxKept {
		*b = (*b)[:0]
		pool.Put(b)
	}
	if err == nil {
		err = werr
	}
	return err
}

// Listener wraps the connections a listener accepts.
type Listener struct{ net.Listener }

// Accept returns the next connection, wrapped.
func (l Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return Wrap(c), nil
}
