package linkmux

import (
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// gatedConn is a link whose writes wait, as on a full send buffer, until
// the gate opens or the write deadline passes.
type gatedConn struct {
	net.Conn
	mu   sync.Mutex
	gate chan struct{} // closed: writes go through
	wdl  time.Time
}

// hold makes writes wait; release lets them through.
func (c *gatedConn) hold() {
	c.mu.Lock()
	c.gate = make(chan struct{})
	c.mu.Unlock()
}

func (c *gatedConn) release() {
	c.mu.Lock()
	close(c.gate)
	c.mu.Unlock()
}

func (c *gatedConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.wdl = t
	c.mu.Unlock()
	return c.Conn.SetWriteDeadline(t)
}

func (c *gatedConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	dl, gate := c.wdl, c.gate
	c.mu.Unlock()
	var timeout <-chan time.Time
	if !dl.IsZero() {
		t := time.NewTimer(time.Until(dl))
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-gate:
	case <-timeout:
		return 0, os.ErrDeadlineExceeded
	}
	return c.Conn.Write(b)
}

// The receive loop never waits on a write: with the link's writes held
// (a full send buffer, no writer holding the write lock), a direct
// reader's stream whose window update falls due does not stop the
// receive loop, and a second stream's bytes still arrive. No update is
// lost: once writes go through, the peer is given back every byte the
// direct reader took, in updates that add up to exactly that (several
// frames' worth merged while the first update waited).
func TestWindowUpdateNeverStallsTheReceiveLoop(t *testing.T) {
	for _, tc := range []struct {
		name string
		// data frames on stream 1 while writes are held; each half
		// window makes an update due, and they add up to whole ones
		frames []int
	}{
		{"one update", []int{initialWindow / 2}},
		{"due again while the first waits", []int{initialWindow / 2, initialWindow / 2}},
		{"small frames", []int{initialWindow / 4, initialWindow / 4, initialWindow / 2}},
		{"below half then due", []int{initialWindow/2 - 1, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := tcpPair(t)
			link := &gatedConn{Conn: a, gate: make(chan struct{})}
			link.release()
			// A write held for the write timeout ends the link: the
			// receive loop waited on it.
			srv, _ := Acceptor(link, Config{KeepAliveInterval: time.Hour, StreamWindow: initialWindow})
			defer srv.Close()
			// The raw peer opens streams 1 and 3; this side answers
			// each (its ACK rides with one byte), then reads directly.
			var streams [2]*Stream
			took := [2]*atomic.Int64{new(atomic.Int64), new(atomic.Int64)}
			arrived := make(chan struct{}, 1)
			for i, id := range []uint32{1, 3} {
				if _, err := b.Write(frame(typeData, flagSYN, id, 2, []byte("hi"))); err != nil {
					t.Fatal(err)
				}
				c, err := srv.Accept()
				if err != nil {
					t.Fatal(err)
				}
				st := c.(*Stream)
				var hi [2]byte
				if _, err := io.ReadFull(st, hi[:]); err != nil {
					t.Fatal(err)
				}
				if _, err := st.Write([]byte{1}); err != nil {
					t.Fatal(err)
				}
				st.SetDirect(func(p []byte) int {
					took[i].Add(int64(len(p)))
					if i == 1 {
						notify(arrived)
					}
					return len(p)
				})
				streams[i] = st
			}
			syncWith(t, b, 1)

			link.hold() // writes wait from here
			sent := 0
			go func() {
				for _, n := range tc.frames {
					_, _ = b.Write(frame(typeData, 0, 1, uint32(n), make([]byte, n)))
				}
				_, _ = b.Write(frame(typeData, 0, 3, 2, []byte("ok")))
			}()
			for _, n := range tc.frames {
				sent += n
			}
			select {
			case <-arrived:
			case <-srv.Done():
				t.Fatalf("the session ended before stream 3's bytes arrived: %v", srv.err)
			}
			select {
			case <-srv.Done():
				t.Fatalf("the session ended while its writes were held: %v", srv.err)
			default:
			}
			if got := took[0].Load(); got != int64(sent) {
				t.Fatalf("stream 1's direct reader took %d bytes, want %d", got, sent)
			}
			link.release()

			// Every byte taken is given back, in updates of stream 1.
			_ = b.SetReadDeadline(time.Now().Add(time.Minute))
			given := 0
			for range sent + 1 { // bounded: each update gives a byte at least
				if given >= sent {
					break
				}
				var h header
				if _, err := io.ReadFull(b, h[:]); err != nil {
					t.Fatalf("%d of %d bytes given back: %v", given, sent, err)
				}
				if h.typ() == typeData {
					if _, err := io.CopyN(io.Discard, b, int64(h.length())); err != nil {
						t.Fatal(err)
					}
				}
				if h.typ() == typeWindowUpdate && h.streamID() == 1 {
					given += int(h.length())
				}
			}
			if given != sent {
				t.Fatalf("window updates gave back %d bytes, want %d", given, sent)
			}
		})
	}
}
