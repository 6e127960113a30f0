package cli

import (
	"os"
	"runtime"
	"testing"
	"time"
)

// fakeProcs drives a procsGovernor by hand: the CPU clock, the ticks and
// the counts set.
type fakeProcs struct {
	cpu   time.Duration
	next  func() // the tick set, not yet run
	sets  []int
	count int
}

func newFakeGovernor(f *fakeProcs) *procsGovernor {
	return newProcsGovernor(4,
		func(n int) int {
			prev := f.count
			if n > 0 { // GOMAXPROCS(0) reads the count
				f.count = n
				f.sets = append(f.sets, n)
			}
			return prev
		},
		func() time.Duration { return f.cpu },
		func(_ time.Duration, fn func()) {
			if f.next != nil {
				panic("two ticks set at once")
			}
			f.next = fn
		})
}

// tick runs the tick set after the process used cpu since the last.
func (f *fakeProcs) tick(t *testing.T, cpu time.Duration) {
	t.Helper()
	if f.next == nil {
		t.Fatal("no tick set")
	}
	fn := f.next
	f.next = nil
	f.cpu += cpu
	fn()
}

// TestPB20ProcsGovernor: one P while the client uses little CPU, the full
// count as soon as a tick saw half a core or more, one P again only after
// procsCalm of little CPU; no tick set while nothing happens; stop puts
// the count back.
func TestPB20ProcsGovernor(t *testing.T) {
	calmTicks := int(procsCalm / procsTick)
	cases := []struct {
		name string
		run  func(t *testing.T, f *fakeProcs, g *procsGovernor)
		sets []int // every count set, in order (start's 1 first)
	}{
		{"sequential opens stay at one P", func(t *testing.T, f *fakeProcs, g *procsGovernor) {
			for range 100 {
				g.poke()
				f.tick(t, procsTick/5) // 20 % of a core
			}
		}, []int{1}},
		{"a bulk transfer takes the full count at its first busy tick", func(t *testing.T, f *fakeProcs, g *procsGovernor) {
			g.poke()
			f.tick(t, procsTick/10)
			f.tick(t, procsTick*6/10) // CPU used: ticks go on without pokes
			if f.count != 4 {
				t.Fatalf("count %d after a busy tick, want 4", f.count)
			}
			for range 10 {
				f.tick(t, procsTick)
			}
		}, []int{1, 4}},
		{"back to one P only after procsCalm", func(t *testing.T, f *fakeProcs, g *procsGovernor) {
			g.poke()
			f.tick(t, procsTick)
			for i := range calmTicks - 1 {
				f.tick(t, 0)
				if f.count != 4 {
					t.Fatalf("count %d after %d calm ticks, want 4", f.count, i+1)
				}
			}
			f.tick(t, 0)
			if f.count != 1 {
				t.Fatalf("count %d after %d calm ticks, want 1", f.count, calmTicks)
			}
			if f.next != nil {
				t.Fatal("a tick set at one P with nothing happening")
			}
		}, []int{1, 4, 1}},
		{"a middling tick restarts the calm", func(t *testing.T, f *fakeProcs, g *procsGovernor) {
			g.poke()
			f.tick(t, procsTick)
			for range calmTicks - 1 {
				f.tick(t, 0)
			}
			f.tick(t, procsTick*3/10) // between procsLow and procsHigh
			for range calmTicks - 1 {
				f.tick(t, 0)
			}
			if f.count != 4 {
				t.Fatalf("count %d, want 4 (the calm restarted)", f.count)
			}
			f.tick(t, 0)
		}, []int{1, 4, 1}},
		{"no ticks while nothing happens", func(t *testing.T, f *fakeProcs, g *procsGovernor) {
			if f.next != nil {
				t.Fatal("a tick set before anything happened")
			}
			g.poke()
			f.tick(t, 0)
			if f.next != nil {
				t.Fatal("a tick set after a quiet tick")
			}
			g.poke()
			g.poke() // during the tick's interval: one tick more, not two at once (fake's panic)
			f.tick(t, 0)
			f.tick(t, 0)
			if f.next != nil {
				t.Fatal("a tick set after a quiet tick")
			}
		}, []int{1}},
		{"stop puts the count back, no tick after", func(t *testing.T, f *fakeProcs, g *procsGovernor) {
			g.poke()
			g.stop()
			f.tick(t, procsTick) // the tick set before stop runs, does nothing
			g.poke()
			if f.next != nil {
				t.Fatal("a tick set after stop")
			}
			g.stop()
		}, []int{1, 4}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := &fakeProcs{count: 4}
			g := newFakeGovernor(f)
			g.start()
			c.run(t, f, g)
			if len(f.sets) != len(c.sets) {
				t.Fatalf("counts set %v, want %v", f.sets, c.sets)
			}
			for i := range c.sets {
				if f.sets[i] != c.sets[i] {
					t.Fatalf("counts set %v, want %v", f.sets, c.sets)
				}
			}
		})
	}
}

// TestPB20ProcsGovernorLeavesTheUsersCount: GOMAXPROCS set in the
// environment is the user's; the client does not change it.
func TestPB20ProcsGovernorLeavesTheUsersCount(t *testing.T) {
	t.Setenv("GOMAXPROCS", "2")
	before := runtime.GOMAXPROCS(0)
	if g := startProcsGovernor(); g != nil {
		g.stop()
		t.Fatal("a governor started with GOMAXPROCS in the environment")
	}
	if n := runtime.GOMAXPROCS(0); n != before {
		t.Fatalf("GOMAXPROCS %d, was %d", n, before)
	}
}

// TestPB20ProcsGovernorOneP: on the real runtime, a started governor runs
// the process with one P, and its stop puts the runtime's default back.
func TestPB20ProcsGovernorOneP(t *testing.T) {
	if _, ok := os.LookupEnv("GOMAXPROCS"); ok {
		t.Skip("GOMAXPROCS set in the environment")
	}
	before := runtime.GOMAXPROCS(0)
	if before <= 1 {
		t.Skip("one CPU: nothing to lower")
	}
	g := startProcsGovernor()
	if g == nil {
		t.Fatal("no governor started")
	}
	if n := runtime.GOMAXPROCS(0); n != 1 {
		g.stop()
		t.Fatalf("GOMAXPROCS %d with the governor started, want 1", n)
	}
	if again := startProcsGovernor(); again != nil {
		again.stop()
		g.stop()
		t.Fatal("a second governor started beside the first")
	}
	g.stop()
	if n := runtime.GOMAXPROCS(0); n != before {
		t.Fatalf("GOMAXPROCS %d after stop, want %d", n, before)
	}
}
