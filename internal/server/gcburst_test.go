package server

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// fakeRuntime drives a gcTuner's bursts without the runtime: its clock,
// metrics, timer and release are the test's.
type fakeRuntime struct {
	now          time.Time
	live, allocs uint64
	set          []int
	timers       []func()
	releases     int
}

func newFakeTuner(f *fakeRuntime, floor, burst, rate uint64, poll time.Duration) *gcTuner {
	t := &gcTuner{floor: floor, lo: 50, hi: 100,
		set:       func(p int) int { f.set = append(f.set, p); return 100 },
		read:      func() (uint64, uint64) { return f.live, f.allocs },
		now:       func() time.Time { return f.now },
		afterFunc: func(_ time.Duration, fn func()) { f.timers = append(f.timers, fn) },
		release:   func() { f.releases++ },
	}
	t.last = gcPercent(f.live, floor, 50, 100)
	return t.allowBursts(burst, rate, poll)
}

// fire runs the timer set last (the only one pending in a burst).
func (f *fakeRuntime) fire(t *testing.T) {
	t.Helper()
	if len(f.timers) == 0 {
		t.Fatal("no burst check pending")
	}
	fn := f.timers[len(f.timers)-1]
	f.timers = f.timers[:len(f.timers)-1]
	fn()
}

// TestGCTunerBursts: a collection that finds the program allocating at
// least the burst rate gives the heap the burst's headroom (a higher
// GOGC); the burst lasts while the rate stays above a quarter of it,
// checked every poll; then the usual GOGC is back and the memory given
// back once; a large heap, a slow program, collections too close
// together to measure (the release's own) and a stopped tuner begin none.
func TestGCTunerBursts(t *testing.T) {
	const (
		mib   = 1 << 20
		floor = 4 * mib
		burst = 16 * mib
		rate  = 32 * mib // bytes per second
		poll  = 100 * time.Millisecond
	)
	type step struct {
		after     time.Duration // the clock moves on
		allocated uint64        // bytes allocated meanwhile
		live      uint64        // the live heap now
		op        string        // "gc": a collection's tune; "check": the burst's timer fires; "stop"
		busy      bool          // in a burst after it
		gogc      int           // the GOGC set last after it
		releases  int           // releases so far
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"a burst: raised, kept while fast, back and released once when slow", []step{
			{100 * time.Millisecond, 8 * mib, 4 * mib, "gc", true, 400, 0},      // 80 MiB/s: 16 MiB over 4 live
			{100 * time.Millisecond, 20 * mib, 8 * mib, "check", true, 400, 0},  // still fast: looks again later
			{50 * time.Millisecond, 10 * mib, 8 * mib, "gc", true, 200, 0},      // a collection in the burst: 16 over 8
			{100 * time.Millisecond, 9 * mib, 8 * mib, "check", true, 200, 0},   // 90 MiB/s
			{100 * time.Millisecond, 512 << 10, 8 * mib, "check", false, 50, 1}, // 5 MiB/s < 8: over
			{10 * time.Millisecond, 64 << 10, 7 * mib, "gc", false, 57, 1},      // the release's collection: measures nothing
			{100 * time.Millisecond, 1 * mib, 7 * mib, "gc", false, 57, 1},      // slow: no burst
			{100 * time.Millisecond, 10 * mib, 7 * mib, "gc", true, 228, 1},     // the next burst
			{100 * time.Millisecond, 0, 7 * mib, "check", false, 57, 2},         // over at once
		}},
		{"a burst whose heap outgrew its headroom ends without a release", []step{
			{100 * time.Millisecond, 8 * mib, 4 * mib, "gc", true, 400, 0},
			{100 * time.Millisecond, 20 * mib, 64 * mib, "gc", true, 50, 0}, // the usual 50 % is more than 16 MiB now
			{5 * time.Second, 0, 64 * mib, "check", false, 50, 0},           // 20 MiB in 5.1 s: over
		}},
		{"a slow program: no burst", []step{
			{100 * time.Millisecond, 3 * mib, 2 * mib, "gc", false, 100, 0}, // 30 MiB/s
			{1 * time.Second, 20 * mib, 2 * mib, "gc", false, 100, 0},
		}},
		{"collections too close together measure nothing", []step{
			{10 * time.Millisecond, 4 * mib, 2 * mib, "gc", false, 100, 0}, // 400 MiB/s over 10 ms
			{10 * time.Millisecond, 4 * mib, 2 * mib, "gc", false, 100, 0},
			{40 * time.Millisecond, 0, 2 * mib, "gc", true, 800, 0}, // 8 MiB in 60 ms
		}},
		{"a large heap already has more headroom than a burst's", []step{
			{100 * time.Millisecond, 100 * mib, 64 * mib, "gc", false, 50, 0},
			{100 * time.Millisecond, 100 * mib, 64 * mib, "gc", false, 50, 0},
		}},
		{"a tiny heap's burst headroom is bounded", []step{
			{100 * time.Millisecond, 8 * mib, 64 << 10, "gc", true, 1600, 0}, // as if 1 MiB live
		}},
		{"stopped in a burst: the check does nothing", []step{
			{100 * time.Millisecond, 8 * mib, 4 * mib, "gc", true, 400, 0},
			{0, 0, 4 * mib, "stop", true, 100, 0}, // Stop gives back the GOGC from before
			{100 * time.Millisecond, 0, 4 * mib, "check", true, 100, 0},
			{100 * time.Millisecond, 8 * mib, 4 * mib, "gc", true, 100, 0},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := &fakeRuntime{now: time.Unix(1000, 0), live: 2 * mib}
			tu := newFakeTuner(f, floor, burst, rate, poll)
			tu.prev = 100
			stopped := false
			for i, s := range c.steps {
				f.now = f.now.Add(s.after)
				f.allocs += s.allocated
				f.live = s.live
				switch s.op {
				case "gc":
					tu.tune()
				case "check":
					f.fire(t)
				case "stop":
					tu.Stop()
					stopped = true
				}
				_, busy := tu.Bursts()
				gogc := tu.GOGC()
				if len(f.set) > 0 {
					gogc = f.set[len(f.set)-1]
				}
				if busy != s.busy || gogc != s.gogc || f.releases != s.releases {
					t.Fatalf("step %d (%s): busy %v, GOGC %d, %d releases; want %v, %d, %d", i, s.op, busy, gogc, f.releases, s.busy, s.gogc, s.releases)
				}
				if busy && !stopped && len(f.timers) != 1 {
					t.Fatalf("step %d: %d burst checks pending, want 1", i, len(f.timers))
				}
			}
		})
	}
}

