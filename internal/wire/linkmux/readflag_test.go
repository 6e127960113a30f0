package linkmux

import (
	"io"
	"testing"
	"time"
)

// waitNoticeConn is a gatedConn that says when a write waits at the gate.
type waitNoticeConn struct {
	*gatedConn
	waiting chan struct{}
}

func (c *waitNoticeConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	gate := c.gate
	c.mu.Unlock()
	select {
	case <-gate:
	default:
		notify(c.waiting)
	}
	return c.gatedConn.Write(b)
}

// A read that sends nothing does not wait for the link's write lock: on
// an accepted stream whose ACK still waits for its first frame, Read (or
// Borrow and Consume) of the peer's first bytes returns while another
// stream's write waits on a full link holding the write lock. (Since
// 7c763c2 such a read took the write lock whenever the stream's SYN or
// ACK was due, update or not, and so waited behind any frame being
// written, up to the write timeout on a stalled link, past its own read
// deadline.) The ACK still rides with the stream's first frame after.
func TestReadWithFlagsDueTakesNoWriteLock(t *testing.T) {
	for _, tc := range []struct {
		name string
		read func(st *Stream) ([]byte, error)
	}{
		{"Read", func(st *Stream) ([]byte, error) {
			b := make([]byte, 2)
			n, err := st.Read(b)
			return b[:n], err
		}},
		{"Borrow and Consume", func(st *Stream) ([]byte, error) {
			p, err := st.Borrow(2)
			if err != nil {
				return nil, err
			}
			got := append([]byte(nil), p...)
			return got, st.Consume(len(p))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := tcpPair(t)
			link := &waitNoticeConn{gatedConn: &gatedConn{Conn: a, gate: make(chan struct{})}, waiting: make(chan struct{}, 1)}
			link.release()
			srv, _ := Acceptor(link, Config{KeepAliveInterval: time.Hour, FlagDelay: time.Hour, WriteTimeout: time.Minute, StreamWindow: initialWindow})
			defer srv.Close()
			var streams [2]*Stream
			for i, id := range []uint32{1, 3} {
				if _, err := b.Write(frame(typeData, flagSYN, id, 2, []byte("hi"))); err != nil {
					t.Fatal(err)
				}
				c, err := srv.Accept()
				if err != nil {
					t.Fatal(err)
				}
				streams[i] = c.(*Stream)
			}

			link.hold() // stream 3's first frame waits on the link, holding the write lock
			wrote := make(chan error, 1)
			go func() {
				_, err := streams[1].Write([]byte{1})
				wrote <- err
			}()
			<-link.waiting

			type result struct {
				got []byte
				err error
			}
			read := make(chan result, 1)
			go func() {
				got, err := tc.read(streams[0])
				read <- result{got, err}
			}()
			select {
			case r := <-read:
				if r.err != nil || string(r.got) != "hi" {
					t.Fatalf("read %q, %v; want %q", r.got, r.err, "hi")
				}
			case <-time.After(10 * time.Second): // a failure bound, not a wait
				link.release()
				t.Fatal("the read of stream 1 waited on stream 3's write")
			}
			link.release()
			if err := <-wrote; err != nil {
				t.Fatal(err)
			}
			if _, err := streams[0].Write([]byte{2}); err != nil {
				t.Fatal(err)
			}

			// Stream 3's frame, then stream 1's first: its ACK with it.
			_ = b.SetReadDeadline(time.Now().Add(10 * time.Second))
			for i, want := range []uint32{3, 1} {
				var h header
				if _, err := io.ReadFull(b, h[:]); err != nil {
					t.Fatal(err)
				}
				if h.streamID() != want || h.typ() != typeData || h.flags()&flagACK == 0 {
					t.Fatalf("frame %d: stream %d, type %d, flags %#x; want stream %d's data with its ACK", i, h.streamID(), h.typ(), h.flags(), want)
				}
				if _, err := io.CopyN(io.Discard, b, int64(h.length())); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
