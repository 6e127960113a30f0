package linkmux

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/internal/util/bufpool"
)

// pauseConn is a link whose reads stop, once armed, after a number of
// bytes, until released: the receive loop then waits in the middle of a
// frame's body.
type pauseConn struct {
	net.Conn
	mu      sync.Mutex
	left    int           // bytes still read before the pause; < 0: not armed
	paused  chan struct{} // closed when a read meets the pause
	release chan struct{}
}

func (c *pauseConn) arm(after int) {
	c.mu.Lock()
	c.left = after
	c.mu.Unlock()
}

func (c *pauseConn) Read(b []byte) (int, error) {
	c.mu.Lock()
	left := c.left
	if left == 0 {
		c.left = -1
		c.mu.Unlock()
		close(c.paused)
		<-c.release
		return c.Conn.Read(b)
	}
	if left > 0 && len(b) > left {
		b = b[:left]
	}
	c.mu.Unlock()
	n, err := c.Conn.Read(b)
	c.mu.Lock()
	if c.left > 0 {
		c.left -= n
	}
	c.mu.Unlock()
	return n, err
}

// TestR1CloseWithUnreadBytesLeavesThePeersWriterFree: a stream closed
// while bytes the peer sent are still unread (buffered, or a frame whose
// body is still arriving) drops them, as Close says; the peer's writer,
// whose window those bytes hold, must not wait for it. Before R1, the
// closing side sent only a FIN: the peer may go on writing after a FIN,
// so its writer waited for a window that never reopened, until the
// closing side's close timeout (30 s; an hour here) reset the stream. In
// the server, that is a tunnel's client reader stuck in SendData (the
// tunnel's close record and its endpoint slot with it) after the agent
// ended a tunnel whose target stopped reading. R1 reset the stream
// instead, which loses the frame sent before the close at a peer on
// upstream yamux (TestR3UpstreamReaderGetsTheFrameSentBeforeACloseWithUnreadBytes);
// now the close gives the window back and the stream drains: the
// writer's whole write goes through (dropped), it then reads the FIN
// (EOF), its own close ends the stream gracefully on both sides, and the
// dropped bytes were never buffered. Against this package's session and
// upstream yamux as the writer.
func TestR1CloseWithUnreadBytesLeavesThePeersWriterFree(t *testing.T) {
	for _, peer := range []string{"ours", "upstream"} {
		for _, tc := range []struct {
			name     string
			midFrame bool // Close while a frame's body is still arriving
		}{
			{"buffered", false},
			{"mid-frame", true},
		} {
			t.Run(peer+"/"+tc.name, func(t *testing.T) {
				testCloseWithUnreadBytes(t, peer, tc.midFrame)
			})
		}
	}
}

func testCloseWithUnreadBytes(t *testing.T, peer string, midFrame bool) {
	a, b := tcpPair(t)
	pc := &pauseConn{Conn: b, left: -1, paused: make(chan struct{}), release: make(chan struct{})}
	side := ours
	if peer == "upstream" {
		side = upstream
	}
	open, _ := side(t, a, true)
	srv, _ := Acceptor(pc, Config{KeepAliveInterval: time.Hour})
	defer srv.Close()
	srv.closeT = time.Hour
	s, err := open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write([]byte{1}); err != nil {
		t.Fatal(err)
	}
	sr, err := srv.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(sr, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	st := sr.(*Stream)
	lent := bufpool.Lent()
	arrived := make(chan struct{}, 1)
	hook := func(*Stream) { notify(arrived) }
	testHookData.Store(&hook)
	defer testHookData.Store(nil)
	if midFrame {
		pc.arm(len(header{}) + 64<<10) // within the next data frame's body
	}
	const n = 8 << 20 // more than the window
	wrote := make(chan error, 1)
	go func() {
		k, err := s.Write(make([]byte, n))
		if err == nil && k != n {
			err = fmt.Errorf("wrote %d of %d bytes", k, n)
		}
		wrote <- err
	}()
	if midFrame {
		select {
		case <-pc.paused:
		case <-time.After(10 * time.Second):
			t.Fatal("the frame never arrived")
		}
	} else {
		for { // until the window is used up: bounded by the writer's 8 MiB
			st.mu.Lock()
			full := st.buffered == DefaultStreamWindow
			st.mu.Unlock()
			if full {
				break
			}
			select {
			case <-arrived:
			case <-time.After(10 * time.Second):
				t.Fatal("the window was not used up")
			}
		}
	}
	if err := sr.Close(); err != nil {
		t.Fatal(err)
	}
	if midFrame {
		close(pc.release)
	}
	select {
	case err := <-wrote:
		if err != nil {
			t.Fatalf("the peer's write ended with %v; want all of it through (dropped), not a reset", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the peer's writer still waits 10 s after the stream was closed with its bytes unread (its window never reopens)")
	}
	_ = s.SetReadDeadline(time.Now().Add(10 * time.Second))
	if k, err := s.Read(make([]byte, 1)); k != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("the peer read %d bytes, %v; want EOF (the close's FIN)", k, err)
	}
	// Every byte the writer wrote was received (its write returned only
	// as the window reopened), none kept.
	if d := bufpool.Lent() - lent; d != 0 {
		t.Errorf("%d buffers held for the dropped bytes", d)
	}
	// The peer's close ends the stream as a graceful close does.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	waitState(t, st, stateClosed)
	if _, err := srv.Ping(); err != nil { // the FIN's frame was handled whole
		t.Fatal(err)
	}
	if k := srv.NumStreams(); k != 0 {
		t.Fatalf("%d streams left in the session", k)
	}
	if ps, ok := s.(*Stream); ok {
		ps.mu.Lock()
		state := ps.state
		ps.mu.Unlock()
		if state == stateReset {
			t.Fatal("the peer's stream was reset")
		}
	}
	// The link goes on: another stream carries bytes both ways.
	go echoAll(srv.Accept)
	if err := echoOnce(open, 100<<10); err != nil {
		t.Fatalf("a stream after the close: %v", err)
	}
}

// waitState waits up to 10 s for st to reach state (a reset, unless
// wanted, fails at once).
func waitState(t *testing.T, st *Stream, state int) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		st.mu.Lock()
		now := st.state
		st.mu.Unlock()
		if now == state {
			return
		}
		if now == stateReset {
			t.Fatalf("the stream was reset; want state %d", state)
		}
		select {
		case <-st.recvNotify:
		case <-deadline:
			t.Fatalf("the stream still in state %d after 10 s; want %d", now, state)
		}
	}
}
