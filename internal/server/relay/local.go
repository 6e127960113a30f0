package relay

import (
	"context"
	"errors"
	"io"
	"maps"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/postern/postern/internal/agent/egress"
	"github.com/postern/postern/internal/agent/targetdial"
	"github.com/postern/postern/internal/util/bufpool"
	"github.com/postern/postern/internal/util/netutil"
	"github.com/postern/postern/internal/util/sockio"
	"github.com/postern/postern/internal/wire/tunnelproto"
)

// localAgent is the embedded agent: it dials targets from the server's
// own process.
type localAgent struct {
	policy      egress.Policy
	dialTimeout time.Duration

	mu      sync.Mutex
	streams map[*localStream]struct{}
	// ended is closeAll's reason once it ran. Its agent is then out of
	// the relay for good (a new AddLocal makes a new localAgent), but an
	// open that chose it before, or whose dial was running meanwhile,
	// registers its stream after closeAll collected the others: open
	// ends such a stream at once, as closeAll ended those.
	ended *tunnelproto.EndReason
}

func (a *localAgent) open(ctx context.Context, req tunnelproto.DialRequest) (Stream, error) {
	conn, res := targetdial.Dial(ctx, a.policy, req, a.dialTimeout)
	if conn == nil {
		return nil, &DialError{Code: res.Code, Message: res.Message}
	}
	s := &localStream{conn: conn, sock: sockio.Of(conn), owner: a}
	a.mu.Lock()
	a.streams[s] = struct{}{}
	ended := a.ended
	a.mu.Unlock()
	if ended != nil {
		s.abort(ended) // closeAll ran while it dialled: not one byte flows
	}
	return s, nil
}

func (a *localAgent) closeAll(code, msg string) {
	a.mu.Lock()
	if a.ended == nil {
		a.ended = &tunnelproto.EndReason{Code: code, Message: msg}
	}
	ss := slices.Collect(maps.Keys(a.streams))
	a.mu.Unlock()
	for _, s := range ss {
		s.abort(&tunnelproto.EndReason{Code: code, Message: msg})
	}
}

// localStream is a Stream straight onto the target's TCP connection.
type localStream struct {
	conn  net.Conn
	sock  sockio.Socket // reads and writes conn
	owner *localAgent

	mu    sync.Mutex
	ended *tunnelproto.EndReason // set by abort
	// wrote: why a write to the target failed (TargetWriteError), said
	// by Recv in place of the EOF that follows it.
	wrote    *tunnelproto.EndReason
	pending  error // an error to report after data
	full     bool  // the last read brought 64 KiB or more: a bulk transfer
	closeOne sync.Once
}

func (s *localStream) endReason() *tunnelproto.EndReason {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ended
}

func (s *localStream) Recv(get func(n int) []byte) ([]byte, error) {
	if s.pending != nil {
		err := s.pending
		s.pending = nil
		return nil, err
	}
	// No buffer while the target is silent, even right after a burst.
	if err := s.sock.Wait(); err != nil {
		return nil, s.mapErr(err)
	}
	want := bufpool.Chunk
	if s.full {
		// A bulk transfer: read what is there into a big buffer at once.
		want = bufpool.BigChunk
	}
	buf := get(want)
	n, err := s.sock.Read(buf)
	s.full = n >= bufpool.Chunk
	if n > 0 {
		if err != nil {
			s.pending = s.mapErr(err)
		}
		return buf[:n], nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return nil, s.mapErr(err)
}

func (s *localStream) mapErr(err error) error {
	if r := s.endReason(); r != nil {
		return r
	}
	switch {
	case errors.Is(err, io.EOF):
		if r := s.wroteReason(); r != nil {
			return r
		}
		return io.EOF
	case netutil.Classify(err) == netutil.KindReset:
		return &tunnelproto.EndReason{Code: tunnelproto.CodeTargetReset, Message: "The target reset the connection"}
	}
	return &tunnelproto.EndReason{Code: tunnelproto.CodeTargetError, Message: "Connection to the target failed: " + err.Error()}
}

func (s *localStream) SendData(frame []byte) error {
	_, err := s.sock.Write(frame[tunnelproto.HeaderLen:])
	if err == nil {
		return nil
	}
	mapped := s.mapErr(err)
	r, ok := mapped.(*tunnelproto.EndReason)
	if !ok || s.endReason() != nil {
		return mapped // abort's reason (revocation, shutdown)
	}
	// The target's failure. A write to a target that reset takes the
	// socket's error, and the reader then sees its last bytes and only
	// EOF: Recv says r after them, as an agent's End follows its last
	// Data, so that the target's answer before its reset reaches the
	// client (the reader decides; TargetWriteError).
	s.mu.Lock()
	if s.wrote == nil {
		s.wrote = r
	}
	s.mu.Unlock()
	return &TargetWriteError{Reason: r, Err: err}
}

func (s *localStream) wroteReason() *tunnelproto.EndReason {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.wrote
}

// TargetWriteError is the embedded agent's write to the target that
// failed. It is not a *tunnelproto.EndReason: the stream's reader still
// gets the target's last bytes and then Reason (Recv), and decides the
// end; Reason is the end when the reader cannot say it in time.
type TargetWriteError struct {
	Reason *tunnelproto.EndReason
	Err    error // the socket's
}

func (e *TargetWriteError) Error() string { return "writing to the target: " + e.Err.Error() }

// Unwrap returns the socket's error.
func (e *TargetWriteError) Unwrap() error { return e.Err }

func (s *localStream) SendEOF() error { return sockio.CloseWrite(s.conn) }

func (s *localStream) SendEnd(code, message string) error {
	if tc, ok := s.conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	return s.Close()
}

// abort ends the stream from the agent's side (revocation, shutdown).
func (s *localStream) abort(r *tunnelproto.EndReason) {
	s.mu.Lock()
	if s.ended == nil {
		s.ended = r
	}
	s.mu.Unlock()
	s.Close()
}

func (s *localStream) Close() error {
	s.closeOne.Do(func() {
		s.owner.mu.Lock()
		delete(s.owner.streams, s)
		s.owner.mu.Unlock()
		s.conn.Close()
	})
	return nil
}
