package frontdoor

import (
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/postern/postern/internal/util/sockwait"
	"github.com/postern/postern/internal/util/stackgrow"
)

// clientIdler runs the reading of a tunnel's client frames
// (clientToAgent) so that an idle tunnel holds no goroutine for it: once
// the client has nothing more to give (neither crypto/tls nor the socket
// holds a byte), the wait for its next bytes is armed in the process's
// sockwait.Poller, whose one goroutine starts the next reading on a new
// goroutine when the socket has something. A goroutine parked in that
// wait was ~2.5 KiB (its 2 KiB stack and the runtime's g) of the
// server's ~27 KiB per idle tunnel (BenchmarkConcurrentTunnels).
//
// Where there is no Poller (errors.ErrUnsupported), no socket beneath the
// connection (the console's in-memory one, or bytes the upgrade buffered)
// or the socket cannot be watched, the reading waits on its goroutine as
// before: poll is nil. Once the Waiter is closed (the tunnel is ending:
// finish and timeOut close it, so that the close grace, a read deadline,
// bounds the wait for the client's answer) the reading goes on that way.
type clientIdler struct {
	poll *sockwait.Waiter // nil: the reading waits on its goroutine
	// work reads frames; with park set it returns false once the client
	// has nothing more for now, otherwise only at the end (true). woke
	// says the Poller saw the socket readable.
	work func(park, woke bool) (done bool)
	end  func()      // called once, after work's end, on its goroutine
	wake func(error) // woken, made once
}

// step reads the client's frames (woke: the Poller saw the socket
// readable), then ends or arms the next wait.
func (d *clientIdler) step(woke bool) {
	if d.work(d.poll != nil, woke) {
		d.end()
		return
	}
	if d.wake == nil {
		d.wake = d.woken
	}
	d.poll.Arm(d.wake)
}

// woken is the Poller's answer to an armed wait (on the Poller's
// goroutine, or on step's when Arm answers at once): the reading goes on
// on a new goroutine. An error (the Waiter closed: the tunnel is ending;
// or the socket could not be watched: the kernel's watch limit, say)
// leaves the waits to that goroutine from then on.
func (d *clientIdler) woken(err error) {
	if err != nil {
		d.poll = nil
		go d.step(false)
		return
	}
	go d.stepWoken()
}

// stepWoken is step for a wake-up of the Poller, on a new goroutine that
// grows its stack to 8 KiB first, in one shallow copy: the reading of the
// client's frames and their write to the agent (crypto/tls's seal), or
// the tunnel's end and its record, took a new goroutine's stack there
// anyway, in two or three copies deep inside them. The goroutine ends
// once the client has nothing more for now (its next wait armed), so no
// idle tunnel holds the larger stack; the reading that waits on its
// goroutine until the tunnel ends (woken with an error) is not grown.
func (d *clientIdler) stepWoken() {
	stackgrow.To8K()
	d.step(true)
}

