package cli

import (
	"runtime/debug"
	"slices"
	"testing"
)

// burstGC raises the GC percent once per burst by burstGCExtra (less when
// the live heap is large: never more than burstGCHeadroom of extra
// growth), lowers it as the live heap grows, puts GOGC's back at the
// burst's end, and leaves alone a GOGC that is off or 0.
func TestBurstGC(t *testing.T) {
	const mib = 1 << 20
	cases := []struct {
		name   string
		gogc   int    // the percent before the burst
		live   uint64 // live heap at the burst's start
		grown  uint64 // live heap once the burst opened many
		raised int    // percent set at the start (0: none)
		later  int    // percent once grown (0: none set)
	}{
		{"default, small heap", 100, 2 * mib, 8 * mib, 100 + burstGCExtra, 100 + burstGCExtra},
		{"headroom bounds a large heap", 100, 2 * mib, 64 * mib, 100 + burstGCExtra, 100 + 50},
		{"huge heap: nothing more", 100, 4096 * mib, 4096 * mib, 0, 0},
		{"GOGC=50", 50, 2 * mib, 8 * mib, 50 + burstGCExtra, 50 + burstGCExtra},
		{"nothing live yet", 100, 0, 8 * mib, 100 + burstGCExtra, 100 + burstGCExtra},
		{"GOGC=off", -1, 2 * mib, 8 * mib, 0, 0},
		{"GOGC=0", 0, 2 * mib, 8 * mib, 0, 0},
		{"GOGC=400", 400, 2 * mib, 8 * mib, 400 + burstGCExtra, 400 + burstGCExtra},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			percent := c.gogc
			live := c.live
			var sets []int
			g := &burstGC{
				setPercent: func(p int) int {
					old := percent
					percent = p
					sets = append(sets, p)
					return old
				},
				read: func() (int, uint64) { return percent, live },
			}
			g.opened() // no burst: nothing
			if len(sets) != 0 {
				t.Fatalf("set %v outside a burst", sets)
			}
			g.begin()
			g.begin() // a second Queued in the same burst: nothing more
			want := []int{}
			if c.raised != 0 {
				want = append(want, c.raised)
			}
			if !slices.Equal(sets, want) {
				t.Fatalf("at the burst's start set %v, want %v", sets, want)
			}
			live = c.grown
			sets = nil
			for range burstGCEvery - 1 {
				g.opened()
			}
			if len(sets) != 0 {
				t.Fatalf("looked at the heap before %d opens: set %v", burstGCEvery, sets)
			}
			g.opened()
			want = []int{}
			if c.later != 0 {
				want = append(want, c.later)
			}
			if !slices.Equal(sets, want) {
				t.Fatalf("once the live heap grew to %d MiB set %v, want %v", c.grown/mib, sets, want)
			}
			g.end()
			g.end() // a second Drained: nothing more
			if percent != c.gogc {
				t.Fatalf("after the burst the percent is %d, want GOGC's %d", percent, c.gogc)
			}
			// The next burst raises again.
			live = c.live
			g.begin()
			if c.raised != 0 && percent != c.raised {
				t.Fatalf("the next burst set %d, want %d", percent, c.raised)
			}
			g.end()
			if percent != c.gogc {
				t.Fatalf("after the next burst the percent is %d, want %d", percent, c.gogc)
			}
		})
	}
}

// newBurstGC reads and sets the runtime's own GC percent: raised in a
// burst, GOGC's once it is over.
func TestBurstGCRuntime(t *testing.T) {
	prev := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prev)
	g := newBurstGC()
	if p, _ := g.read(); p != 100 {
		t.Fatalf("read the GC percent as %d, want 100", p)
	}
	g.begin()
	if p, _ := g.read(); p <= 100 || p > 100+burstGCExtra {
		t.Fatalf("in a burst the GC percent is %d, want 101..%d", p, 100+burstGCExtra)
	}
	g.end()
	if p, _ := g.read(); p != 100 {
		t.Fatalf("after the burst the GC percent is %d, want 100", p)
	}
	debug.SetGCPercent(-1)
	off := newBurstGC()
	if p, _ := off.read(); p >= 0 {
		t.Fatalf("GOGC=off read as %d", p)
	}
	off.begin()
	if p, _ := off.read(); p >= 0 {
		t.Fatalf("a burst turned GOGC=off into %d", p)
	}
}
