package linkmux

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
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

// TestR1CloseWithUnreadBytesResetsTheWriter: a stream closed while bytes
// the peer sent are still unread (buffered, or a frame whose body is
// still arriving) drops them, as Close says; the peer's writer, whose
// window those bytes hold, must then stop at once (a reset), as it does
// when it sends after the close. Before, the closing side sent only a
// FIN: the peer may go on writing after a FIN, so its writer waited for a
// window that never reopened, until the closing side's close timeout
// (30 s; an hour here) reset the stream. In the server, that is a
// tunnel's client reader stuck in SendData (the tunnel's close record
// and its endpoint slot with it) after the agent ended a tunnel whose
// target stopped reading.
func TestR1CloseWithUnreadBytesResetsTheWriter(t *testing.T) {
	for _, tc := range []struct {
		name     string
		midFrame bool // Close while a frame's body is still arriving
	}{
		{"buffered", false},
		{"mid-frame", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := tcpPair(t)
			pc := &pauseConn{Conn: b, left: -1, paused: make(chan struct{}), release: make(chan struct{})}
			cli, _ := Opener(a, Config{KeepAliveInterval: time.Hour})
			defer cli.Close()
			srv, _ := Acceptor(pc, Config{KeepAliveInterval: time.Hour})
			defer srv.Close()
			srv.closeT = time.Hour
			s, err := cli.Open(context.Background())
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
			arrived := make(chan struct{}, 1)
			hook := func(*Stream) { notify(arrived) }
			testHookData.Store(&hook)
			defer testHookData.Store(nil)
			if tc.midFrame {
				pc.arm(len(header{}) + 64<<10) // within the next data frame's body
			}
			wrote := make(chan error, 1)
			go func() {
				_, err := s.Write(make([]byte, 8<<20)) // more than the window
				wrote <- err
			}()
			if tc.midFrame {
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
			if tc.midFrame {
				close(pc.release)
			}
			select {
			case err := <-wrote:
				if !errors.Is(err, ErrConnectionReset) {
					t.Fatalf("the peer's write ended with %v, want a reset", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the peer's writer still waits 10 s after the stream was closed with its bytes unread (no reset: its window never reopens)")
			}
			// The link goes on: another stream carries bytes both ways.
			go echoAll(srv.Accept)
			if err := echoOnce(cli.Open, 100<<10); err != nil {
				t.Fatalf("a stream after the reset: %v", err)
			}
		})
	}
}
