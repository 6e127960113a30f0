package server

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestGCPercent(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name        string
		live, floor uint64
		want        int
	}{
		{"nothing live yet", 0, 8 * mib, 100},
		{"small heap: the upper bound", 2 * mib, 8 * mib, 100},
		{"floor equals the heap", 8 * mib, 8 * mib, 100},
		{"headroom of exactly the floor", 10 * mib, 8 * mib, 80},
		{"twice the floor: the lower bound", 16 * mib, 8 * mib, 50},
		{"large heap: the lower bound", 1 << 30, 8 * mib, 50},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := gcPercent(tc.live, tc.floor, 50, 100); got != tc.want {
				t.Fatalf("gcPercent(%d, %d, 50, 100) = %d, want %d", tc.live, tc.floor, got, tc.want)
			}
		})
	}
}

// TestGCTunerFollowsTheLiveHeap: a small live heap gets the upper bound, a
// live heap above twice the floor the lower one after the next
// collection, and Stop gives GOGC back.
func TestGCTunerFollowsTheLiveHeap(t *testing.T) {
	before := debug.SetGCPercent(100)
	debug.SetGCPercent(before)
	const floor = 8 << 20
	runtime.GC()
	tu := startGCTuner(floor, 50, 100)
	if got := tu.GOGC(); got != 100 {
		t.Fatalf("GOGC with a small live heap = %d, want 100", got)
	}
	if got := debug.SetGCPercent(100); got != 100 { // sets what it reads
		t.Fatalf("the runtime's GOGC = %d, want 100", got)
	}

	big := make([][]byte, 0, 64)
	for range 48 { // 48 MiB live, well above 2 × floor
		big = append(big, make([]byte, 1<<20))
	}
	waitGOGC(t, tu, 50)
	runtime.KeepAlive(big)

	big = nil
	waitGOGC(t, tu, 100)

	tu.Stop()
	if got := debug.SetGCPercent(before); got != before {
		t.Fatalf("after Stop GOGC = %d, want %d (the value before Start)", got, before)
	}
	// Stopped: a collection changes nothing any more.
	debug.SetGCPercent(77)
	runtime.GC()
	runtime.GC()
	if got := debug.SetGCPercent(before); got != 77 {
		t.Fatalf("a stopped Tuner set GOGC to %d", got)
	}
}

// waitGOGC collects until the tuner set want (its finalizer runs on the
// finalizer goroutine after a collection), for at most 100 collections.
func waitGOGC(t *testing.T, tu *gcTuner, want int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second) // hang guard only
	for i := 0; i < 100 && time.Now().Before(deadline); i++ {
		runtime.GC()
		if tu.GOGC() == want {
			return
		}
		runtime.Gosched()
	}
	t.Fatalf("GOGC = %d after 100 collections, want %d", tu.GOGC(), want)
}
