package server

import (
	"fmt"
	"sort"
	"testing"
	"time"
)

// sawtoothRuntime drives a gcTuner made by newGCTuner (the server's own
// settings) through a fake clock, metrics, timers and collector CPU
// time; its release counts and costs cost of CPU time.
type sawtoothRuntime struct {
	now          time.Time
	live, allocs uint64
	timers       []sawtoothTimer
	releases     []time.Time
	cost         time.Duration
	cpu          time.Duration
}

type sawtoothTimer struct {
	at time.Time
	fn func()
}

func newSawtoothTuner(f *sawtoothRuntime) *gcTuner {
	t := newGCTuner(gcFloor, 50, 100)
	t.set = func(int) int { return 100 }
	t.read = func() (uint64, uint64) { return f.live, f.allocs }
	t.now = func() time.Time { return f.now }
	t.afterFunc = func(d time.Duration, fn func()) { f.timers = append(f.timers, sawtoothTimer{f.now.Add(d), fn}) }
	t.release = func() { f.releases = append(f.releases, f.now); f.cpu += f.cost }
	t.gcCPU = func() float64 { return f.cpu.Seconds() }
	t.last = gcPercent(f.live, gcFloor, 50, 100)
	return t.allowBursts(gcBurstHeadroom, gcBurstRate, gcBurstPoll)
}

// advance moves the clock on by d, allocating bytes evenly, and runs
// every timer that falls due on the way, in order.
func (f *sawtoothRuntime) advance(d time.Duration, bytes uint64) {
	end := f.now.Add(d)
	start, total := f.now, d
	for {
		sort.SliceStable(f.timers, func(i, j int) bool { return f.timers[i].at.Before(f.timers[j].at) })
		if len(f.timers) == 0 || f.timers[0].at.After(end) {
			break
		}
		tm := f.timers[0]
		f.timers = f.timers[1:]
		if tm.at.After(f.now) {
			f.allocs += uint64(float64(bytes) * float64(tm.at.Sub(f.now)) / float64(total))
			f.now = tm.at
		}
		tm.fn()
	}
	if end.After(f.now) {
		f.allocs += uint64(float64(bytes) * float64(end.Sub(f.now)) / float64(total))
		f.now = end
	}
	_ = start
}

// TestR4GCTunerSawtoothReleases: bursts of tunnel opens that end every
// second or less (a client opening a few hundred tunnels each second, the
// live heap within the burst headroom, or past it but below 48 MiB) do not
// make the server spend more than 2 % of a core collecting and scavenging
// its whole heap at each burst's end (~9, 18 and 26 ms of CPU at 10, 30
// and 47 MiB live in a program shaped like it, more in the server under
// load); the memory is still given back: once the sawtooth stops, the
// last burst's release follows. A burst long after the last release
// releases at once.
func TestR4GCTunerSawtoothReleases(t *testing.T) {
	const (
		mib      = 1 << 20
		duration = 60 * time.Second
		ms       = time.Millisecond
	)
	for _, tc := range []struct {
		name            string
		period          time.Duration
		liveAt, liveEnd uint64 // the live heap at the burst's first and last collection
		cost            time.Duration
	}{
		{"every second, 10 MiB live (headroom in force)", time.Second, 10 * mib, 10 * mib, 9 * ms},
		{"every 500 ms, 10 MiB live", 500 * ms, 10 * mib, 10 * mib, 9 * ms},
		{"every second, 20 → 30 MiB live", time.Second, 20 * mib, 30 * mib, 18 * ms},
		{"every second, 20 → 47 MiB live", time.Second, 20 * mib, 47 * mib, 26 * ms},
		{"every 500 ms, 20 → 47 MiB live", 500 * ms, 20 * mib, 47 * mib, 26 * ms},
		{"every second, 47 MiB live on a loaded machine", time.Second, 20 * mib, 47 * mib, 100 * ms},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &sawtoothRuntime{now: time.Unix(1000, 0), live: tc.liveAt, cost: tc.cost}
			tu := newSawtoothTuner(f)
			defer tu.Stop()
			f.advance(time.Second, 0)
			bursts := 0
			var firstEnd, lastEnd time.Time
			for f.now.Before(time.Unix(1000, 0).Add(duration)) {
				// The burst: 300 ms at 80 MiB/s, a collection every
				// 100 ms: the first measures since the last burst, the
				// second begins this one, the third finds the heap grown.
				f.live = tc.liveAt
				for range 2 {
					f.advance(100*time.Millisecond, 8*mib)
					tu.tune()
				}
				f.advance(100*time.Millisecond, 8*mib)
				f.live = tc.liveEnd
				tu.tune()
				if _, busy := tu.Bursts(); busy {
					bursts++
				}
				lastEnd = f.now
				f.advance(tc.period-300*time.Millisecond, 0)
				if firstEnd.IsZero() {
					firstEnd = f.now
					if len(f.releases) != 1 {
						t.Fatalf("%d releases at the first burst's end, want 1", len(f.releases))
					}
				}
			}
			if bursts < int(duration/tc.period)/2 {
				t.Fatalf("only %d bursts in %v: the sawtooth does not make bursts", bursts, duration)
			}
			// At most 2 % of a core, and the first release's cost.
			spent, budget := f.cpu, duration/50+tc.cost
			if spent > budget {
				t.Fatalf("%d releases of %d bursts spent %v of CPU in %v, want at most %v", len(f.releases), bursts, spent, duration, budget)
			}
			// Quiet now: what the last burst left is given back.
			f.advance(time.Minute, 0)
			if len(f.releases) == 0 || f.releases[len(f.releases)-1].Before(lastEnd) {
				t.Fatalf("no release after the last burst's end (releases at%v)", fmtTimes(f.releases))
			}
			if _, busy := tu.Bursts(); busy {
				t.Fatal("still in a burst a minute after the last")
			}
		})
	}
}

func fmtTimes(ts []time.Time) string {
	s := ""
	for _, x := range ts {
		s += fmt.Sprintf(" %v", x.Sub(time.Unix(1000, 0)))
	}
	return s
}
