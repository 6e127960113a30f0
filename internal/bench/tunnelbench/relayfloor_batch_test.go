package tunnelbench

import (
	"crypto/tls"
	"errors"
	"net"
	"os"
	"time"
)

// The batched relay floor: the same chain, with what any crypto/tls relay
// can do about system calls (no Postern code either):
//
//   - writes: the TLS records of one 256 KiB write (16 of them) leave in
//     one write(2), not one each (flushConn);
//   - reads: after a blocking read, the records crypto/tls already holds
//     (its raw reads take what the socket has, often several records) are
//     read too, without waiting, up to the buffer's size, so a TLS → TCP
//     hop writes up to 256 KiB per write(2), not one record's 16 KiB
//     (drainHeld).

// relayBatchEnv set to "1" makes a relay hop batch (flushConn, drainHeld).
const relayBatchEnv = "POSTERN_TUNNELBENCH_RELAY_BATCH"

// flushConn gathers a connection's writes, once batch is set (after the
// TLS handshake, whose flights crypto/tls flushes itself), until Flush.
type flushConn struct {
	net.Conn
	batch bool
	buf   []byte
}

func (c *flushConn) Write(p []byte) (int, error) {
	if !c.batch {
		return c.Conn.Write(p)
	}
	c.buf = append(c.buf, p...)
	return len(p), nil
}

// Flush writes what was gathered in one write.
func (c *flushConn) Flush() error {
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.buf)
	c.buf = c.buf[:0]
	return err
}

// batchedTLS is a TLS connection over a flushConn, handshake done.
type batchedTLS struct {
	*tls.Conn
	raw *flushConn
}

// newBatchedTLS wraps raw (client or server side) and completes the
// handshake before batching starts.
func newBatchedTLS(raw net.Conn, cfg *tls.Config, server bool) (*batchedTLS, error) {
	fc := &flushConn{Conn: raw, buf: make([]byte, 0, relayBuf+relayBuf/8)}
	var c *tls.Conn
	if server {
		c = tls.Server(fc, cfg)
	} else {
		c = tls.Client(fc, cfg)
	}
	if err := c.Handshake(); err != nil {
		return nil, err
	}
	fc.batch = true
	return &batchedTLS{Conn: c, raw: fc}, nil
}

func (c *batchedTLS) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if err != nil {
		return n, err
	}
	return n, c.raw.Flush()
}

// CloseWrite sends close_notify now: unbatched, because crypto/tls sets
// the write deadline to the present right after queueing the alert.
func (c *batchedTLS) CloseWrite() error {
	err := c.raw.Flush()
	c.raw.batch = false
	return errors.Join(err, c.Conn.CloseWrite())
}

// past is a read deadline that has passed: a read with it returns what
// crypto/tls holds (whole records already read from the socket), else a
// timeout, which crypto/tls treats as temporary.
var past = time.Unix(1, 0)

// drainHeld reads, after a first read brought n bytes into buf, what the
// connection holds without waiting, and returns the new total. c is a
// batched or a tuned TLS side (batchedTLS, tunedTLS): a past read
// deadline makes crypto/tls return what it holds.
func drainHeld(c net.Conn, buf []byte, n int) int {
	if c.SetReadDeadline(past) != nil {
		return n
	}
	for n < len(buf) {
		m, err := c.Read(buf[n:])
		n += m
		if err != nil {
			break // a timeout (nothing held), or an error the next read gets again
		}
	}
	_ = c.SetReadDeadline(time.Time{})
	return n
}

// relayBatched tells whether this relay hop batches (relayBatchEnv).
func relayBatched() bool { return os.Getenv(relayBatchEnv) == "1" }
