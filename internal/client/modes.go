package client

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/postern/postern/internal/util/bufpool"
	"github.com/postern/postern/internal/util/sockio"
	"github.com/postern/postern/internal/util/sockwait"
)

// RunStdio carries one tunnel between stdin/stdout and the server, as
// ssh's ProxyCommand needs. When stdin ends the server is told (a close
// frame) and the target's last bytes still reach stdout; when the server
// closes, it returns (nil for a normal close). It never spins: stdin is
// read with blocking reads, and nothing is sent after its end.
func RunStdio(ctx context.Context, d *Dialer, t Target, stdin io.Reader, stdout io.Writer) error {
	tun, err := d.Dial(ctx, t)
	if err != nil {
		return err
	}
	defer tun.Close()
	stop := context.AfterFunc(ctx, func() { tun.Close() })
	defer stop()
	go copyIn(tun, stdin, nil, nil)
	err = copyOut(stdout, tun)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// copyIn copies input into the tunnel until the input ends (then it tells
// the server with a close frame) or the tunnel fails (then it calls
// onFail, when given). A socket's input is waited for without a buffer
// and off the stack of the TLS work (idle, below), in poll when given
// (the socket's Waiter: no goroutine while it waits); for a socket,
// copyIn returns once it sent what the socket has now (without waiting
// for more) and the copy goes on, on goroutines of its own; other input
// is read with blocking reads before it returns.
func copyIn(tun *Tunnel, in io.Reader, poll *sockwait.Waiter, onFail func()) {
	s := copyInSteps(tun, in, onFail)
	if s.wait == nil {
		s.work(nil)
		s.end()
		return
	}
	// The local client has often written already (it speaks first, or
	// at once, as ssh does): the first work then runs on the caller (the
	// open's goroutine) instead of on a goroutine that waits for nothing
	// and wakes another to do it.
	start := waitFirst
	if s.ready != nil && s.ready() {
		start = workHere
	}
	d := &idler{wait: s.wait, poll: poll, release: s.release, work: s.work, end: s.end}
	d.start(start)
}

// copySteps is one direction of a tunnel's copy, run by idle: wait (nil
// when the input is not a socket: then work reads with blocking reads
// and does the whole copy) and work as idle takes them, and end, to call
// once the copy is over. ready, when set, tells without waiting whether
// the input has something now (a first wait would not wait). release
// gives back what work holds before a wait that is not wait (a
// sockwait.Waiter's; wait does it itself).
type copySteps struct {
	ready   func() bool
	wait    func() error
	release func()
	work    func(waitErr error) bool
	end     func()
}

// copyInSteps returns the steps of copyIn.
func copyInSteps(tun *Tunnel, in io.Reader, onFail func()) copySteps {
	var bp *[]byte
	end := func() { bufpool.Put(bp) }
	full := false // the last read brought 64 KiB or more: more is likely there
	borrow := func() []byte {
		if bp != nil && full && cap(*bp) != bufpool.BigSize {
			// A bulk transfer: larger reads and frames.
			bufpool.Put(bp)
			bp = nil
		}
		if bp == nil {
			if full {
				bp = bufpool.GetBig()
			} else {
				bp = bufpool.Get()
			}
		}
		return (*bp)[bufpool.Headroom : bufpool.Headroom+bufpool.ChunkOf(bp)]
	}
	giveBack := func() {
		bufpool.Put(bp)
		bp = nil
	}
	read := func() (int, error) { return in.Read(borrow()) } // stdin: blocking reads
	// step reads once and sends what it read; it tells whether copying is
	// over.
	step := func() bool {
		n, err := read()
		full = n >= bufpool.Chunk
		if full && tun.bulk != nil {
			tun.bulk()
		}
		if n > 0 {
			if werr := tun.writeOwned((*bp)[:bufpool.Headroom+n]); werr != nil {
				if onFail != nil {
					onFail()
				}
				return true
			}
		}
		if errors.Is(err, errWouldBlock) {
			return false // nothing yet: the caller waits
		}
		if err != nil {
			_ = tun.CloseWrite()
			return true
		}
		return false
	}
	c, ok := in.(net.Conn)
	if !ok {
		return copySteps{work: func(error) bool {
			for !step() {
			}
			return true
		}, end: end}
	}
	sock := sockio.Of(c)
	read = func() (int, error) {
		giveBack()
		return sock.ReadBorrowed(borrow, giveBack)
	}
	// A bulk transfer goes on reading while reads come back full, with
	// reads that do not wait (readNoWait): once the socket has nothing,
	// the wait is left to idle's goroutine. The work's goroutine must not
	// wait in a read, with the stack of the TLS work, once the input
	// paused right after a full read; and a readiness check before each
	// read cost a system call that a read which may find nothing does not.
	var rc syscall.RawConn
	if sc, ok := c.(syscall.Conn); ok {
		rc, _ = sc.SyscallConn()
	}
	waitingRead := read
	nowRead := func() (int, error) {
		n, err, wouldBlock := readNoWait(rc, borrow())
		if wouldBlock {
			giveBack()
			return 0, errWouldBlock
		}
		return n, err
	}
	steps := func() bool {
		read = waitingRead
		defer func() { read = waitingRead }()
		for {
			if step() {
				return true
			}
			if !full || rc == nil {
				return false
			}
			read = nowRead
		}
	}
	var ready func() bool
	if rc != nil {
		ready = func() bool { return readableNow(rc) }
	}
	return copySteps{ready: ready, wait: func() error {
		giveBack()
		return sock.Wait() // an error: the read that follows reports it
	}, release: giveBack, work: func(waitErr error) bool {
		if waitErr != nil {
			// The socket's Waiter was closed (the connection is being
			// closed) or the wait failed: the read would fail too.
			_ = tun.CloseWrite()
			return true
		}
		return steps()
	}, end: end}
}

// errWouldBlock is copyIn's read's answer when the socket has nothing
// yet and the read was not to wait.
var errWouldBlock = errors.New("client: nothing to read yet")

// idleStart is where idle runs a copy's first work.
type idleStart int

const (
	// waitFirst: after a first wait, on the waiting goroutine.
	waitFirst idleStart = iota
	// workHere: at once, on the caller's goroutine, before idle returns.
	workHere
	// workOnNew: at once, on a goroutine of its own.
	workOnNew
)

// idle runs a direction of a tunnel's copy and returns (at once, unless
// start is workHere: then once the first work is done): wait waits until
// there is something to do (without a buffer, with a shallow stack: the
// socket's readiness); work does it, gets wait's error and tells whether
// the copy is over; end is called (on work's goroutine) once it is.
//
// A goroutine's stack grows with the deepest call it made (crypto/tls's
// record layer, AES-GCM), and a collection halves it only while less
// than a quarter is in use, which, counting the runtime's reserve, a
// goroutine parked in the poller never is at 4 KiB: one that did the TLS
// work and then waited would keep 4 KiB or more for the tunnel's life.
// So each wait runs on a new goroutine that has run no TLS code: it
// waits, does the work that follows on its own stack (grown by it), then
// hands the next wait to a new goroutine and ends. The waiting goroutine
// holds nothing but the wait, and is a new one after every burst of
// work: the runtime starts a goroutine with the average stack its last
// collection saw (4 KiB in a burst of TLS handshakes), and one that waits
// from then on would keep that for good. One goroutine per wait and its
// work, not one for each: a goroutine started while a processor is idle
// wakes a parked thread (a futex call, and a spin in the scheduler, which
// was a quarter of the client's CPU in opens one at a time).
//
// An idler with a poll (a sockwait.Waiter) holds no goroutine at all
// while it waits: the wait is armed in the process's Poller, whose one
// goroutine starts the work on a new goroutine once the socket has
// something (at 1,000 idle connections, two parked goroutines each were
// ~5 KiB of the client's ~17 KiB per connection).
func idle(start idleStart, wait func() error, work func(waitErr error) bool, end func()) {
	d := &idler{wait: wait, work: work, end: end}
	d.start(start)
}

// idler is a copy run by idle: its waits run wait on a goroutine of
// their own, or are armed in poll when set (after release, when set).
type idler struct {
	wait    func() error
	poll    *sockwait.Waiter
	release func()
	work    func(waitErr error) bool
	end     func()
	wake    func(error) // woken, made once
}

// start runs the copy's first work or wait as start says (idle).
func (d *idler) start(start idleStart) {
	switch start {
	case workHere:
		d.step(nil)
	case workOnNew:
		go d.step(nil)
	default:
		d.next()
	}
}

// next hands the next wait to a new goroutine, or arms it in d.poll.
func (d *idler) next() {
	if d.poll == nil {
		go d.waitOn()
		return
	}
	if d.release != nil {
		d.release()
	}
	if d.wake == nil {
		d.wake = d.woken
	}
	d.poll.Arm(d.wake)
}

// waitOn waits, then does the work on this goroutine (step).
func (d *idler) waitOn() { d.step(d.wait()) }

// woken is d.poll's answer to an armed wait (on the Poller's goroutine):
// the work runs on a new goroutine. When the Poller cannot watch the
// socket (epoll_ctl failed: the kernel's watch limit reached, say; not
// the Waiter's close), the copy waits on goroutines of its own from then
// on, as where there is no Poller, instead of ending over it.
func (d *idler) woken(err error) {
	if err != nil && !errors.Is(err, net.ErrClosed) {
		d.poll = nil
		go d.waitOn()
		return
	}
	go d.step(err)
}

// step does a work, then ends the copy or hands on the next wait.
func (d *idler) step(waitErr error) {
	if d.work(waitErr) {
		d.end()
		return
	}
	d.next()
}

// copyOut copies tunnel bytes to w until the tunnel ends; a normal close is
// nil. It holds a buffer only while bytes are there to copy.
func copyOut(w io.Writer, tun *Tunnel) error {
	done := make(chan error, 1)
	copyOutThen(w, tun, nil, func(err error) { done <- err })
	return <-done
}

// copyOutThen copies tunnel bytes to w until the tunnel ends, on
// goroutines of its own (idle; waiting in poll, when given: the Waiter
// of the tunnel's socket), then calls end with the copy's end (nil for a
// normal close). It returns at once.
func copyOutThen(w io.Writer, tun *Tunnel, poll *sockwait.Waiter, end func(error)) {
	if c, ok := w.(net.Conn); ok {
		w = sockio.Of(c)
	}
	if !tun.in.waits { // not TLS over a socket: no waiting beneath
		go func() {
			for {
				if done, err := copyFrames(w, tun, true, false, nil); done {
					end(err)
					return
				}
			}
		}()
		return
	}
	var result error
	woke := false
	// The upgrade may have left bytes (crypto/tls may hold records read
	// with its answer): the first work runs at once when there are, on a
	// goroutine of its own; otherwise the copy starts with a wait. Asked
	// here, without a goroutine that finds nothing and starts another to
	// wait.
	start := waitFirst
	if err := tun.wait(false, false, nil); !errors.Is(err, errIdle) {
		start = workOnNew // bytes, or the tunnel's end: copyFrames finds it again
	}
	d := &idler{wait: func() error { return tun.in.sock.Wait() }, poll: poll, work: func(waitErr error) bool {
		done, err := copyFrames(w, tun, false, woke, waitErr)
		result, woke = err, true
		return done
	}, end: func() { end(result) }}
	d.start(start)
}

// linger is how long copyFrames, having copied bytes, waits for the
// server's next ones on its own goroutine before it leaves the wait to
// copyOut's: in a transfer they are usually a moment away, and handing
// each frame from goroutine to goroutine cost 10–20 % more CPU per GB.
const linger = 5 * time.Millisecond

// copyFrames copies tunnel bytes to w. Without block, it returns (false,
// nil) once the server's next bytes are still to come (see Tunnel.wait
// for block, woke and failed); otherwise it returns once the tunnel ended
// (true, and nil for a normal close).
func copyFrames(w io.Writer, tun *Tunnel, block, woke bool, failed error) (end bool, err error) {
	copied := false // bytes were copied since the last wait (linger)
	moved := 0      // bytes copied in this call, up to a chunk (tun.bulk)
	for {
		if err := tun.wait(block, woke, failed); err != nil {
			if errors.Is(err, errIdle) {
				if copied {
					copied = false
					if ready, werr := tun.in.waitBriefly(linger); ready {
						woke, failed = true, werr
						continue
					}
				}
				return false, nil
			}
			if errors.Is(err, io.EOF) {
				return true, nil
			}
			return true, err
		}
		woke, failed = false, nil
		bp := bufpool.Get()
		n, err := tun.Read((*bp)[:bufpool.Chunk])
		copied = copied || n > 0
		if moved < bufpool.Chunk {
			if moved += n; moved >= bufpool.Chunk && tun.bulk != nil {
				tun.bulk()
			}
		}
		if n > 0 {
			if _, werr := w.Write((*bp)[:n]); werr != nil {
				bufpool.Put(bp)
				return true, werr
			}
		}
		bufpool.Put(bp)
		if errors.Is(err, io.EOF) {
			return true, nil
		}
		if err != nil {
			return true, err
		}
	}
}

// DefaultMaxOpening is how many tunnels a Listener opens at once by
// default: well below the server's http.max_unauthenticated_per_source
// (128), which closes a source's connections beyond it while they are
// not yet authenticated. More at once opened a burst no faster here and
// cost memory: 1,000 connections through one client (s16, tunnelbench
// BenchmarkConcurrentLocalPort on the binaries, 6–20 alternated runs
// each, load 3–22), median time one / two hops and the worst two-hop
// path memory per connection (target ≤ 50 KiB): 32 1.13 / 1.22 s,
// 49.3 KiB; 48 1.55 / 1.25 s, 53.8; 64 1.25 / 1.42 s (two hops slower
// than 32 in 14 of 20 pairs), 66.0; 96 0.93 / 0.86 s, 61.9. Wider
// bursts end with a larger live heap in the server; with the server
// giving back what such a burst left (its gcTuner), 64's worst was
// still 50.4 KiB.
const DefaultMaxOpening = 32

// Listener is the --local-port mode: one tunnel per accepted connection,
// at most Max at once.
type Listener struct {
	Dialer *Dialer
	Target Target
	Max    int
	// MaxOpening is how many tunnels are being opened (TLS handshake and
	// upgrade) at once; more local connections wait their turn rather
	// than be refused by the server (default DefaultMaxOpening).
	MaxOpening int
	Out        io.Writer // progress messages, as the AWS CLI prints them
	// Idle, when set, is called when the last open connection has closed
	// (on that connection's goroutine).
	Idle func()
	// Changed, when set, is called when a connection has been accepted,
	// when its tunnel is open, and when it has closed or its open failed
	// (on that connection's goroutine), e.g. to give memory back once a
	// burst of opens is over (package idlemem).
	Changed func()
	// Bulk, when set, is called when a connection's copy moves a full
	// chunk at once, either way (a bulk transfer), on the copy's
	// goroutine: it must be quick. It may be called often during one.
	Bulk func()
	// Drained, when set, is called once a burst of opens is over: no
	// tunnel is being opened or waits to be (Opening is 0), and more
	// connections came in the burst than MaxOpening lets open at once
	// (some waited their turn). It is called on the goroutine of the
	// last open, before that connection's bytes are carried, so it must
	// not block: e.g. to give back the memory the burst's handshakes
	// left, which the garbage collector's headroom keeps (twice what is
	// live) until then. Opens one at a time never call it. Connections
	// that come slower than they open can drain a burst for a moment:
	// a caller that acts on it waits a little and checks Opening.
	Drained func()
	// Queued, when set, is called once per burst of opens, when a
	// connection is accepted while every opening slot is taken (it waits
	// its turn), on the accepting goroutine: it must not block. Drained
	// always follows, once that burst is over: e.g. to let the garbage
	// collector run less often while the burst's handshakes allocate.
	Queued func()

	active atomic.Int64
	seq    atomic.Int64
	wg     sync.WaitGroup

	// burstMu guards unopened, burst and queued: the connections accepted
	// whose open has not ended, how many were accepted since none was,
	// and whether Queued was called since; and openers and waiting: the
	// opens in flight (at most MaxOpening, each on a goroutine of its
	// own) and the connections accepted that wait for one to end.
	burstMu  sync.Mutex
	unopened int
	burst    int
	queued   bool
	openers  int
	waiting  []waitingConn
}

// waitingConn is a local connection accepted while every opening slot
// was taken: it has no goroutine until an open in flight ends and hands
// its slot on (serveConn). A goroutine per connection waiting its turn
// was, after a burst of 1,000, a thousand goroutines' structures that
// the runtime keeps for good (~0.45 KiB per connection), and their
// stacks while the burst ran.
type waitingConn struct {
	c net.Conn
	n int64
}

// Active is the number of local connections open now.
func (l *Listener) Active() int64 { return l.active.Load() }

// Opening is the number of local connections whose tunnel is being
// opened or waits to be.
func (l *Listener) Opening() int64 {
	l.burstMu.Lock()
	defer l.burstMu.Unlock()
	return int64(l.unopened)
}

// Serve accepts connections on ln until ctx ends.
func (l *Listener) Serve(ctx context.Context, ln net.Listener) error {
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	fmt.Fprintf(l.Out, "Listening for connections on port %s.\n", port)
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	defer l.wg.Wait()
	atOnce := cmp.Or(max(l.MaxOpening, 0), DefaultMaxOpening)
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if l.Max > 0 && l.active.Load() >= int64(l.Max) {
			fmt.Fprintf(l.Out, "Max websocket connections %d have been reached, closing incoming connection.\n", l.Max)
			c.Close()
			continue
		}
		n := l.seq.Add(1)
		l.active.Add(1)
		l.changed()
		fmt.Fprintf(l.Out, "[%d] Accepted new tcp connection, opening websocket tunnel.\n", n)
		l.wg.Add(1)
		l.burstMu.Lock()
		l.unopened++
		l.burst++
		// unopened counts those holding a slot too: more than the slots,
		// and this one waits its turn.
		queued := l.unopened > atOnce && !l.queued
		l.queued = l.queued || queued
		start := l.openers < atOnce
		if start {
			l.openers++
		} else {
			l.waiting = append(l.waiting, waitingConn{c: c, n: n})
		}
		l.burstMu.Unlock()
		if queued && l.Queued != nil {
			l.Queued()
		}
		if start {
			go l.serveConn(ctx, c, n, atOnce)
		}
	}
}

