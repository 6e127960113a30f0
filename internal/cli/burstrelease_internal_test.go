package cli

import (
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/postern/postern/internal/testutil/goroutines"
)

// releaseAfterBurst releases at once when a burst of opens is over, but
// not while a release runs, nor within burstRelease (or 20 times what the
// last release took) of the last one's start.
func TestReleaseAfterBurst(t *testing.T) {
	base := time.Unix(1_000_000, 0)
	cases := []struct {
		name  string
		took  time.Duration // how long the first release takes, by the clock
		after time.Duration // when the next burst ends, from the first's start
		want  bool          // that one is released
	}{
		{"next burst within the interval", 10 * time.Millisecond, burstRelease / 2, false},
		{"next burst after the interval", 10 * time.Millisecond, burstRelease + time.Millisecond, true},
		{"a slow release widens the interval", 100 * time.Millisecond, burstRelease + time.Millisecond, false},
		{"after 20 times a slow release", 100 * time.Millisecond, 2*time.Second + time.Millisecond, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var mu sync.Mutex
			clock := base
			now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
			set := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); clock = base.Add(d) }
			running := make(chan struct{})
			finish := make(chan struct{})
			done := make(chan struct{}, 4)
			first := true
			b := &burstReleaser{release: func() {
				if first {
					first = false
					running <- struct{}{}
					<-finish
				}
				done <- struct{}{}
			}, now: now}

			if !b.drained() {
				t.Fatal("the first burst's end did not start a release")
			}
			<-running
			if b.drained() {
				t.Fatal("a release started while one ran")
			}
			set(c.took)
			close(finish)
			<-done
			// The first release's goroutine notes its end after release
			// returned: wait (bounded) for that, then end the next burst
			// at the case's time.
			if !goroutines.Eventually(func() bool {
				b.mu.Lock()
				defer b.mu.Unlock()
				return !b.running
			}) {
				t.Fatal("the first release never ended")
			}
			set(c.after)
			if got := b.drained(); got != c.want {
				t.Fatalf("a burst ending %v after the first release's start (which took %v) released: %v, want %v", c.after, c.took, got, c.want)
			}
			if c.want {
				<-done
			}
		})
	}
}

// A burst that is over for the moment but has opens again when
// burstSettle has passed is not released; one still over is.
func TestReleaseAfterBurstSettled(t *testing.T) {
	cases := []struct {
		name    string
		opening int64
		want    bool
	}{
		{"opens again", 3, false},
		{"still over", 0, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			done := make(chan struct{}, 1)
			b := &burstReleaser{release: func() { done <- struct{}{} }, now: time.Now}
			if got := b.settled(func() int64 { return c.opening }); got != c.want {
				t.Fatalf("released: %v, want %v", got, c.want)
			}
			if c.want {
				<-done
			}
		})
	}
}

