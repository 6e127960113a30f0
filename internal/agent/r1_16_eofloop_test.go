package agent

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/internal/wire/tunnelproto"
)

// r1Stream is a directStream that keeps linkmux.Stream.SetDirect's
// contract step by step, under the test's control: a delivered piece
// goes to the direct reader when nothing received before it waits and no
// borrow is out, what it leaves waits for Borrow, in order, and so does
// every piece after it until the reader has taken all. The test decides
// when each piece arrives, whether the tunnel's goroutine may borrow
// (held), and waits until the goroutine is idle (quiet), so that every
// interleaving of the receive loop and the goroutine is reached on
// purpose, not by luck.
type r1Stream struct {
	mu         sync.Mutex
	cond       *sync.Cond
	direct     func([]byte) int
	buf        []byte // received, left for Borrow
	lent       bool
	delivering bool
	held       bool // Borrow waits while set
	closed     bool // the stream's end: Borrow returns io.EOF once buf is empty
	waiting    bool // the goroutine waits in Borrow
	exited     bool // the goroutine returned
}

func newR1Stream() *r1Stream {
	s := &r1Stream{}
	s.cond = sync.NewCond(&s.mu)
	return s
}

func (s *r1Stream) SetDirect(take func([]byte) int) {
	s.mu.Lock()
	s.direct = take
	s.mu.Unlock()
	s.cond.Broadcast()
}

func (s *r1Stream) Borrow(max int) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if !s.held && !s.delivering {
			if len(s.buf) > 0 {
				s.lent = true
				return s.buf[:min(max, len(s.buf))], nil
			}
			if s.closed {
				return nil, io.EOF
			}
		}
		s.waiting = true
		s.cond.Broadcast()
		s.cond.Wait()
		s.waiting = false
	}
}

func (s *r1Stream) Consume(n int) error {
	s.mu.Lock()
	s.buf = s.buf[n:]
	s.lent = false
	s.mu.Unlock()
	s.cond.Broadcast()
	return nil
}

// deliver is the receive loop's delivery of one piece.
func (s *r1Stream) deliver(p []byte) {
	p = bytes.Clone(p)
	s.mu.Lock()
	if take := s.direct; take != nil && len(s.buf) == 0 && !s.lent {
		s.delivering = true
		s.mu.Unlock()
		n := take(p)
		s.mu.Lock()
		s.delivering = false
		p = p[max(0, min(n, len(p))):]
	}
	s.buf = append(s.buf, p...)
	s.mu.Unlock()
	s.cond.Broadcast()
}

// quiet waits until the goroutine has taken every byte and waits in
// Borrow (or returned): the state in which a piece goes to take.
func (s *r1Stream) quiet(t *testing.T) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for !s.exited && !(s.waiting && !s.lent && (len(s.buf) == 0 || s.held)) {
		s.cond.Wait()
	}
}

func (s *r1Stream) set(f func(s *r1Stream)) {
	s.mu.Lock()
	f(s)
	s.mu.Unlock()
	s.cond.Broadcast()
}

