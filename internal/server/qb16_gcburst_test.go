package server

import (
	"testing"
	"time"
)

// TestGCTunerBurstEndReleasesSmallHeap: a burst whose live heap outgrew
// its headroom (the usual GOGC gives more room now) still gives the
// heap's free memory back at its end while the live heap is below
// releaseLiveBursts bursts' headroom — the usual percentage's garbage of
// the burst is otherwise kept mapped with nothing allocating after it —
// and a heap at or above that bound is left alone (the release's
// collection would be dear).
func TestGCTunerBurstEndReleasesSmallHeap(t *testing.T) {
	const (
		mib   = 1 << 20
		floor = 4 * mib
		burst = 12 * mib
		rate  = 16 * mib // bytes per second
		poll  = 100 * time.Millisecond
	)
	for _, tc := range []struct {
		name      string
		liveAtEnd uint64
		releases  int
	}{
		{"1,000 tunnels just opened: 39 MiB live", 39 * mib, 1},
		{"just below the bound", releaseLiveBursts*burst - 1, 1},
		{"at the bound: left alone", releaseLiveBursts * burst, 0},
		{"tens of thousands of tunnels: left alone", 1 << 30, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeRuntime{now: time.Unix(1000, 0), live: 2 * mib}
			tu := newFakeTuner(f, floor, burst, rate, poll)
			tu.prev = 100
			// The burst begins on a small heap: raised.
			f.now, f.allocs, f.live = f.now.Add(poll), f.allocs+8*mib, 4*mib
			tu.tune()
			if _, busy := tu.Bursts(); !busy || tu.GOGC() <= 100 {
				t.Fatalf("no raised burst at 80 MiB/s on 4 MiB live (busy %v, GOGC %d)", busy, tu.GOGC())
			}
			// A collection late in the burst finds the live heap grown
			// past the burst's headroom: the usual 50 % applies.
			f.now, f.allocs, f.live = f.now.Add(poll), f.allocs+8*mib, tc.liveAtEnd
			tu.tune()
			if got := tu.GOGC(); got != 50 {
				t.Fatalf("GOGC on %d MiB live = %d, want the usual 50", tc.liveAtEnd/mib, got)
			}
			// Allocation stops: the check (the first since the burst
			// began, 5 s on) ends the burst.
			f.now = f.now.Add(5 * time.Second)
			f.fire(t)
			if _, busy := tu.Bursts(); busy {
				t.Fatal("still in a burst 5 s after its last allocation")
			}
			if f.releases != tc.releases {
				t.Fatalf("%d releases at the burst's end on %d MiB live, want %d", f.releases, tc.liveAtEnd/mib, tc.releases)
			}
		})
	}
}
