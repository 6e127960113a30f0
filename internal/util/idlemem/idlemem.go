// Package idlemem gives a long-running process's free memory back to the
// system once a burst of work is over.
//
// Go's collector lets the heap grow to GOGC percent above what is live
// before it collects, and its background scavenger keeps about that much
// mapped; goroutine stacks grown by a burst shrink only at a collection
// (by half at most, each). A server or agent that opened thousands of
// tunnels and then holds them idle would keep all of that for as long as
// nothing else allocates: about a third of the memory of an idle tunnel
// (internal/bench/tunnelbench, BenchmarkConcurrentTunnels). A Releaser runs
// debug.FreeOSMemory (a collection, then every free page back to the
// system) once activity has stopped for a quiet period (no call of Active
// and no change of its work counter: tunnels opening or closing, bytes
// moving), and not again
// before an interval passed: the longer of the configured interval and
// twenty times what the last release took, so that releasing costs at
// most about 5 % of one core however large the heap (a collection of a
// server holding 100,000 tunnels takes of the order of a second). A
// process that stays busy pays nothing.
package idlemem

import (
	"runtime/debug"
	"sync"
	"time"
)

// Defaults of New's quiet and interval.
const (
	DefaultQuiet    = time.Second
	DefaultInterval = 10 * time.Second
)

// costFactor is how many times a release's own duration must pass before
// the next one.
const costFactor = 20

// Releaser calls its release function once activity stopped. The zero
// value is not usable; make one with New. Its methods are safe for
// concurrent use; a nil *Releaser does nothing.
type Releaser struct {
	quiet, interval time.Duration
	work            func() int64 // a counter that grows while work goes on, or nil
	release         func()
	now             func() time.Time

	mu      sync.Mutex
	timer   *time.Timer
	next    time.Time // no release before this
	seen    int64     // work's value when the quiet period began
	pending bool      // activity since the last release
	stopped bool
}

// New returns a Releaser that calls release (debug.FreeOSMemory when nil)
// once Active was not called and work (when not nil) did not change for
// quiet, and never twice within interval (or 20 times the last release's
// duration, if longer). Zero durations take the defaults.
func New(quiet, interval time.Duration, work func() int64, release func()) *Releaser {
	if quiet <= 0 {
		quiet = DefaultQuiet
	}
	if interval <= 0 {
		interval = DefaultInterval
	}
	if release == nil {
		release = debug.FreeOSMemory
	}
	return &Releaser{quiet: quiet, interval: interval, work: work, release: release, now: time.Now}
}

// Active notes activity (a tunnel opened or closed): the release waits
// until none was noted for the quiet period.
func (r *Releaser) Active() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return
	}
	r.pending = true
	r.seen = r.counter()
	if r.timer == nil {
		r.timer = time.AfterFunc(r.quiet, r.fire)
		return
	}
	r.timer.Reset(r.quiet)
}

// fire runs after a quiet period: it releases, or waits for the rest of
// the interval since the last release.
func (r *Releaser) fire() {
	r.mu.Lock()
	if r.stopped || !r.pending {
		r.mu.Unlock()
		return
	}
	if w := r.counter(); w != r.seen {
		// Work went on (bytes moved): wait for a quiet period again.
		r.seen = w
		r.timer.Reset(r.quiet)
		r.mu.Unlock()
		return
	}
	start := r.now()
	if wait := r.next.Sub(start); wait > 0 {
		r.timer.Reset(wait)
		r.mu.Unlock()
		return
	}
	r.pending = false
	r.next = start.Add(r.interval) // until this release's cost is known
	r.mu.Unlock()
	r.release()
	took := r.now().Sub(start)
	r.mu.Lock()
	r.next = start.Add(max(r.interval, costFactor*took))
	r.mu.Unlock()
}

// counter reads work, 0 when there is none.
func (r *Releaser) counter() int64 {
	if r.work == nil {
		return 0
	}
	return r.work()
}

// Stop cancels a release not yet run.
func (r *Releaser) Stop() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = true
	if r.timer != nil {
		r.timer.Stop()
	}
}
