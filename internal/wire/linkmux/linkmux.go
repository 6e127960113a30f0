// Package linkmux multiplexes an agent's link: one TLS connection between
// the server and an endpoint agent carries a stream per tunnel, with
// per-stream flow control (a stalled tunnel does not hold up the others)
// and keepalives that detect a dead link.
//
// The choice of a multiplexed link over a connection per tunnel, and of
// the protocol and its window sizes, was made by measurement (see
// internal/bench/linkbench/RESULTS.md): yamux's protocol over one TLS
// connection per agent opens tunnels in tens of microseconds (a connection
// per tunnel needs a TLS handshake each, ~470 opens/s under load against
// ~12,000), has no head-of-line blocking between tunnels (per-stream
// windows; smux froze the link once stalled streams filled its session
// buffer), and needs no file descriptor per tunnel. The session is this
// package's own implementation of that protocol (session.go says why not
// hashicorp/yamux's): a stream holds received bytes only until they are
// read (pooled chunks, none while idle), writes its frames itself, and
// lends its received bytes to a reader that can use them in place
// (Stream.Borrow, used by tunnelproto.Conn.RecvFunc), or hands them, on
// the receive loop, to a direct reader that takes what it can without
// blocking (Stream.SetDirect: the agent writes a tunnel's bytes to its
// target's socket that way, with no wake-up of the tunnel's goroutine).
package linkmux

import (
	"context"
	"log/slog"
	"net"
	"time"

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
	// FlagDelay is how long a new stream's SYN (this side opened it) or
	// ACK (this side accepted it) waits to ride, in the same write, with
	// the stream's first frame; a stream that wrote nothing by then sends
	// it alone. Zero takes DefaultFlagDelay.
	FlagDelay time.Duration
	// Handle, when set, serves each stream the peer opens, in a goroutine
	// of its own started by the receive loop, instead of queueing it for
	// Accept: an open then wakes no accepting goroutine first (Accept
	// then only waits for the link's end).
	Handle func(net.Conn)
	Logger *slog.Logger
}

// Defaults.
const (
	DefaultKeepAlive    = 15 * time.Second
	DefaultWriteTimeout = 10 * time.Second
	DefaultStreamWindow = 1 << 20
	// DefaultFlagDelay bounds how long a stream's SYN or ACK waits for
	// the stream's first frame. A tunnel's first frame (the server's dial
	// request, the agent's dial result) follows at once or after the
	// target's dial, well within it on a network, so an open costs one
	// link record and one wake-up of the peer less each way. An accepted
	// stream whose dial hangs is still acknowledged within it: upstream
	// hashicorp/yamux stops opening after 256 unacknowledged streams.
	DefaultFlagDelay = 5 * time.Millisecond
)

// Opener makes the session of the side that opens tunnel streams (the
// server).
func Opener(conn net.Conn, cfg Config) (*Session, error) { return newSession(conn, cfg, true), nil }

// Acceptor makes the session of the side that serves tunnel streams (the
// agent).
func Acceptor(conn net.Conn, cfg Config) (*Session, error) { return newSession(conn, cfg, false), nil }

// Open opens a stream.
func (s *Session) Open(ctx context.Context) (net.Conn, error) {
	st, err := s.openStream()
	if err != nil {
		return nil, err
	}
	return st, nil
}

// Accept waits for the peer's next stream.
func (s *Session) Accept() (net.Conn, error) {
	st, err := s.accept()
	if err != nil {
		return nil, err
	}
	return st, nil
}

// Close closes the link and every stream on it.
func (s *Session) Close() error {
	s.closeWith(ErrSessionShutdown)
	return nil
}

// Done is closed when the link is gone.
func (s *Session) Done() <-chan struct{} { return s.done }

// NumStreams is the number of open streams.
func (s *Session) NumStreams() int { return s.numStreams() }

// Ping measures a round trip on the link.
func (s *Session) Ping() (time.Duration, error) { return s.ping() }

// coalesceMax is the largest body copied behind its header into one
// write (one TLS record): above it, header and body leave as one batch.
const coalesceMax = tlsbatch.Record
