package cli

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestReleaseWhenIdle: a client that stays idle releases its memory once,
// idleRelease after its last connection closed; one with a connection
// open again by then does not; several closes in a row release once.
func TestReleaseWhenIdle(t *testing.T) {
	cases := []struct {
		name   string
		active int64 // connections open when the timer fires
		closes int   // Idle calls in a row
		want   int32 // releases
	}{
		{"idle", 0, 1, 1},
		{"busy again", 1, 1, 0},
		{"a burst of closes", 0, 5, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var released *atomic.Int32
			var done chan struct{}
			// A burst is calls closer together than idleRelease (50 ms):
			// a loaded machine may pause longer between two of them, and
			// then two firings are right. Such an attempt proves nothing
			// and is made again (bounded); the verdict is not timed.
			for attempt := 1; ; attempt++ {
				// This attempt's own (a discarded attempt's timer may
				// still fire into its channel and counter).
				rel, dn := new(atomic.Int32), make(chan struct{}, 8)
				released, done = rel, dn
				idle := releaseWhenIdle(func() int64 {
					defer func() { dn <- struct{}{} }()
					return c.active
				}, func() { rel.Add(1) })
				start := time.Now()
				for range c.closes {
					idle()
				}
				if c.closes == 1 || time.Since(start) < idleRelease {
					break
				}
				if attempt == 20 {
					t.Fatalf("%d Idle calls in a row never took less than %v in %d attempts", c.closes, idleRelease, attempt)
				}
			}
			select { // the timer fired and asked how many are open
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("the release timer did not fire")
			}
			// The check and the release run on the timer's goroutine, in
			// that order: wait for the release when one is due.
			deadline := time.Now().Add(10 * time.Second)
			for released.Load() < c.want && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			if got := released.Load(); got != c.want {
				t.Errorf("released %d times, want %d", got, c.want)
			}
			select { // a second firing would come idleRelease after the first
			case <-done:
				t.Error("the timer fired more than once for one burst")
			case <-time.After(3 * idleRelease):
			}
		})
	}
}