// Whatever the pieces a tunnel's frames arrive in, whoever of the
// receive loop and the tunnel's goroutine gets each piece, and however
// full the target's socket is, the target gets every byte before its
// EOF, and the frames after an EOF end the tunnel as they did when the
// tunnel's goroutine read the EOF (1b17216~1: Data after the EOF ends it
// as a target error, a second EOF changes nothing, End and a bad frame
// stop its reading without an End of the agent's). The agent's own
// linkToTargetDirect and linkReader, a loopback TCP target with a small
// send buffer, the link's side a loopback TCP connection the agent's End
// (if any) is read from.
func TestR1_16EOFOrderAndWhatFollows(t *testing.T) {
	hello := []byte("hello")
	// More than the target's loopback buffers take while nobody reads,
	// made of EOF frames' headers (at each of the four phases, in turn):
	// a take that left off inside it and then looked for an EOF there
	// would find one.
	bigs := make([][]byte, 4)
	for i := range bigs {
		bigs[i] = append(make([]byte, i), bytes.Repeat(frame(tunnelproto.FrameEOF, nil), 64<<10)...)
	}
	rnd := make([]byte, 256<<10)
	rand.Read(rnd)
	data, eof := frame(tunnelproto.FrameData, hello), frame(tunnelproto.FrameEOF, nil)
	end := frame(tunnelproto.FrameEnd, []byte(`{"code":"TargetReset","message":"bye"}`))
	cat := func(fs ...[]byte) []byte { return bytes.Join(fs, nil) }
	for _, tc := range []struct {
		name    string
		stream  []byte
		want    []byte // the target's bytes before its EOF
		endCode string // the agent's End, "" for none
		returns bool   // the goroutine returns before the stream's end
		late    bool   // the target reads only once every piece was delivered
		noEOF   bool   // the target's EOF comes only with pump's close of it
	}{
		{"data, EOF", cat(data, eof), hello, "", false, false, false},
		{"EOF first", cat(eof, data), nil, tunnelproto.CodeTargetReset, true, false, false},
		{"EOF alone", eof, nil, "", false, false, false},
		{"data, EOF, EOF", cat(data, eof, eof), hello, "", false, false, false},
		{"data, EOF, data", cat(data, eof, frame(tunnelproto.FrameData, []byte("x"))), hello, tunnelproto.CodeTargetReset, true, false, false},
		{"data, EOF, empty data", cat(data, eof, frame(tunnelproto.FrameData, nil)), hello, "", false, false, false},
		{"data, EOF, End", cat(data, eof, end), hello, "", true, false, false},
		{"data, EOF, unknown frame", cat(data, eof, []byte{9, 0, 0, 0}), hello, "", true, false, false},
		{"data, EOF with a payload", cat(data, []byte{byte(tunnelproto.FrameEOF), 0, 0, 1, 'x'}), hello, "", true, false, true},
		{"big random data to a full target, EOF", cat(frame(tunnelproto.FrameData, rnd), eof), rnd, "", false, true, false},
		{"big data of EOF headers to a full target, EOF", cat(frame(tunnelproto.FrameData, bigs[0]), eof), bigs[0], "", false, true, false},
		{"big data of EOF headers +1 to a full target, EOF", cat(frame(tunnelproto.FrameData, bigs[1]), eof), bigs[1], "", false, true, false},
		{"big data of EOF headers +2 to a full target, EOF", cat(frame(tunnelproto.FrameData, bigs[2]), eof), bigs[2], "", false, true, false},
		{"big data of EOF headers +3 to a full target, EOF", cat(frame(tunnelproto.FrameData, bigs[3]), eof), bigs[3], "", false, true, false},
	} {
		// The pieces: the whole; every cut into two (a long stream: in
		// its first and last headers, and through its payload); one byte
		// at a time and every cut into three in the last 6 bytes (short
		// streams).
		cuts := [][]int{nil}
		short := len(tc.stream) < 64
		for i := 1; i < len(tc.stream); i++ {
			if short || i < 10 || len(tc.stream)-i < 6 || i%(97<<10) == 0 {
				cuts = append(cuts, []int{i})
			}
		}
		if short {
			var all []int
			for i := 1; i < len(tc.stream); i++ {
				all = append(all, i)
			}
			cuts = append(cuts, all)
			for i := max(1, len(tc.stream)-6); i < len(tc.stream); i++ {
				for j := i + 1; j < len(tc.stream); j++ {
					cuts = append(cuts, []int{i, j})
				}
			}
		}
		for _, held := range []bool{false, true} {
			if tc.late && !held {
				continue // the goroutine would wait for the target in quiet
			}
			for _, cut := range cuts {
				name := fmt.Sprintf("%s/held=%v/cut=%v", tc.name, held, cut)
				if len(cut) > 8 {
					name = fmt.Sprintf("%s/held=%v/bytewise", tc.name, held)
				}
				t.Run(name, func(t *testing.T) {
					r1RunEOFCase(t, tc.stream, cut, held, tc.late, tc.noEOF, tc.want, tc.endCode, tc.returns)
				})
			}
		}
	}
}

func r1RunEOFCase(t *testing.T, stream []byte, cut []int, held, late, noEOF bool, want []byte, endCode string, returns bool) {
	c, tgt := targetPair(t)
	lc, lpeer := targetPair(t) // the link: the agent's End goes here
	st := newR1Stream()
	st.held = held
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	tun := &tunnel{id: "r1", link: tunnelproto.NewConn(lc), target: c}
	type result struct {
		b   []byte
		err error
	}
	got := make(chan result, 1)
	read := func() {
		b, err := io.ReadAll(tgt)
		got <- result{b, err}
	}
	if !late {
		go read()
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		linkToTargetDirect(tun, st, rc)
		st.set(func(s *r1Stream) { s.exited = true })
	}()
	st.quiet(t) // the direct reader is set, the goroutine waits

	prev := 0
	for _, i := range append(cut, len(stream)) {
		st.deliver(stream[prev:i])
		prev = i
		if !held {
			st.quiet(t)
		}
	}
	if late {
		go read()
	}
	if held {
		st.set(func(s *r1Stream) { s.held = false })
		st.quiet(t)
	}
	if noEOF {
		c.Close() // as pump does once the goroutine returned
	}
	var r result
	select {
	case r = <-got:
	case <-time.After(10 * time.Second): // a bound, not a measure
		t.Fatal("the target got no EOF before the stream's end")
	}
	if r.err != nil || !bytes.Equal(r.b, want) {
		t.Fatalf("the target got %d bytes (%v), want the %d before its EOF", len(r.b), r.err, len(want))
	}
	var exited bool
	st.set(func(s *r1Stream) { exited = s.exited })
	if exited != returns {
		t.Fatalf("the tunnel's goroutine returned before the stream's end: %v, want %v", exited, returns)
	}
	st.set(func(s *r1Stream) { s.closed = true })
	select {
	case <-done:
	case <-time.After(10 * time.Second): // a bound, not a measure
		t.Fatal("the tunnel's reading did not end at the stream's end")
	}
	c.Close() // as pump does
	lc.Close()
	b, _ := io.ReadAll(lpeer)
	code := ""
	if len(b) > 0 {
		if len(b) < tunnelproto.HeaderLen {
			t.Fatalf("the link got %q", b)
		}
		var er tunnelproto.EndReason
		if err := tunnelproto.DecodeJSON(tunnelproto.FrameEnd, b[tunnelproto.HeaderLen:], &er); err != nil {
			t.Fatalf("the link got %q: %v", b, err)
		}
		code = er.Code
	}
	if code != endCode {
		t.Fatalf("the agent's End: %q (%q), want %q", code, b, endCode)
	}
}
