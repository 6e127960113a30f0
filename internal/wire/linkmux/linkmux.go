// Package linkmux multiplexes an agent's link: one TLS connection between
// the server and an endpoint agent carries a stream per tunnel, with
// per-stream flow control (a stalled tunnel does not hold up the others)
// and keepalives that detect a dead link.
//
// The choice of a multiplexed link over a connection per tunnel, and of
// the multiplexer and its window sizes, was made by measurement (see
// internal/bench/linkbench/RESULTS.md): yamux over one TLS connection per
// agent opens tunnels in tens of microseconds (a connection per tunnel
// needs a TLS handshake each, ~470 opens/s under load against ~12,000),
// has no head-of-line blocking between tunnels (per-stream windows; smux
// froze the link once stalled streams filled its session buffer), keeps
// 4–6 KiB per idle tunnel per side when streams shrink their buffers
// (tunnelproto.Conn.Shrink), and needs no file descriptor per tunnel. It
// costs about 30% of one tunnel's throughput against a dedicated TLS
// connection. Two additions: coalesceConn merges yamux's separate header
// writes with small bodies, and owners shrink idle streams periodically.
package linkmux

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/hashicorp/yamux"

	"github.com/postern/postern/internal/wire/tlsbatch"
)

// Config tunes a session. Zero values take the defaults.
type Config struct {
	// KeepAliveInterval is how often an idle link is probed; a probe left
	// unanswered for ConnectionWriteTimeout kills the link.
	KeepAliveInterval time.Duration
	// WriteTimeout bounds a blocked write on the link.
	WriteTimeout time.Duration
	// StreamWindow is each stream's receive window, which bounds the
	// memory a busy tunnel buffers and its throughput per round trip.
	StreamWindow uint32
	Logger       *slog.Logger
}

// Defaults.
const (
	DefaultKeepAlive    = 15 * time.Second
	DefaultWriteTimeout = 10 * time.Second
	DefaultStreamWindow = 1 << 20
)

// Session is one end of a multiplexed link.
type Session struct {
	s *yamux.Session
}

func (c Config) yamux() *yamux.Config {
	y := yamux.DefaultConfig()
	y.EnableKeepAlive = true
	y.KeepAliveInterval = c.KeepAliveInterval
	if y.KeepAliveInterval <= 0 {
		y.KeepAliveInterval = DefaultKeepAlive
	}
	y.ConnectionWriteTimeout = c.WriteTimeout
	if y.ConnectionWriteTimeout <= 0 {
		y.ConnectionWriteTimeout = DefaultWriteTimeout
	}
	y.MaxStreamWindowSize = c.StreamWindow
	if y.MaxStreamWindowSize < 256<<10 {
		y.MaxStreamWindowSize = DefaultStreamWindow
	}
	y.AcceptBacklog = 1024
	// The agent accepts a stream at once and dials afterwards.
	y.StreamOpenTimeout = 10 * time.Second
	y.StreamCloseTimeout = 30 * time.Second
	y.LogOutput = nil
	if c.Logger != nil {
		y.Logger = slog.NewLogLogger(c.Logger.Handler(), slog.LevelDebug)
	} else {
		y.LogOutput = io.Discard
	}
	return y
}

// Opener makes the session of the side that opens tunnel streams (the
// server).
func Opener(conn net.Conn, cfg Config) (*Session, error) {
	s, err := yamux.Client(newCoalesceConn(conn), cfg.yamux())
	if err != nil {
		return nil, err
	}
	return &Session{s: s}, nil
}

// Acceptor makes the session of the side that serves tunnel streams (the
// agent).
func Acceptor(conn net.Conn, cfg Config) (*Session, error) {
	s, err := yamux.Server(newCoalesceConn(conn), cfg.yamux())
	if err != nil {
		return nil, err
	}
	return &Session{s: s}, nil
}

// Open opens a stream.
func (s *Session) Open(ctx context.Context) (net.Conn, error) { return s.s.OpenStream() }

// Accept waits for the peer's next stream.
func (s *Session) Accept() (net.Conn, error) { return s.s.AcceptStream() }

// Close closes the link and every stream on it.
func (s *Session) Close() error { return s.s.Close() }

// Done is closed when the link is gone.
func (s *Session) Done() <-chan struct{} { return s.s.CloseChan() }

// NumStreams is the number of open streams.
func (s *Session) NumStreams() int { return s.s.NumStreams() }

// Ping measures a round trip on the link.
func (s *Session) Ping() (time.Duration, error) { return s.s.Ping() }

// coalesceConn merges a yamux data-frame header, which yamux's send loop
// writes on its own (a TLS record and a system call of 12 bytes), with the
// body written right after it, when the body fits one TLS record (16 KiB):
// the interactive case, where the extra record doubles the work (open p50
// 75 → 62 µs, echo round trips under load about halved; linkbench). Larger
// bodies pass through, as copying them costs more than the record saves.
// It changes only how bytes are grouped into Writes, never their order.
// TestCoalesceConn guards yamux's write pattern across upgrades.
//
// When the connection is a tls.Conn over a tlsbatch.Conn, a larger body
// and its header go out as one batch instead: the header's record and the
// body's records in one system call, without copying the body.
type coalesceConn struct {
	net.Conn
	batch *tlsbatch.Conn // beneath Conn's TLS, or nil
	buf   []byte
	held  bool
	large bool // the held header's body is larger than coalesceMax
}

func newCoalesceConn(c net.Conn) *coalesceConn {
	return &coalesceConn{Conn: c, batch: tlsbatch.Of(c)}
}

const (
	yamuxHeaderLen = 12
	yamuxTypeData  = 0
	coalesceMax    = tlsbatch.Record
)

func (c *coalesceConn) Write(b []byte) (int, error) {
	if !c.held && len(b) == yamuxHeaderLen && b[1] == yamuxTypeData {
		n := binary.BigEndian.Uint32(b[8:])
		if n == 0 || n > coalesceMax && c.batch == nil {
			return c.Conn.Write(b)
		}
		c.buf = append(c.buf[:0], b...)
		c.held, c.large = true, n > coalesceMax
		return len(b), nil
	}
	if c.held && c.large {
		// Header and a body of several TLS records, in one system call.
		c.held = false
		err := c.batch.Batch(func() error {
			if _, err := c.Conn.Write(c.buf); err != nil {
				return err
			}
			_, err := c.Conn.Write(b)
			return err
		})
		if err != nil {
			return 0, err
		}
		return len(b), nil
	}
	if c.held {
		c.held = false
		c.buf = append(c.buf, b...)
		if _, err := c.Conn.Write(c.buf); err != nil {
			return 0, err
		}
		return len(b), nil
	}
	return c.Conn.Write(b)
}
