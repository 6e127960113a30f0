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

package server

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
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
}

// startGCTuner sets GOGC from the live heap now and after every
// collection until Stop: headroom of at least floor bytes, within [lo, hi]
// percent.
func startGCTuner(floor uint64, lo, hi int) *gcTuner {
	t := &gcTuner{floor: floor, lo: lo, hi: hi, set: debug.SetGCPercent,
		sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	t.mu.Lock()
	t.last = gcPercent(t.live(), floor, lo, hi)
	t.prev = t.set(t.last)
	t.mu.Unlock()
	t.arm()
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

// tune sets GOGC from the live heap the last collection marked; false once
// stopped.
func (t *gcTuner) tune() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return false
	}
	if p := gcPercent(t.live(), t.floor, t.lo, t.hi); p != t.last {
		t.set(p)
		t.last = p
	}
	return true
}

// live is the heap the last collection found live.
func (t *gcTuner) live() uint64 {
	metrics.Read(t.sample)
	if t.sample[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return t.sample[0].Value.Uint64()
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
