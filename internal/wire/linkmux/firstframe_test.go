package linkmux

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/yamux"
)

// capture keeps a copy of every write that reaches the connection.
type capture struct {
	net.Conn
	mu     sync.Mutex
	writes [][]byte
}

func (c *capture) Write(b []byte) (int, error) {
	c.mu.Lock()
	c.writes = append(c.writes, bytes.Clone(b))
	c.mu.Unlock()
	return c.Conn.Write(b)
}

func (c *capture) take() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.writes
	c.writes = nil
	return w
}

// frames splits one write into its frames' headers (and checks that the
// write holds whole frames).
func frames(t *testing.T, w []byte) []header {
	t.Helper()
	var hs []header
	for len(w) > 0 {
		if len(w) < headerLen {
			t.Fatalf("a write ends inside a frame's header: %x", w)
		}
		var h header
		copy(h[:], w)
		w = w[headerLen:]
		if h.typ() == typeData {
			if int(h.length()) > len(w) {
				t.Fatalf("a write ends inside a frame's body (%d of %d bytes)", len(w), h.length())
			}
			w = w[h.length():]
		}
		hs = append(hs, h)
	}
	return hs
}

// A stream's SYN and its ACK each ride with the stream's first data, in
// one write: the opener's first Write sends the data frame with the SYN
// and, behind it, the window above the protocol's initial one, as one
// write; the acceptor's Read of it sends nothing; and the acceptor's
// first Write sends its data with the ACK and its window as one write. A tunnel's
// open is thus one link write each way (the dial request, the dial
// result). The windows both sides announced hold: 3 MiB then flow each
// way, more than the windows. The same whether the acceptor takes the
// stream from Accept or is handed it (Config.Handle).
func TestFirstFrameCarriesTheOpenAndTheACK(t *testing.T) {
	for _, handle := range []bool{false, true} {
		t.Run(fmt.Sprintf("handle=%v", handle), func(t *testing.T) { testFirstFrame(t, handle) })
	}
}

func testFirstFrame(t *testing.T, handle bool) {
	a, b := tcpPair(t)
	ca, cb := &capture{Conn: a}, &capture{Conn: b}
	// FlagDelay an hour: the frames must not wait for the fallback.
	cli, _ := Opener(ca, Config{FlagDelay: time.Hour})
	defer cli.Close()
	handed := make(chan net.Conn, 1)
	scfg := Config{FlagDelay: time.Hour}
	if handle {
		scfg.Handle = func(c net.Conn) { handed <- c }
	}
	srv, _ := Acceptor(cb, scfg)
	defer srv.Close()

	s, err := cli.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if w := ca.take(); len(w) != 0 {
		t.Fatalf("Open wrote %d times before the stream's first frame", len(w))
	}
	if _, err := s.Write([]byte("dial")); err != nil {
		t.Fatal(err)
	}
	w := ca.take()
	if len(w) != 1 {
		t.Fatalf("the opener's first frame left in %d writes, want 1", len(w))
	}
	want := []struct {
		typ    byte
		flags  uint16
		length uint32
	}{{typeData, 0, 0}, {typeWindowUpdate, 0, 0}}
	check := func(side string, hs []header, flags uint16, delta, n uint32) {
		t.Helper()
		want[0].flags, want[0].length, want[1].length = flags, n, delta
		if len(hs) != 2 {
			t.Fatalf("%s: %d frames in the write, want the data and a window update", side, len(hs))
		}
		for i, h := range hs {
			if h.typ() != want[i].typ || h.flags() != want[i].flags || h.length() != want[i].length || h.streamID() != s.(*Stream).id {
				t.Errorf("%s: frame %d: type %d flags %d length %d stream %d, want type %d flags %d length %d stream %d",
					side, i, h.typ(), h.flags(), h.length(), h.streamID(), want[i].typ, want[i].flags, want[i].length, s.(*Stream).id)
			}
		}
	}
	check("opener", frames(t, w[0]), flagSYN, DefaultStreamWindow-initialWindow, 4)

	var r net.Conn
	if handle {
		r = <-handed
	} else if r, err = srv.Accept(); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(r, make([]byte, 4)); err != nil {
		t.Fatal(err)
	}
	if w := cb.take(); len(w) != 0 {
		t.Fatalf("the acceptor wrote %d times before its first frame (the ACK went alone)", len(w))
	}
	if _, err := r.Write([]byte("result")); err != nil {
		t.Fatal(err)
	}
	w = cb.take()
	if len(w) != 1 {
		t.Fatalf("the acceptor's first frame left in %d writes, want 1", len(w))
	}
	// The window it announces counts the 4 bytes it read, too.
	check("acceptor", frames(t, w[0]), flagACK, DefaultStreamWindow-initialWindow+4, 6)
	if _, err := io.ReadFull(s, make([]byte, 6)); err != nil {
		t.Fatal(err)
	}
	st := s.(*Stream)
	st.mu.Lock()
	state := st.state
	st.mu.Unlock()
	if state != stateEstablished {
		t.Fatalf("the opener's stream is in state %d after the ACK, want established", state)
	}

	// The announced windows: 3 MiB each way, both ways at once.
	msg := make([]byte, 3<<20)
	for i := range msg {
		msg[i] = byte(i * 7)
	}
	errc := make(chan error, 2)
	go func() { _, err := s.Write(msg); errc <- err }()
	go func() { _, err := r.Write(msg); errc <- err }()
	for _, c := range []net.Conn{r, s} {
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("3 MiB: %v, or the bytes differ", err)
		}
	}
	for range 2 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	if handle {
		// Accept hands out nothing then: it returns when the link ends.
		acc := make(chan error, 1)
		go func() { _, err := srv.Accept(); acc <- err }()
		cli.Close()
		if err := <-acc; !errors.Is(err, ErrSessionShutdown) {
			t.Fatalf("Accept with a Handle: %v, want ErrSessionShutdown once the link ended", err)
		}
	}
}

