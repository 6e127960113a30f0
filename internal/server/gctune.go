// gcTuner sets the garbage collector's GOGC after every collection from
// the live heap, so that a small heap gets room to grow while a large one
// keeps a tight bound.
//
// A fixed GOGC trades CPU for memory the same way at every heap size: the
// collector runs each time the program allocated GOGC percent of the live
// heap, and keeps that much headroom mapped. A server whose live heap is a
// couple of MiB (a few tunnels open) and that allocates ~100 KiB per
// tunnel opened collects every few opens at GOGC 50, while the headroom
// that would spare it is a couple of MiB; with tens of thousands of
// tunnels the same percentage is tens of MiB. A gcTuner gives the heap
// headroom of at least floor bytes, within [lo, hi] percent of the live
// heap: hi while the live heap is below floor*100/hi, lo once it is
// above floor*100/lo, and in between the percentage that makes the
// headroom exactly floor.
//
// A burst of tunnel opens (~60–80 KiB of garbage each, most of it
// crypto/tls's handshake) outruns any of these headrooms: 1,000 opens at
// once ran 13 collections in half a second, each scanning every open
// tunnel's goroutine stacks, ~15 % of the server's CPU in the burst. With
// allowBursts, a collection that finds the program allocating at least
// rate bytes per second since the measurement before gives the heap a
// headroom of at least burst bytes. Once the allocation rate has stayed
// below a quarter of rate for a poll interval, the usual percentage is
// back and the burst's garbage is collected and its memory given back to
// the operating system at once (debug.FreeOSMemory), so that the memory
// per tunnel after a burst is what it would have been without it. A
// large live heap (tens of thousands of tunnels) is left alone: its usual
// headroom is already above burst.

package server

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"
)

// Burst settings of the server's collector (allowBursts).
const (
	gcBurstHeadroom = 12 << 20 // the heap's least headroom in a burst
	gcBurstRate     = 16 << 20 // bytes allocated per second that make a burst
	gcBurstPoll     = 100 * time.Millisecond
)

// gcPercent is the GOGC that gives live bytes of heap a headroom of floor
// bytes, bounded to [lo, hi].
func gcPercent(live, floor uint64, lo, hi int) int {
	if live == 0 {
		return hi
	}
	p := floor * 100 / live
	switch {
	case p >= uint64(hi):
		return hi
	case p <= uint64(lo):
		return lo
	}
	return int(p)
}

// gcTuner sets GOGC after every collection. Make one with startGCTuner.
type gcTuner struct {
	floor  uint64
	lo, hi int
	set    func(int) int // debug.SetGCPercent

	mu      sync.Mutex
	stopped bool
	last    int // the GOGC set last
	prev    int // the GOGC before startGCTuner
	sample  []metrics.Sample

	// Bursts (allowBursts); burst 0: never.
	burst, rate uint64
	poll        time.Duration
	read        func() (live, allocs uint64) // the runtime's metrics
	now         func() time.Time
	afterFunc   func(time.Duration, func()) // time.AfterFunc
	release     func()                      // debug.FreeOSMemory
	busy        bool                        // in a burst
	liveAtGC    uint64                      // the live heap the last collection found
	allocsAt    uint64                      // bytes allocated when last measured
	at          time.Time                   // when last measured
	bursts      int                         // bursts begun
}

// startGCTuner sets GOGC from the live heap now and after every
// collection until Stop: headroom of at least floor bytes, within [lo, hi]
// percent.
func startGCTuner(floor uint64, lo, hi int) *gcTuner {
	t := newGCTuner(floor, lo, hi)
	t.mu.Lock()
	t.last = gcPercent(t.live(), floor, lo, hi)
	t.prev = t.set(t.last)
	t.mu.Unlock()
	t.arm()
	return t
}

// newGCTuner is a gcTuner on the runtime's collector that has set nothing
// yet.
func newGCTuner(floor uint64, lo, hi int) *gcTuner {
	t := &gcTuner{floor: floor, lo: lo, hi: hi, set: debug.SetGCPercent,
		sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/heap/allocs:bytes"}},
		now:    time.Now, release: debug.FreeOSMemory,
		afterFunc: func(d time.Duration, f func()) { time.AfterFunc(d, f) }}
	t.read = t.readMetrics
	return t
}

// allowBursts lets the heap grow by at least burst bytes between
// collections while the program allocates at least rate bytes per second
// (measured at each collection, and every poll while in a burst). It
// returns t.
func (t *gcTuner) allowBursts(burst, rate uint64, poll time.Duration) *gcTuner {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.burst, t.rate, t.poll = burst, rate, poll
	_, allocs := t.read()
	t.rateSince(allocs)
	return t
}