// serveConn opens a tunnel for c, holding an opening slot while it does
// (then handing it to the next waiting connection: handOn), then carries
// c's bytes (carry) on goroutines of their own: this one's stack, grown
// by the TLS handshake, is freed when it returns instead of staying with
// the connection for its whole life.
func (l *Listener) serveConn(ctx context.Context, c net.Conn, n int64, atOnce int) {
	tun, err := l.open(ctx)
	l.handOn(ctx, atOnce)
	l.opened(atOnce)
	if err != nil {
		c.Close()
		l.finish(ctx, n, err)
		return
	}
	l.changed()
	l.carry(ctx, c, tun, n)
}

// handOn gives the opening slot of an open that ended to the first
// connection waiting for one, on a goroutine of its own, or frees it.
func (l *Listener) handOn(ctx context.Context, atOnce int) {
	l.burstMu.Lock()
	if len(l.waiting) == 0 {
		l.openers--
		l.waiting = nil // the burst's queue goes
		l.burstMu.Unlock()
		return
	}
	next := l.waiting[0]
	l.waiting[0] = waitingConn{}
	l.waiting = l.waiting[1:]
	l.burstMu.Unlock()
	go l.serveConn(ctx, next.c, next.n, atOnce)
}

// opened notes that an open ended (either way) and calls l.Drained when
// it was the last of a burst larger than atOnce (the opening slots).
func (l *Listener) opened(atOnce int) {
	l.burstMu.Lock()
	l.unopened--
	drained := l.unopened == 0 && l.burst > atOnce
	if l.unopened == 0 {
		l.burst, l.queued = 0, false
	}
	l.burstMu.Unlock()
	if drained && l.Drained != nil {
		l.Drained()
	}
}