// A stream that writes nothing still opens, and is still acknowledged,
// once FlagDelay passed: upstream hashicorp/yamux as the opener stops
// opening after 256 unacknowledged streams (its AcceptBacklog), so 300
// streams whose "dials" hang (accepted, never written to) all open; the
// stream this side opens and never writes reaches the peer; and each
// works afterwards.
func TestFlagsLeaveAloneAfterTheDelay(t *testing.T) {
	for _, handle := range []bool{false, true} {
		t.Run(fmt.Sprintf("upstream opener, 300 silent streams, handle=%v", handle), func(t *testing.T) {
			testSilentStreams(t, handle)
		})
	}
	t.Run("our opener, a silent stream", testSilentOpen)
}

// testSilentStreams: upstream opens 300 streams this side takes (from
// Accept, or handed to Config.Handle) and never writes to.
func testSilentStreams(t *testing.T, handle bool) {
	a, b := tlsPair(t, nil)
	open, _ := upstream(t, a, true)
	const n = 300
	accepted := make(chan net.Conn, n)
	if handle {
		srv, _ := Acceptor(b, Config{Handle: func(r net.Conn) { accepted <- r }}) // held, never written
		t.Cleanup(func() { srv.Close() })
	} else {
		_, accept := ours(t, b, false)
		go func() {
			for range n {
				r, err := accept()
				if err != nil {
					return
				}
				accepted <- r // held, never written: a dial that hangs
			}
		}()
	}
	opened := make(chan []net.Conn, 1)
	errc := make(chan error, 1)
	go func() {
		var ss []net.Conn
		for range n {
			s, err := open(context.Background())
			if err != nil {
				errc <- err
				return
			}
			ss = append(ss, s)
		}
		opened <- ss
	}()
	var ss []net.Conn
	select {
	case ss = <-opened:
	case err := <-errc:
		t.Fatal(err)
	case <-time.After(30 * time.Second): // a bound, not a measure: without the fallback the opener blocks for ever at 257
		t.Fatalf("upstream opened fewer than %d streams: the ACKs of silent streams never left", n)
	}
	// The last stream of each side still carries bytes both ways.
	var rs []net.Conn
	for range n {
		rs = append(rs, <-accepted)
	}
	last := ss[n-1]
	var r net.Conn
	if _, err := last.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	for _, c := range rs { // find the stream that got it: ids match
		if c.(*Stream).id == uint32(last.(*yamux.Stream).StreamID()) {
			r = c
		}
	}
	if r == nil {
		t.Fatal("no accepted stream has the last opened stream's id")
	}
	got := make([]byte, 4)
	if _, err := io.ReadFull(r, got); err != nil || string(got) != "ping" {
		t.Fatalf("read %q, %v", got, err)
	}
	if _, err := r.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(last, got); err != nil || string(got) != "pong" {
		t.Fatalf("read %q, %v", got, err)
	}
}

// testSilentOpen: a stream this side opens and never writes to reaches
// the peer (ours or upstream's).
func testSilentOpen(t *testing.T) {
	for _, up := range []bool{false, true} {
		a, b := tlsPair(t, nil)
		cli, _ := Opener(a, Config{FlagDelay: time.Millisecond})
		defer cli.Close()
		var accept acceptor
		if up {
			_, accept = upstream(t, b, false)
		} else {
			_, accept = ours(t, b, false)
		}
		s, err := cli.Open(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		// Nothing written: Accept returns once the SYN left alone.
		type res struct {
			c   net.Conn
			err error
		}
		ch := make(chan res, 1)
		go func() { c, err := accept(); ch <- res{c, err} }()
		var r net.Conn
		select {
		case x := <-ch:
			if x.err != nil {
				t.Fatal(x.err)
			}
			r = x.c
		case <-time.After(30 * time.Second): // a bound, not a measure
			t.Fatalf("upstream=%v: a stream opened and not written to never reached the peer", up)
		}
		if _, err := r.Write([]byte("hi")); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, 2)
		if _, err := io.ReadFull(s, got); err != nil || string(got) != "hi" {
			t.Fatalf("upstream=%v: read %q, %v", up, got, err)
		}
	}
}
