package agent

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"testing"

	"github.com/postern/postern/internal/util/sockio"
	"github.com/postern/postern/internal/wire/tunnelproto"
)

// targetPair returns the agent's end of a loopback TCP connection (with
// a small send buffer, so that a write the peer does not read soon finds
// it full) and the target's end.
func targetPair(t *testing.T) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	acc := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		acc <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	tc := <-acc
	if tc == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); tc.Close() })
	_ = c.(*net.TCPConn).SetWriteBuffer(16 << 10)
	_ = tc.(*net.TCPConn).SetReadBuffer(16 << 10)
	return c.(*net.TCPConn), tc.(*net.TCPConn)
}

func frame(typ tunnelproto.FrameType, payload []byte) []byte {
	b := make([]byte, tunnelproto.HeaderLen+len(payload))
	tunnelproto.PutHeader(b, typ, len(payload))
	copy(b[tunnelproto.HeaderLen:], payload)
	return b
}

// take (the link's receive loop, never waiting) and feed (the tunnel's
// goroutine) share one reader of a tunnel's frames: however the frames
// are cut into the pieces the link delivers, and whichever of the two
// gets each piece first, every payload byte reaches the target once and
// in order, take leaves off where the target's socket is full or at a
// frame other than Data, and feed reports the EOF and the End.
func TestLinkReaderTakeThenFeed(t *testing.T) {
	data := [][]byte{make([]byte, 1000), nil, make([]byte, 1<<20), make([]byte, 5), make([]byte, 1<<20), make([]byte, 70000)}
	var stream, want []byte
	for _, d := range data {
		rand.Read(d)
		stream = append(stream, frame(tunnelproto.FrameData, d)...)
		want = append(want, d...)
	}
	stream = append(stream, frame(tunnelproto.FrameEOF, nil)...)
	stream = append(stream, frame(tunnelproto.FrameEnd, []byte(`{"code":"TargetReset","message":"bye"}`))...)

	for _, tc := range []struct {
		name  string
		piece func(i int) int // the size of the i-th piece
		// late: the target reads nothing until take returned: it must
		// leave most of the first piece (the socket is full), for feed.
		late bool
	}{
		{"one byte at a time at the start, then big pieces", func(i int) int {
			if i < 40 {
				return 1
			}
			return 256 << 10
		}, false},
		{"pieces of 3 bytes and 4 KiB in turn", func(i int) int {
			if i%2 == 0 {
				return 3
			}
			return 4 << 10
		}, false},
		{"pieces of 100,003 bytes", func(int) int { return 100003 }, false},
		{"a target that reads late", func(int) int { return 2 << 20 }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, tgt := targetPair(t)
			rc, err := c.SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			r := &linkReader{target: c, rc: rc}
			sock := sockio.Of(c)
			got := make(chan []byte, 1)
			read := func() {
				b, _ := io.ReadAll(tgt)
				got <- b
			}
			if !tc.late {
				go read()
			}
			var events []string
			took, fed := 0, 0
			rest := stream
			for i := 0; len(rest) > 0; i++ { // bounded: every piece is consumed by take or feed
				p := rest[:min(tc.piece(i), len(rest))]
				rest = rest[len(p):]
				n := r.take(p)
				took += n
				if tc.late && i == 0 {
					if n >= len(p)/2 {
						t.Fatalf("take used %d of %d bytes with nobody reading the target", n, len(p))
					}
					go read()
				}
				for q := p[n:]; len(q) > 0; {
					m, werr, ferr := r.feed(q, sock)
					if werr != nil {
						t.Fatal(werr)
					}
					if m == 0 {
						t.Fatal("feed used nothing")
					}
					fed += m
					q = q[m:]
					var er *tunnelproto.EndReason
					switch {
					case errors.Is(ferr, io.EOF):
						events = append(events, "EOF")
					case errors.As(ferr, &er):
						events = append(events, "End "+er.Code+" "+er.Message)
					case ferr != nil:
						t.Fatal(ferr)
					}
				}
			}
			c.CloseWrite()
			if b := <-got; !bytes.Equal(b, want) {
				t.Fatalf("the target got %d bytes, not the %d payload bytes in order", len(b), len(want))
			}
			if len(events) != 2 || events[0] != "EOF" || events[1] != "End TargetReset bye" {
				t.Fatalf("events %q, want EOF then the End", events)
			}
			if took == 0 || fed == 0 {
				t.Fatalf("take used %d bytes and feed %d: want both to have had some", took, fed)
			}
		})
	}
}

// A malformed frame is left to feed, which reports it; a frame the
// tunnel never carries (a second Dial) is refused.
func TestLinkReaderBadFrames(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"unknown type", []byte{9, 0, 0, 0}},
		{"Dial in a tunnel", frame(tunnelproto.FrameDial, []byte(`{}`))},
		{"EOF with a payload", []byte{byte(tunnelproto.FrameEOF), 0, 0, 1, 'x'}},
		{"End that is not JSON", frame(tunnelproto.FrameEnd, []byte("nope"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := targetPair(t)
			rc, err := c.SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			r := &linkReader{target: c, rc: rc}
			if n := r.take(tc.in); n != 0 {
				t.Fatalf("take used %d bytes of a frame it does not carry", n)
			}
			_, _, ferr := r.feed(tc.in, sockio.Of(c))
			if !errors.Is(ferr, tunnelproto.ErrFrame) {
				t.Fatalf("feed: %v, want a frame error", ferr)
			}
		})
	}
}
