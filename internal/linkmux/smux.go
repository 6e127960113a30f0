package linkmux

import (
	"net"
	"time"

	"github.com/xtaci/smux"
)

// smuxConfig is the smux configuration: protocol version 2 (per-stream
// windows, so a tunnel whose reader stalls holds only its own window), the
// largest frames smux allows, and a session-wide receive budget so large
// that it never limits (memory is bounded by the per-stream windows).
func (c Config) smux() *smux.Config {
	s := smux.DefaultConfig()
	s.Version = 2
	s.KeepAliveInterval = c.KeepAliveInterval
	if s.KeepAliveInterval <= 0 {
		s.KeepAliveInterval = DefaultKeepAlive
	}
	s.KeepAliveTimeout = 3 * s.KeepAliveInterval
	s.MaxFrameSize = 65535
	s.MaxStreamBuffer = int(c.StreamWindow)
	if s.MaxStreamBuffer < 256<<10 {
		s.MaxStreamBuffer = DefaultStreamWindow
	}
	s.MaxReceiveBuffer = 1 << 30
	return s
}

type smuxSession struct{ s *smux.Session }

func (m smuxSession) open() (net.Conn, error) { return m.s.OpenStream() }
func (m smuxSession) accept() (net.Conn, error) {
	return m.s.AcceptStream()
}
func (m smuxSession) close() error                 { return m.s.Close() }
func (m smuxSession) done() <-chan struct{}        { return m.s.CloseChan() }
func (m smuxSession) numStreams() int              { return m.s.NumStreams() }
func (m smuxSession) ping() (time.Duration, error) { return 0, nil }
