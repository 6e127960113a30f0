package idlemem

import (
	"sync"
	"testing"
	"time"
)

// A burst of activity ends in one release, after the quiet period; a
// second burst within the interval is released only once the interval
// since the first release has passed; a stopped Releaser never releases.
func TestReleaser(t *testing.T) {
	const quiet, interval = 20 * time.Millisecond, time.Second
	released := make(chan time.Time, 10)
	r := New(quiet, interval, nil, func() { released <- time.Now() })
	defer r.Stop()

	tests := []struct {
		name     string
		burst    int
		earliest func(start, last time.Time) time.Time // no release before this
	}{
		{"first burst", 50, func(start, _ time.Time) time.Time { return start.Add(quiet) }},
		// The first release was quick: the interval spaces them. The
		// release is timed from its start, which comes a moment before
		// the function records it (longer on a loaded machine): half
		// the interval is still far above the quiet period that alone
		// would space releases without it.
		{"second burst, within the interval", 50, func(_, last time.Time) time.Time { return last.Add(interval / 2) }},
	}
	var last time.Time
	for _, tc := range tests {
		start := time.Now()
		for range tc.burst {
			r.Active()
		}
		select {
		case at := <-released:
			if early := tc.earliest(start, last); at.Before(early) {
				t.Fatalf("%s: released %v too early", tc.name, early.Sub(at))
			}
			last = at
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: no release", tc.name)
		}
		if n := len(released); n != 0 {
			t.Fatalf("%s: %d more releases", tc.name, n)
		}
	}

	r.Stop()
	r.Active()
	r.mu.Lock()
	armed := r.pending
	r.mu.Unlock()
	if armed {
		t.Fatal("a stopped Releaser took activity")
	}
	var nilR *Releaser
	nilR.Active() // a nil Releaser does nothing
	nilR.Stop()
}

// A slow release spaces the next one by twenty times its duration.
func TestReleaserSpacesCostlyReleases(t *testing.T) {
	const quiet, interval, cost = time.Millisecond, time.Millisecond, 15 * time.Millisecond
	released := make(chan time.Time, 10)
	r := New(quiet, interval, nil, func() {
		time.Sleep(cost) // the release's own cost, not synchronisation
		released <- time.Now()
	})
	defer r.Stop()
	var times []time.Time
	for range 2 {
		r.Active()
		select {
		case at := <-released:
			times = append(times, at)
		case <-time.After(10 * time.Second):
			t.Fatal("no release")
		}
	}
	// The second release started at least 20 × cost after the first
	// started; each ends cost after its start.
	if gap := times[1].Sub(times[0]); gap < (costFactor-1)*cost {
		t.Fatalf("releases %v apart, want at least %v", gap, (costFactor-1)*cost)
	}
}

// While the work counter grows (bytes moving through tunnels that neither
// open nor close), nothing is released; once it stops, the release
// follows a quiet period later. The counter grows at every look (not on a
// wall clock), so the test does not depend on how promptly it is
// scheduled: a look that saw no change would release at once.
func TestWorkPostponesRelease(t *testing.T) {
	const quiet, looks = 20 * time.Millisecond, 5
	var (
		mu         sync.Mutex
		busy       = true
		count      int64
		lastChange time.Time
	)
	looked := make(chan struct{}, 1)
	work := func() int64 {
		mu.Lock()
		defer mu.Unlock()
		if busy {
			count++
			lastChange = time.Now()
		}
		select {
		case looked <- struct{}{}:
		default:
		}
		return count
	}
	released := make(chan time.Time, 10)
	r := New(quiet, time.Millisecond, work, func() { released <- time.Now() })
	defer r.Stop()
	r.Active()
	for i := range looks { // Active's look, then the quiet periods' ends
		select {
		case <-released:
			t.Fatalf("released while work went on (after %d looks)", i)
		case <-looked:
		case <-time.After(10 * time.Second): // a hang guard
			t.Fatalf("no look at the work counter after %d looks", i)
		}
	}
	mu.Lock()
	busy = false
	stopped := lastChange
	mu.Unlock()
	select {
	case at := <-released:
		if at.Sub(stopped) < quiet {
			t.Fatalf("released %v after the work last changed, want at least the quiet period %v", at.Sub(stopped), quiet)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no release after the work stopped")
	}
}

// Without activity nothing is released.
func TestNoActivityNoRelease(t *testing.T) {
	r := New(time.Millisecond, time.Millisecond, nil, func() { t.Error("released without activity") })
	r.mu.Lock()
	armed := r.timer != nil
	r.mu.Unlock()
	if armed {
		t.Fatal("a timer runs without activity")
	}
	r.Stop()
}