// A burst that ends too soon after a release (within burstRelease of its
// start, or while it runs) is released later, once a release may start,
// unless opens are in flight again by then: before, its memory stayed
// until the client went idle (and a benchmark reading the client's memory
// after a burst that followed a warm-up read it unreleased).
func TestReleaseAfterBurstDeferred(t *testing.T) {
	base := time.Unix(1_000_000, 0)
	cases := []struct {
		name     string
		running  bool  // the first release still runs when the burst ends
		opening  int64 // opens in flight when the later try comes
		wantWait time.Duration
		want     bool // the later try releases
	}{
		{"ended within the interval", false, 0, burstRelease / 2, true},
		{"ended while a release ran", true, 0, burstRelease, true},
		{"opens in flight again", false, 2, burstRelease / 2, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var mu sync.Mutex
			clock := base
			now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
			set := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); clock = base.Add(d) }
			releases := make(chan struct{}, 4)
			finish := make(chan struct{})
			first := true
			var tries []func()
			var waits []time.Duration
			b := &burstReleaser{
				release: func() {
					if first {
						first = false
						<-finish
					}
					releases <- struct{}{}
				},
				now:     now,
				opening: func() int64 { return c.opening },
				after: func(d time.Duration, f func()) {
					waits, tries = append(waits, d), append(tries, f)
				},
			}
			if !b.drained() {
				t.Fatal("the first burst's end did not start a release")
			}
			if !c.running {
				close(finish)
				<-releases
				if !goroutines.Eventually(func() bool { b.mu.Lock(); defer b.mu.Unlock(); return !b.running }) {
					t.Fatal("the first release never ended")
				}
			}
			set(burstRelease / 2)
			if b.drained() {
				t.Fatal("a burst ending too soon was released at once")
			}
			if b.drained() {
				t.Fatal("released at the second try")
			}
			b.mu.Lock()
			n, w := len(tries), waits
			b.mu.Unlock()
			if n != 1 || w[0] != c.wantWait {
				t.Fatalf("later tries %d with waits %v, want one after %v", n, w, c.wantWait)
			}
			if c.running {
				set(0) // the first release took no time by the clock
				close(finish)
				<-releases
				if !goroutines.Eventually(func() bool { b.mu.Lock(); defer b.mu.Unlock(); return !b.running }) {
					t.Fatal("the first release never ended")
				}
			}
			set(burstRelease + time.Millisecond)
			tries[0]()
			if c.want {
				<-releases
			}
			select {
			case <-releases:
				if !c.want {
					t.Fatal("released with opens in flight")
				}
				t.Fatal("released twice")
			default:
			}
		})
	}
}

// TestReleaseTimersStop: once runOpenTunnel returns, its release timers
// are stopped (debounce's stop): neither releaseWhenIdle's nor
// releaseAfterBurst's (its settling timer and its later try after a
// release that came too soon) releases after it, however long the
// process goes on. Without a stop each fires (the "running" cases show
// the same sequence releasing). Virtual time (testing/synctest): no
// waiting.
func TestReleaseTimersStop(t *testing.T) {
	cases := []struct {
		name string
		// run starts the timers and returns stop; release counts.
		run  func(release func()) (stop func())
		stop bool
		want int32
	}{
		{"debounce running", func(r func()) func() { call, stop := debounce(time.Second, r); call(); return stop }, false, 1},
		{"debounce stopped", func(r func()) func() { call, stop := debounce(time.Second, r); call(); return stop }, true, 0},
		{"idle running", func(r func()) func() {
			idle, stop := releaseWhenIdle(func() int64 { return 0 }, r)
			idle()
			return stop
		}, false, 1},
		{"idle stopped", func(r func()) func() {
			idle, stop := releaseWhenIdle(func() int64 { return 0 }, r)
			idle()
			return stop
		}, true, 0},
		{"burst settling stopped", func(r func()) func() {
			drained, stop := releaseAfterBurst(func() int64 { return 0 }, r, time.Now)
			drained()
			return stop
		}, true, 0},
		// A burst's release, then another burst's end within burstRelease:
		// its release waits for a later try.
		{"burst later try running", burstAgain, false, 2},
		{"burst later try stopped", burstAgain, true, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var released atomic.Int32
				stop := c.run(func() { released.Add(1) })
				if c.stop {
					stop()
				}
				time.Sleep(time.Hour)
				synctest.Wait()
				if got := released.Load(); got != c.want {
					t.Errorf("%d releases, want %d", got, c.want)
				}
				stop()
			})
		})
	}
}

// burstAgain is a burst's end released, then a second burst's end within
// burstRelease: its release is a later try, pending when it returns.
func burstAgain(release func()) func() {
	drained, stop := releaseAfterBurst(func() int64 { return 0 }, release, time.Now)
	drained()
	time.Sleep(2 * burstSettle) // the first release
	synctest.Wait()
	drained()
	time.Sleep(2 * burstSettle) // settled: too soon, a later try is set
	synctest.Wait()
	return stop
}
