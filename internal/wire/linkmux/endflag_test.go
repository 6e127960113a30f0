package linkmux

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// A FIN or RST on a data frame ends the stream after the frame's bytes:
// a reader gets every byte, then io.EOF (FIN) or ErrConnectionReset
// (RST), even when it waits on the stream while the frame's body is
// still arriving (the flag's header is in, its body half in: the reader
// must not see the end first), and with a direct reader taking all, part
// or none of the bytes. The frame may also open the stream (SYN).
func TestEndFlagOnDataFrameAfterItsBytes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		flags  uint16
		syn    bool          // the data frame opens the stream
		take   func(int) int // the direct reader's share of n bytes; nil: none
		want   error
		length int
	}{
		{"fin", flagFIN, false, nil, io.EOF, 64 << 10},
		{"rst", flagRST, false, nil, ErrConnectionReset, 64 << 10},
		{"syn fin", flagSYN | flagFIN, true, nil, io.EOF, 64 << 10},
		{"fin two bytes", flagFIN, false, nil, io.EOF, 2},
		{"fin direct takes all", flagFIN, false, func(n int) int { return n }, io.EOF, 64 << 10},
		{"fin direct takes part", flagFIN, false, func(n int) int { return n / 3 }, io.EOF, 64 << 10},
		{"fin direct takes none", flagFIN, false, func(int) int { return 0 }, io.EOF, 64 << 10},
		{"rst direct takes all", flagRST, false, func(n int) int { return n }, ErrConnectionReset, 64 << 10},
		{"rst direct takes part", flagRST, false, func(n int) int { return n / 2 }, ErrConnectionReset, 64 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// net.Pipe: a write returns once the session read it all, so
			// the session has handled the frame's header, and reads its
			// body, when a write of the header and part of the body
			// returns.
			a, b := net.Pipe()
			defer b.Close()
			s, _ := Acceptor(a, Config{KeepAliveInterval: time.Hour})
			defer s.Close()
			go func() { _, _ = io.Copy(io.Discard, b) }() // the session's answers

			body := make([]byte, tc.length)
			rand.Read(body)
			var h header
			h.encode(typeData, tc.flags, 1, uint32(len(body)))
			var st *Stream
			var direct []byte
			if !tc.syn {
				if _, err := b.Write(frame(typeWindowUpdate, flagSYN, 1, 0, nil)); err != nil {
					t.Fatal(err)
				}
				c, err := s.Accept()
				if err != nil {
					t.Fatal(err)
				}
				st = c.(*Stream)
				if tc.take != nil {
					st.SetDirect(func(p []byte) int {
						n := tc.take(len(p))
						direct = append(direct, p[:n]...)
						return n
					})
				}
			}
			half := len(body) / 2
			if _, err := b.Write(append(h[:], body[:half]...)); err != nil {
				t.Fatal(err)
			}
			if tc.syn {
				c, err := s.Accept()
				if err != nil {
					t.Fatal(err)
				}
				st = c.(*Stream)
			}
			// The frame's header was handled (the session reads its
			// body): the stream shows no end yet, but nothing to read
			// either (a read deadline already past fails at once where
			// the read would wait).
			if err := st.SetReadDeadline(time.Now()); err != nil {
				t.Fatal(err)
			}
			if n, err := st.Read(make([]byte, 1)); !errors.Is(err, ErrTimeout) {
				t.Fatalf("a read while the frame's body arrives: %d bytes, %v; want a wait (ErrTimeout)", n, err)
			}
			if err := st.SetReadDeadline(time.Time{}); err != nil {
				t.Fatal(err)
			}
			type result struct {
				got []byte
				err error
			}
			res := make(chan result, 1)
			go func() {
				var got []byte
				buf := make([]byte, 4096)
				for range len(body) + 1 { // bounded: each read brings a byte or ends
					n, err := st.Read(buf)
					got = append(got, buf[:n]...)
					if err != nil {
						res <- result{got, err}
						return
					}
				}
				res <- result{got, errors.New("the reads did not end")}
			}()
			if _, err := b.Write(body[half:]); err != nil {
				t.Fatal(err)
			}
			r := <-res
			all := append(direct, r.got...) // the direct reader ran before the reader got its share
			if !bytes.Equal(all, body) {
				t.Fatalf("%d bytes arrived (%d direct, %d read) before %v, want the %d sent, in order", len(all), len(direct), len(r.got), r.err, len(body))
			}
			if !errors.Is(r.err, tc.want) {
				t.Fatalf("the reads ended with %v, want %v", r.err, tc.want)
			}
			if tc.take != nil && tc.take(len(body)) > 0 && len(direct) == 0 {
				t.Errorf("the direct reader took nothing")
			}
		})
	}
}

// A FIN or RST on a data frame that arrives while this side resets the
// stream (Reset, as the server does to every stream an agent opens)
// crosses the reset: the stream is gone already, and the link goes on
// (it is no protocol error that ends every other stream with it).
func TestEndFlagCrossingLocalReset(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flags uint16
	}{
		{"fin", flagFIN},
		{"rst", flagRST},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := net.Pipe() // a write returns once the session read it all
			defer b.Close()
			s, _ := Acceptor(a, Config{KeepAliveInterval: time.Hour})
			defer s.Close()
			go func() { _, _ = io.Copy(io.Discard, b) }() // the session's answers

			if _, err := b.Write(frame(typeWindowUpdate, flagSYN, 1, 0, nil)); err != nil {
				t.Fatal(err)
			}
			c, err := s.Accept()
			if err != nil {
				t.Fatal(err)
			}
			body := make([]byte, 1000)
			var h header
			h.encode(typeData, tc.flags, 1, uint32(len(body)))
			// The header and half the body are in: the session reads the
			// rest of the body when the stream is reset.
			if _, err := b.Write(append(h[:], body[:500]...)); err != nil {
				t.Fatal(err)
			}
			if err := c.(*Stream).Reset(); err != nil {
				t.Fatal(err)
			}
			if _, err := b.Write(body[500:]); err != nil {
				t.Fatal(err)
			}
			// The link still carries a new stream.
			if _, err := b.Write(frame(typeWindowUpdate, flagSYN, 3, 0, nil)); err != nil {
				t.Fatalf("the link ended after the frame: %v", err)
			}
			c3, err := s.Accept()
			if err != nil {
				t.Fatalf("the link ended after the frame: %v", err)
			}
			c3.Close()
		})
	}
}
