package cli

import (
	"os"
	"runtime"
	"sync"
	"time"
)

// A --local-port client runs Go's scheduler with one P (GOMAXPROCS 1)
// while it uses little CPU, and with the machine's (GOMAXPROCS's default)
// once it uses most of one core: a bulk transfer or a burst of opens.
//
// Opening a tunnel hands the work on several times (accept → the open's
// goroutine → the spare's handshake → the copies' waits and wake-ups).
// With a second P idle, each hand-off wakes a second thread that spins
// looking for work and parks again. On the binaries (tunnelbench
// RESULTS.md, "s20, PB"), this governor cut the client's CPU per
// sequential open by 9–10 % and the open's p50 by 0.1–0.19 ms. One P caps
// the client at one core, though, which one connection's bulk transfer
// needs more than (both directions' TLS: a fixed GOMAXPROCS=1 lost 20–45 %
// of its throughput, RESULTS.md "s12"): so the client goes back to its
// full count as soon as it has used half a core or more over one
// procsTick, and returns to one P only after procsCalm with under a
// quarter of a core.
//
// The CPU is read (getrusage) once per procsTick, only while something
// happens: a connection accepted, opened or closed, or a copy moving a
// full chunk at once (a bulk transfer on a connection opened long
// before: client.Listener's Bulk) (poke), or, since the last tick, CPU
// used; a client whose tunnels are idle is not woken.
const (
	procsTick = 20 * time.Millisecond
	// procsHigh and procsLow are the CPU shares of one core, over a
	// tick, above which the client takes its full count of Ps and below
	// which a tick counts towards procsCalm.
	procsHigh = 0.5
	procsLow  = 0.25
	procsCalm = 500 * time.Millisecond
)

// procsGovernor sets GOMAXPROCS as above. Its methods are safe for
// concurrent use; a nil *procsGovernor does nothing.
type procsGovernor struct {
	// set is runtime.GOMAXPROCS; cpu is the process's CPU time so far;
	// after runs f once d has passed (time.AfterFunc) (tests replace them).
	set   func(int) int
	cpu   func() time.Duration
	after func(d time.Duration, f func())
	full  int // the count to go back to
	// restore, when set, puts the runtime's default back at stop
	// (runtime.SetDefaultGOMAXPROCS: the count follows the CPU limit
	// again); the count at start (full) is set if the default differs.
	restore func()

	mu       sync.Mutex
	low      bool          // running with one P
	ticking  bool          // a tick is set
	poked    bool          // poke was called since the last tick
	lastCPU  time.Duration // cpu() at the last tick (or at the start of ticking)
	calm     time.Duration // time spent low-CPU at the full count
	stopped  bool
	restored bool
}

// procsOwner is the governor that manages this process's GOMAXPROCS now:
// one at a time (tests run several commands in one process).
var (
	procsOwnerMu sync.Mutex
	procsOwner   *procsGovernor
)

// startProcsGovernor returns a running governor set to one P, or nil
// when GOMAXPROCS is the user's (set in the environment), already 1, or
// another command of this process manages it. stop puts the count back.
func startProcsGovernor() *procsGovernor {
	if _, ok := os.LookupEnv("GOMAXPROCS"); ok || processCPU == nil {
		return nil
	}
	full := runtime.GOMAXPROCS(0)
	if full <= 1 {
		return nil
	}
	g := newProcsGovernor(full, runtime.GOMAXPROCS, processCPU,
		func(d time.Duration, f func()) { time.AfterFunc(d, f) })
	g.restore = runtime.SetDefaultGOMAXPROCS
	procsOwnerMu.Lock()
	defer procsOwnerMu.Unlock()
	if procsOwner != nil {
		return nil
	}
	procsOwner = g
	g.start()
	return g
}

// newProcsGovernor returns a governor that is not started.
func newProcsGovernor(full int, set func(int) int, cpu func() time.Duration, after func(time.Duration, func())) *procsGovernor {
	return &procsGovernor{set: set, cpu: cpu, after: after, full: full}
}

// start goes to one P.
func (g *procsGovernor) start() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.low = true
	g.set(1)
}

// poke notes that something happened (a connection accepted, opened or
// closed): CPU is read at the next tick.
func (g *procsGovernor) poke() {
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ticking {
		g.poked = true // the tick set ticks on
		return
	}
	g.startTickingLocked()
}

// startTickingLocked sets a tick unless one is set; g.mu is held.
func (g *procsGovernor) startTickingLocked() {
	if g.ticking || g.stopped {
		return
	}
	g.ticking = true
	g.lastCPU = g.cpu()
	g.after(procsTick, g.tick)
}

// tick reads the CPU used since the last and sets the count; it sets the
// next tick while something happens.
func (g *procsGovernor) tick() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.ticking = false
	if g.stopped {
		return
	}
	now := g.cpu()
	used := now - g.lastCPU
	share := float64(used) / float64(procsTick)
	switch {
	case share >= procsHigh:
		g.calm = 0
		if g.low {
			g.low = false
			g.set(g.full)
		}
	case share < procsLow:
		if !g.low {
			if g.calm += procsTick; g.calm >= procsCalm {
				g.low, g.calm = true, 0
				g.set(1)
			}
		}
	default:
		g.calm = 0
	}
	// Tick on while something happens: pokes, CPU used, or the count
	// still to come back down.
	if g.poked || used > 0 && share >= procsLow/4 || !g.low {
		g.poked = false
		g.ticking = true
		g.lastCPU = now
		g.after(procsTick, g.tick)
	}
}

// stop stops the governor and puts the count back to what it was.
func (g *procsGovernor) stop() {
	if g == nil {
		return
	}
	g.mu.Lock()
	g.stopped = true
	if !g.restored {
		g.restored = true
		if g.restore != nil {
			g.restore()
		}
		if g.set(0) != g.full { // set(0) reads the count
			g.set(g.full)
		}
	}
	g.mu.Unlock()
	procsOwnerMu.Lock()
	if procsOwner == g {
		procsOwner = nil
	}
	procsOwnerMu.Unlock()
}