// changed calls l.Changed when set.
func (l *Listener) changed() {
	if l.Changed != nil {
		l.Changed()
	}
}

// finish reports a connection's end: err, unless the Listener's own
// shutdown (ctx ended: Ctrl-C) or a close of this side ended the tunnel,
// as the AWS CLI reports none then.
func (l *Listener) finish(ctx context.Context, n int64, err error) {
	defer l.wg.Done()
	defer func() {
		l.changed()
		if l.active.Add(-1) == 0 && l.Idle != nil {
			l.Idle()
		}
	}()
	if err != nil && ctx.Err() == nil && !errors.Is(err, ErrClosedByClient) {
		fmt.Fprintf(l.Out, "[%d] %s\n", n, ErrorLine(err))
	}
	fmt.Fprintf(l.Out, "[%d] Closing tcp connection.\n", n)
}

// open opens a tunnel (the caller holds an opening slot), unless ctx
// ended while the connection waited for its slot.
func (l *Listener) open(ctx context.Context) (*Tunnel, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return l.Dialer.Dial(ctx, l.Target)
}

// carry copies bytes between c and tun until both ends are done, then
// closes both and reports the connection's end (finish). It returns once
// it sent the bytes c has already (copyIn), without waiting for more: the
// copies go on, on goroutines of their own (idle), and wait for bytes in
// the process's sockwait.Poller where there is one: an idle connection
// holds no goroutine.
func (l *Listener) carry(ctx context.Context, c net.Conn, tun *Tunnel, n int64) {
	tun.bulk = l.Bulk
	inW, outW := waiters(c, tun)
	// Each Waiter is closed before its connection: the Poller does not
	// see a socket closed under it, and its armed wait must end.
	closeAll := func() {
		tun.closing.Store(true) // before the Waiter's close wakes the read
		inW.Close()
		outW.Close()
		tun.Close()
		c.Close()
	}
	stop := context.AfterFunc(ctx, closeAll)
	// The server's direction first: copyIn may do its first work here
	// (the local client's first bytes, an upload's start), and the
	// server's bytes must be taken meanwhile.
	copyOutThen(c, tun, outW, func(err error) {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		stop()
		closeAll()
		l.finish(ctx, n, err)
	})
	copyIn(tun, c, inW, func() {
		inW.Close()
		c.Close()
	})
}

// waiters returns the Waiters, in the process's sockwait.Poller, of the
// local connection c and of tun's socket beneath TLS; nil for each that
// cannot have one (no Poller here, not a TCP socket): its copy waits on
// goroutines of its own.
func waiters(c net.Conn, tun *Tunnel) (in, out *sockwait.Waiter) {
	p, err := sockwait.Default()
	if err != nil {
		return nil, nil
	}
	if sc, ok := c.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			in, _ = p.Add(rc)
		}
	}
	if tun.in.waits {
		out, _ = p.Add(tun.in.rc)
	}
	return in, out
}

// ErrorLine words an error for one line of stderr.
func ErrorLine(err error) string {
	var re *RefusedError
	var ce *ClosedError
	switch {
	case errors.As(err, &re):
		if re.ErrorCode != "" {
			return "An error occurred (" + re.ErrorCode + ") when calling the OpenTunnel operation: " + re.Message
		}
		return "The tunnel was refused with HTTP status " + strconv.Itoa(re.Status) + ": " + re.Message
	case errors.As(err, &ce):
		return "Websocket Closure Reason: " + ce.Reason
	}
	return err.Error()
}
