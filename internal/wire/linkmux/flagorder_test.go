package linkmux

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/testutil/goroutines"
)

// A stream's SYN leaves before any other frame of the stream, even when
// the flag timer (flushFlags, after FlagDelay) takes it while the
// stream's first Write runs: a peer drops the frames of a stream it has
// not seen opened, and a tunnel's dial request would be lost. The test
// runs the Write (and, in one case, a Close) in the gap between the
// timer's take of the SYN and the write of its frame; the raw peer must
// see the SYN first and then every byte. (Before, the Write's data frame
// left first: TestInteropWithUpstream hung about once in 100 runs under
// -race that way.) The gap lasts until the Write ended or waits for the
// link's write lock: it cannot end there now (the timer holds the lock
// from the take), and ended at once before.
func TestSYNLeavesFirst(t *testing.T) {
	for _, tc := range []struct {
		name  string
		write int  // bytes the first Write sends in the gap
		close bool // and a Close then
	}{
		{name: "write", write: 1},
		{name: "large write", write: 64 << 10},
		{name: "write and close", write: 100, close: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, peer := tcpPair(t)
			cli, _ := Opener(a, Config{FlagDelay: time.Hour})
			defer cli.Close()
			c, err := cli.Open(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			st := c.(*Stream)
			wrote := make(chan error, 1)
			hook := func(s *Stream) {
				if s != st {
					return
				}
				go func() {
					_, err := st.Write(make([]byte, tc.write))
					if err == nil && tc.close {
						err = st.Close()
					}
					wrote <- err
				}()
				// The Write gets its chance to overtake the SYN: the gap
				// lasts until it ended or waits for the link's write
				// lock, which the timer holds.
				if !goroutines.Eventually(func() bool {
					select {
					case err := <-wrote:
						wrote <- err
						return true
					default:
					}
					for _, g := range goroutines.Running(t, "linkmux.(*Stream).Write") {
						if strings.Contains(g, "sync.(*Mutex).") {
							return true
						}
					}
					return false
				}) {
					t.Error("the Write neither ended nor waited for the write lock")
				}
			}
			testHookFlagsTaken.Store(&hook)
			defer testHookFlagsTaken.Store(nil)
			if err := st.flushFlags(); err != nil { // what the flag timer runs
				t.Fatal(err)
			}
			if err := <-wrote; err != nil {
				t.Fatal(err)
			}
			_ = peer.SetDeadline(time.Now().Add(10 * time.Second))
			var h header
			got, fin := 0, false
			for i := 0; got < tc.write || (tc.close && !fin); i++ { // bounded: each frame carries a byte or a flag
				if i > tc.write+3 {
					t.Fatalf("frame %d: still %d of %d bytes", i, got, tc.write)
				}
				if _, err := io.ReadFull(peer, h[:]); err != nil {
					t.Fatal(err)
				}
				if i == 0 && h.flags()&flagSYN == 0 {
					t.Fatalf("the stream's first frame (type %d, flags %#x, %d bytes) carries no SYN", h.typ(), h.flags(), h.length())
				}
				if h.typ() == typeData {
					if _, err := io.CopyN(io.Discard, peer, int64(h.length())); err != nil {
						t.Fatal(err)
					}
					got += int(h.length())
				}
				fin = fin || h.flags()&flagFIN != 0
			}
		})
	}
}