// clientWaiter returns a Waiter for the socket beneath in's connection in
// the process's Poller, or nil (the reading waits on a goroutine): no
// Poller here, no socket to wait on (in.raw nil), or the socket's
// RawConn is unavailable.
func clientWaiter(in *clientReader) *sockwait.Waiter {
	if in.raw == nil {
		return nil
	}
	sc, ok := in.raw.(syscall.Conn)
	if !ok {
		return nil
	}
	p, err := sockwait.Default()
	if err != nil {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	w, err := p.Add(rc)
	if err != nil {
		return nil
	}
	return w
}

// stopPoll closes t's Waiter, if any, so that its reading waits on a
// goroutine, bounded by the read deadline (an armed wait is woken with
// net.ErrClosed). It must come before the connection's close (sockwait).
func (t *tunnel) stopPoll() {
	t.mu.Lock()
	w := t.poll
	t.mu.Unlock()
	w.Close()
}

// timeOut ends the tunnel of a client silent for three ping intervals
// (keepalive's sweep) as its read deadline did while a goroutine waited
// for the client: ClientTimeout, without a close frame, the agent's side
// ended with the reason. Its reader then stops at once (the read
// deadline in the past). A tunnel whose end was decided already is left
// as it is, but for its reader (stopReader).
func (t *tunnel) timeOut() {
	const reason, msg = "ClientTimeout", "The client stopped answering"
	t.mu.Lock()
	if t.ended {
		t.mu.Unlock()
		t.stopReader()
		return
	}
	t.ended = true
	t.code, t.reason, t.message = 0, reason, msg
	close(t.finished)
	t.closeBy = longAgo
	_ = t.conn.SetReadDeadline(longAgo)
	t.mu.Unlock()
	_ = t.stream.SendEnd(reason, msg)
	t.stopPoll()
}

// stopReader stops the reading of the client of a tunnel whose end was
// decided without a close frame to answer (code 0, no close grace set:
// clientGone, after agentToClient's write to the client failed), which
// nothing else ends while the client stays silent: a reader armed in the
// Poller sees no read deadline, and one on a goroutine had the deadline
// of its last frame (none when the Poller woke it after the end). A
// client that cannot be written to is not waited for. A tunnel closing
// with a close frame keeps the grace finish gave it (or is about to).
func (t *tunnel) stopReader() {
	t.mu.Lock()
	if !t.ended || t.code != 0 || !t.closeBy.IsZero() {
		t.mu.Unlock()
		return
	}
	t.closeBy = longAgo
	_ = t.conn.SetReadDeadline(longAgo)
	t.mu.Unlock()
	t.stopPoll()
}

// pingStall is how long one ping's write may go without returning before
// the sweep's later pings go on without it (ping): a ping returns in
// microseconds unless its client stopped reading.
const pingStall = time.Second

// pingPayload is every keepalive ping's payload.
var pingPayload = []byte("postern")

// ping writes keepalive's pings until the front door is done, each
// sweep's in turn on a goroutine of the sweep's own (pingRun). A ping
// that has not returned after a pingStall, or two (its client stopped
// reading: the ping's write, or a data write before it that holds the
// client's writer, waits up to wsframe.WriteTimeout, 60 s), is left to
// that goroutine, and the sweep's later pings go on on a new one: one
// stuck client delays the others' pings by a pingStall or two, not by
// 60 s. The tunnel whose ping is left waiting is left out of the later
// sweeps until that ping returns (stuckPings), so that a stuck client
// holds one goroutine at most, not one per sweep; an idle tunnel holds
// none.
func (f *FrontDoor) ping(pings <-chan []*tunnel) {
	stall := min(pingStall, f.cfg.PingInterval)
	stuck := &stuckPings{ts: map[*tunnel]struct{}{}}
	for {
		select {
		case <-f.done:
			return
		case ts := <-pings:
			f.pingSweep(ts, stall, stuck)
		}
	}
}

// pingSweep writes the pings of ts (pingRun) and returns when they are
// written, when the front door is done, or when only a stuck ping is
// left: it watches the sweep's progress every stall, and a ping that
// made none for a whole stall is left to its goroutine while a new one
// takes the pings after it.
func (f *FrontDoor) pingSweep(ts []*tunnel, stall time.Duration, stuck *stuckPings) {
	tick := time.NewTicker(stall)
	defer tick.Stop()
	for len(ts) > 0 {
		r := &pingRun{ts: ts, done: make(chan struct{})}
		go r.run(stuck)
		last := int64(-1)
	watch:
		for {
			select {
			case <-f.done:
				return
			case <-r.done:
				return
			case <-tick.C:
				if next, left := r.leaveIfStuck(&last, stuck); left {
					ts = ts[next:]
					break watch
				}
			}
		}
	}
}

// leaveIfStuck is pingSweep's look at r's progress, every stall: if the
// ping being written made none since the last look (last), it is left
// to r's goroutine (left) and next is the index in r.ts of the first
// ping a new run takes.
func (r *pingRun) leaveIfStuck(last *int64, stuck *stuckPings) (next int, left bool) {
	p := r.pos.Load()
	if p >= 2*int64(len(r.ts)) {
		return 0, false // written: r.done is about to close
	}
	if p != *last {
		*last = p
		return 0, false
	}
	if p%2 == 0 {
		// Between pings, or skipping a stuck one: the run is off the CPU,
		// not waiting on a client. Left here, it could skip a healthy
		// tunnel marked by the add below, or take out an earlier sweep's
		// mark while that ping still waits.
		return 0, false
	}
	// ts[k]'s ping made no progress for a whole stall. It is left out of
	// later sweeps (stuck) before it is left to its goroutine, which
	// takes it out when the ping returns (run); unless it returned
	// meanwhile (the CAS fails). Either way the mark taken out is this
	// add's: the run looked ts[k] up before its write and found none.
	k := p / 2
	stuck.add(r.ts[k])
	if !r.pos.CompareAndSwap(p, -1) {
		stuck.remove(r.ts[k])
		return 0, false
	}
	return int(k) + 1, true
}

// pingRun writes a sweep's pings in turn on a goroutine of its own.
type pingRun struct {
	ts []*tunnel
	// pos is 2k between the pings (or skipping ts[k]'s) and 2k+1 while
	// ts[k]'s ping is written: the sweep leaves only a run inside a
	// write (leaveIfStuck). -1 once the sweep went on without this run
	// (pingSweep), which then stops after that ping.
	pos  atomic.Int64
	done chan struct{} // closed when the run has written its pings
	// paused, set by tests only, is called where run may be descheduled
	// between two steps: before (checked false) and after (true) it looks
	// ts[k] up in the stuck set.
	paused func(k int64, checked bool)
}

// run writes r's pings, but for those of tunnels whose ping is stuck.
func (r *pingRun) run(stuck *stuckPings) {
	for {
		p := r.pos.Load() // even: only run moves it from there
		k := p / 2
		if k >= int64(len(r.ts)) {
			close(r.done)
			return
		}
		t := r.ts[k]
		r.pause(k, false)
		skip := stuck.has(t)
		r.pause(k, true)
		if skip {
			r.pos.Store(p + 2)
			continue
		}
		r.pos.Store(p + 1)
		_ = t.wr.Ping(pingPayload)
		if !r.pos.CompareAndSwap(p+1, p+2) {
			// Left behind: later sweeps may ping t again.
			stuck.remove(t)
			return
		}
	}
}

// pause calls the test's paused hook, if any.
func (r *pingRun) pause(k int64, checked bool) {
	if r.paused != nil {
		r.paused(k, checked)
	}
}

// stuckPings is the set of tunnels whose ping a sweep left waiting.
type stuckPings struct {
	n  atomic.Int32 // len(ts): the sweeps look at the set only when it is not empty
	mu sync.Mutex
	ts map[*tunnel]struct{}
}

func (s *stuckPings) add(t *tunnel) {
	s.mu.Lock()
	s.ts[t] = struct{}{}
	s.n.Store(int32(len(s.ts)))
	s.mu.Unlock()
}

func (s *stuckPings) remove(t *tunnel) {
	s.mu.Lock()
	delete(s.ts, t)
	s.n.Store(int32(len(s.ts)))
	s.mu.Unlock()
}

func (s *stuckPings) has(t *tunnel) bool {
	if s.n.Load() == 0 {
		return false
	}
	s.mu.Lock()
	_, ok := s.ts[t]
	s.mu.Unlock()
	return ok
}

// clientLinger is how long clientToAgent, having read data frames (or at
// the tunnel's first reading, for its first bytes), waits for the
// client's next bytes on its own goroutine before it leaves the
// wait to the Poller: in a transfer they are usually a moment away, and a
// hand-off through the Poller (an epoll_ctl and a new goroutine, which
// grows its stack again in crypto/tls) for every burst costs CPU per
// byte. 5 ms (the client's linger) measured a two-hop upload ~3–15 %
// slower than a goroutine that always waits, on a loaded machine where
// the sender is often off the CPU for longer; 50 ms measured the same as
// it (BenchmarkTunnelThroughputCLI/up/postern2, s11 QA notes). An idle
// tunnel pays it once, after its last data (and one whose client is
// silent at first, once after its 101).
const clientLinger = 50 * time.Millisecond