// arm makes an object that is unreachable at once and whose finalizer runs
// after the next collection: it tunes, then arms again.
func (t *gcTuner) arm() {
	s := new([16]byte) // a pointer-free object of its own size class, not a tiny one
	runtime.SetFinalizer(s, func(*[16]byte) {
		if t.tune() {
			t.arm()
		}
	})
}

// tune sets GOGC from the live heap the last collection marked, and
// begins a burst when the program allocates fast enough; false once
// stopped.
func (t *gcTuner) tune() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return false
	}
	live, allocs := t.read()
	t.liveAtGC = live
	if t.burst > 0 && !t.busy {
		if r := t.rateSince(allocs); r >= t.rate && t.burstPercent(live) > gcPercent(live, t.floor, t.lo, t.hi) {
			t.busy = true
			t.bursts++
			t.afterFunc(t.poll, t.checkBurst)
		}
	}
	t.setPercent(live)
	return true
}

// rateSince is the bytes allocated per second since the last measurement,
// which allocs (the runtime's count of all bytes allocated) becomes; 0,
// and no new measurement, when the last is less than half a poll
// interval old (collections close together, as the one a burst's release
// runs, measure nothing reliable).
// Called with mu held.
func (t *gcTuner) rateSince(allocs uint64) uint64 {
	now := t.now()
	d := now.Sub(t.at)
	if d < t.poll/2 && !t.at.IsZero() {
		return 0
	}
	prev := t.allocsAt
	t.at, t.allocsAt = now, allocs
	if d <= 0 || allocs < prev {
		return 0
	}
	return uint64(float64(allocs-prev) / d.Seconds())
}

// burstPercent is the GOGC that gives live bytes a headroom of t.burst.
func (t *gcTuner) burstPercent(live uint64) int {
	live = max(live, 1<<20) // the headroom is bounded however small the heap
	return int(t.burst * 100 / live)
}

// setPercent sets the GOGC for live bytes: the usual one, or in a burst at
// least burstPercent. Called with mu held.
func (t *gcTuner) setPercent(live uint64) {
	p := gcPercent(live, t.floor, t.lo, t.hi)
	if t.busy {
		p = max(p, t.burstPercent(live))
	}
	if p != t.last {
		t.set(p)
		t.last = p
	}
}

// checkBurst runs every poll interval in a burst: while the program still
// allocates at least a quarter of rate it looks again later; then it puts
// the usual percentage back and gives the burst's memory back (when the
// burst's headroom was still in force).
func (t *gcTuner) checkBurst() {
	t.mu.Lock()
	if t.stopped || !t.busy {
		t.mu.Unlock()
		return
	}
	_, allocs := t.read()
	if t.rateSince(allocs) >= t.rate/4 {
		t.afterFunc(t.poll, t.checkBurst)
		t.mu.Unlock()
		return
	}
	// Only a burst whose headroom is still in force left more memory
	// than the usual percentage would have: one whose live heap outgrew
	// it (the usual headroom is larger now) ends without a collection.
	raised := t.last > gcPercent(t.liveAtGC, t.floor, t.lo, t.hi)
	t.busy = false
	t.setPercent(t.liveAtGC)
	t.mu.Unlock()
	if raised {
		// Outside mu: the collection it runs calls tune.
		t.release()
	}
}

// Bursts is how many bursts began, and whether one runs now.
func (t *gcTuner) Bursts() (begun int, now bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.bursts, t.busy
}

// live is the heap the last collection marked.
func (t *gcTuner) live() uint64 {
	live, _ := t.read()
	return live
}

// readMetrics reads the live heap the last collection marked and the
// bytes allocated so far.
func (t *gcTuner) readMetrics() (live, allocs uint64) {
	metrics.Read(t.sample)
	if t.sample[0].Value.Kind() == metrics.KindUint64 {
		live = t.sample[0].Value.Uint64()
	}
	if t.sample[1].Value.Kind() == metrics.KindUint64 {
		allocs = t.sample[1].Value.Uint64()
	}
	return live, allocs
}

// GOGC is the percentage set last.
func (t *gcTuner) GOGC() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.last
}

// Stop ends the tuning and gives GOGC back the value it had before
// startGCTuner.
func (t *gcTuner) Stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return
	}
	t.stopped = true
	t.set(t.prev)
}