// TestGCTunerBurstRuntime: on the runtime's own collector, a program that
// allocates fast gets a higher GOGC, and once it stops the tuner puts the
// usual GOGC back and gives the memory back (its release, here observed).
func TestGCTunerBurstRuntime(t *testing.T) {
	before := debug.SetGCPercent(100)
	debug.SetGCPercent(before)
	defer debug.SetGCPercent(before)
	runtime.GC()
	tu := startGCTuner(4<<20, 50, 100)
	defer tu.Stop()
	released := make(chan struct{}, 1)
	tu.mu.Lock()
	tu.release = func() {
		debug.FreeOSMemory()
		select {
		case released <- struct{}{}:
		default:
		}
	}
	tu.mu.Unlock()
	// 1 MiB/s makes a burst; a poll of 2 ms measures a rate over ≥ 1 ms.
	tu.allowBursts(64<<20, 1<<20, 2*time.Millisecond)
	var sink [][]byte
	deadline := time.Now().Add(30 * time.Second) // hang guard only
	for i := 0; i < 200 && time.Now().Before(deadline); i++ {
		for range 64 {
			sink = append(sink, make([]byte, 16<<10)) // 1 MiB garbage per round
		}
		sink = sink[:0]
		runtime.GC()
		if begun, _ := tu.Bursts(); begun > 0 {
			break
		}
	}
	begun, _ := tu.Bursts()
	if begun == 0 {
		t.Fatal("no burst after 200 MiB allocated in collections a few ms apart")
	}
	// Allocating no more: the burst's check finds the rate below a
	// quarter of 1 MiB/s and releases.
	select {
	case <-released:
	case <-time.After(30 * time.Second):
		t.Fatal("the burst did not end within 30 s of the allocations' end")
	}
	if _, busy := tu.Bursts(); busy {
		t.Fatal("still in a burst after its release")
	}
	if got, want := debug.SetGCPercent(tu.GOGC()), tu.GOGC(); got != want || want > 100 {
		t.Fatalf("the runtime's GOGC %d, the tuner's %d: want the usual (≤ 100) after the burst", got, want)
	}
	runtime.KeepAlive(sink)
}
