package agent

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/internal/wire/linkmux"
	"github.com/postern/postern/internal/wire/tunnelproto"
)

// The server's EOF frame (its half-close of a tunnel) is applied to the
// target by the link's receive loop, as the Data frames before it are:
// the target gets its bytes and then its EOF while the tunnel's goroutine
// is held before it ever waited for the stream (it used to be woken for
// the EOF alone). What follows still reaches the goroutine: the stream's
// end ends the tunnel's reading.
func TestQD16EOFAppliedOnTheReceiveLoop(t *testing.T) {
	for _, tc := range []struct {
		name   string
		frames [][]byte // written by the server side, each with one Write
	}{
		{"data then EOF, one write", [][]byte{append(frame(tunnelproto.FrameData, []byte("hello")), frame(tunnelproto.FrameEOF, nil)...)}},
		{"data, then EOF alone", [][]byte{frame(tunnelproto.FrameData, []byte("hello")), frame(tunnelproto.FrameEOF, nil)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			la, lb := targetPair(t) // the link: a loopback TCP pair
			srv, _ := linkmux.Opener(la, linkmux.Config{})
			defer srv.Close()
			ag, _ := linkmux.Acceptor(lb, linkmux.Config{FlagDelay: time.Millisecond})
			defer ag.Close()
			// The agent's side opens the stream (its SYN leaves alone after
			// FlagDelay): nothing the server writes arrives before the
			// receive loop has the direct reader.
			as, err := ag.Open(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			ss, err := srv.Accept()
			if err != nil {
				t.Fatal(err)
			}
			c, tgt := targetPair(t)
			st, rc, ok := directOf(as, c)
			if !ok {
				t.Skip("no direct writes on this platform")
			}
			tun := &tunnel{id: "qd16", link: tunnelproto.NewConn(as), stream: as, target: c}

			held, release := make(chan struct{}), make(chan struct{})
			var once sync.Once // another tunnel's goroutine may run the hook too
			hook := func() {
				once.Do(func() { close(held) })
				<-release
			}
			testHookDirectSet.Store(&hook)
			t.Cleanup(func() { testHookDirectSet.Store(nil) })
			done := make(chan struct{})
			go func() {
				defer close(done)
				linkToTargetDirect(tun, st, rc)
			}()
			<-held

			got := make(chan []byte, 1)
			go func() {
				b, _ := io.ReadAll(tgt) // returns at the target's EOF
				got <- b
			}()
			for _, f := range tc.frames {
				if _, err := ss.Write(f); err != nil {
					t.Fatal(err)
				}
			}
			select {
			case b := <-got:
				if string(b) != "hello" {
					t.Fatalf("the target got %q, want hello then its EOF", b)
				}
			case <-time.After(10 * time.Second): // a bound, not a measure
				t.Fatal("the target got no EOF while the tunnel's goroutine was held: the receive loop left the EOF frame to it")
			}
			close(release)
			ss.Close() // the stream's end: the tunnel's reading ends
			select {
			case <-done:
			case <-time.After(10 * time.Second): // a bound, not a measure
				t.Fatal("the tunnel's reading did not end at the stream's end")
			}
		})
	}
}
