// Package linkmux multiplexes an agent's link: one TLS connection between
// the server and an endpoint agent carries a stream per tunnel, with
// per-stream flow control (a stalled tunnel does not hold up the others)
// and keepalives that detect a dead link.
//
// The choice of a multiplexed link over a connection per tunnel, and of
// the multiplexer and its window sizes, was made by measurement: see
// internal/bench/linkbench/RESULTS.md.
package linkmux

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/hashicorp/yamux"
	"github.com/xtaci/smux"
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
	m muxer
}

// muxer is what a multiplexer library gives a Session.
type muxer interface {
	open() (net.Conn, error)
	accept() (net.Conn, error)
	close() error
	done() <-chan struct{}
	numStreams() int
	ping() (time.Duration, error)
}

type yamuxSession struct{ s *yamux.Session }

func (m yamuxSession) open() (net.Conn, error)      { return m.s.OpenStream() }
func (m yamuxSession) accept() (net.Conn, error)    { return m.s.AcceptStream() }
func (m yamuxSession) close() error                 { return m.s.Close() }
func (m yamuxSession) done() <-chan struct{}        { return m.s.CloseChan() }
func (m yamuxSession) numStreams() int              { return m.s.NumStreams() }
func (m yamuxSession) ping() (time.Duration, error) { return m.s.Ping() }

// useSmux picks the multiplexer (POSTERN_LINKMUX=smux|yamux) until the
// measurement settles it.
var useSmux = os.Getenv("POSTERN_LINKMUX") == "smux"

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
	y.StreamOpenTimeout = 30 * time.Second
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
	if useSmux {
		s, err := smux.Client(conn, cfg.smux())
		if err != nil {
			return nil, err
		}
		return &Session{m: smuxSession{s}}, nil
	}
	s, err := yamux.Client(conn, cfg.yamux())
	if err != nil {
		return nil, err
	}
	return &Session{m: yamuxSession{s}}, nil
}

// Acceptor makes the session of the side that serves tunnel streams (the
// agent).
func Acceptor(conn net.Conn, cfg Config) (*Session, error) {
	if useSmux {
		s, err := smux.Server(conn, cfg.smux())
		if err != nil {
			return nil, err
		}
		return &Session{m: smuxSession{s}}, nil
	}
	s, err := yamux.Server(conn, cfg.yamux())
	if err != nil {
		return nil, err
	}
	return &Session{m: yamuxSession{s}}, nil
}

// Open opens a stream.
func (s *Session) Open(ctx context.Context) (net.Conn, error) { return s.m.open() }

// Accept waits for the peer's next stream.
func (s *Session) Accept() (net.Conn, error) { return s.m.accept() }

// Close closes the link and every stream on it.
func (s *Session) Close() error { return s.m.close() }

// Done is closed when the link is gone.
func (s *Session) Done() <-chan struct{} { return s.m.done() }

// NumStreams is the number of open streams.
func (s *Session) NumStreams() int { return s.m.numStreams() }

// Ping measures a round trip on the link.
func (s *Session) Ping() (time.Duration, error) { return s.m.ping() }
