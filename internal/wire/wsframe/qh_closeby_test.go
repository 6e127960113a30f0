package wsframe

import (
	"errors"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"
)

// stuckPair is a loopback TCP connection whose far end never reads (its
// window fills), and the far end.
func stuckPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	far, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); far.Close() })
	return c, far
}

// countConn counts the bytes written to it.
type countConn struct {
	net.Conn
	n atomic.Int64
}

func (c *countConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// CloseBy does not wait for a peer that stopped reading past its
// deadline: not while a data write holds the writer (waiting for the
// peer's window, up to WriteTimeout), and not for its own frame; the
// data write ends then too. A peer that reads gets the close frame with
// its code and reason. (Close, with no deadline of its own, waits for
// the held write: WriteTimeout, 60 s.)
func TestQHCloseByEndsByItsDeadline(t *testing.T) {
	const bound = 10 * time.Second // far above the deadline, far below WriteTimeout
	t.Run("peer stopped reading", func(t *testing.T) {
		raw, _ := stuckPair(t)
		c := &countConn{Conn: raw}
		w := NewWriter(c, false)
		wrote := make(chan error, 1)
		go func() {
			buf := make([]byte, MaxHeader+1<<20)
			for {
				if err := w.WriteData(buf, MaxHeader); err != nil {
					wrote <- err
					return
				}
			}
		}()
		// The data writes fill the window and one waits, holding the
		// writer: a bounded wait for the bytes written to stop growing.
		last, still := int64(-1), 0
		for i := 0; still < 5; i++ {
			if i == 1000 {
				t.Fatal("the data writes never waited for the peer")
			}
			n := c.n.Load()
			if n > 0 && n == last {
				still++
			} else {
				still = 0
			}
			last = n
			<-time.After(10 * time.Millisecond)
		}
		closed := make(chan error, 1)
		go func() { closed <- w.CloseBy(CloseGoingAway, "stopping", time.Now().Add(200*time.Millisecond)) }()
		select {
		case err := <-closed:
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("CloseBy to a peer that stopped reading: %v, want a deadline error", err)
			}
		case <-time.After(bound):
			t.Fatalf("CloseBy did not return within %v", bound)
		}
		select {
		case err := <-wrote:
			if !errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, ErrClosed) {
				t.Errorf("the held data write ended with %v, want a deadline error", err)
			}
		case <-time.After(bound):
			t.Fatalf("the held data write did not end within %v", bound)
		}
	})
	t.Run("peer reads", func(t *testing.T) {
		c, far := stuckPair(t)
		w := NewWriter(c, false)
		if err := w.CloseBy(ClosePolicyViolation, "revoked", time.Now().Add(bound)); err != nil {
			t.Fatal(err)
		}
		_ = far.SetReadDeadline(time.Now().Add(bound))
		fr, err := NewReader(far, false).Next()
		if err != nil {
			t.Fatal(err)
		}
		if fr.Kind != KindClose || fr.Code != ClosePolicyViolation || fr.Reason != "revoked" {
			t.Errorf("the peer read %+v, want close %d %q", fr, ClosePolicyViolation, "revoked")
		}
		if err := w.WriteData(make([]byte, MaxHeader+1), MaxHeader); !errors.Is(err, ErrClosed) {
			t.Errorf("a write after CloseBy: %v, want ErrClosed", err)
		}
	})
}
