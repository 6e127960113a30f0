package idlemem

import (
	"sync/atomic"
	"testing"
	"time"
)

// A burst of activity ends in one release, after the quiet period; a
// second burst within the interval is released only once the interval
// since the first release has passed; a stopped Releaser never releases.
func TestReleaser(t *testing.T) {
	const quiet, interval = 20 * time.Millisecond, 300 * time.Millisecond
	released := make(chan time.Time, 10)
	r := New(quiet, interval, nil, func() { released <- time.Now() })
	defer r.Stop()

	tests := []struct {
		name     string
		burst    int
		earliest func(start, last time.Time) time.Time // no release before this
	}{
		{"first burst", 50, func(start, _ time.Time) time.Time { return start.Add(quiet) }},
		// The first release was quick: the interval spaces them.
		{"second burst, within the interval", 50, func(_, last time.Time) time.Time { return last.Add(interval - 5*time.Millisecond) }},
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
// follows a quiet period later.
func TestWorkPostponesRelease(t *testing.T) {
	const quiet = 300 * time.Millisecond
	var work atomic.Int64
	released := make(chan time.Time, 10)
	r := New(quiet, time.Millisecond, work.Load, func() { released <- time.Now() })
	defer r.Stop()
	r.Active()
	busyUntil := time.Now().Add(4 * quiet)
	for time.Now().Before(busyUntil) {
		select {
		case <-released:
			t.Fatal("released while work went on")
		case <-time.After(quiet / 30): // work far more often than the quiet period
			work.Add(1)
		}
	}
	stopped := time.Now()
	select {
	case at := <-released:
		if at.Sub(stopped) < quiet/2 {
			t.Fatalf("released %v after the work stopped, want about %v", at.Sub(stopped), quiet)
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
