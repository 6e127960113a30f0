package audit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/postern/postern/internal/store"
)

// Batcher commits events for many concurrent callers in shared
// transactions (group commit): each caller waits until its event is
// durable, but one commit (one fsync with SQLite) carries every event that
// arrived meanwhile, so auditing every API call does not cap the API at
// the disk's sync rate. An event whose batch fails is retried alone, so
// that one bad event does not fail its neighbours; a late CloseTunnel
// record the store refuses (store.CloseRecoveredError) is dropped from
// its batch, and the rest committed together again (commit).
type Batcher struct {
	st      store.Events
	sinks   []Sink
	onSink  func(error)
	observe func(time.Duration) // commit latency, when set
	mu      sync.Mutex
	queue   []*pending
	running bool // a flush goroutine exists
	// companyWait is how long a batch of read-only records may wait for
	// company in a busy period (company.go); clock, when set (tests), is
	// the Batcher's clock.
	companyWait time.Duration
	clock       func() time.Time
	// The flush goroutine outlives a batch: it waits for the next one up
	// to linger before it exits, so that its stack, grown to run the
	// store (SQLite), is not grown again from scratch for every batch
	// (a new goroutine per batch cost ~5 % of the server's CPU at 1,000
	// simultaneous tunnel opens). idle tells it waits on wake; Append
	// clears it and sends the one token wake holds.
	idle     bool
	wake     chan struct{}
	linger   time.Duration
	started  int    // flush goroutines started (tests)
	exitHook func() // called when a flush goroutine exits (tests)

	// Sinks are written by one goroutine of their own, in the order the
	// batches were committed, so that a commit's callers do not wait for
	// the copies (the file sink syncs to disk: one more disk sync per
	// batch on every caller's path). sinkMu guards the fields below;
	// sinkCond signals a change of sinkRunning or of sinkQueued.
	sinkMu      sync.Mutex
	sinkCond    *sync.Cond
	sinkQueue   [][]store.Event
	sinkQueued  int // events in sinkQueue
	sinkRunning bool

	// committed is the channel Writer.Committed handed out, closed at
	// the next commit (committed.go).
	committed atomic.Pointer[chan struct{}]
}

// maxSinkBacklog bounds the events waiting for the sinks: past it, a
// commit waits for the sinks (backpressure) rather than queue without end
// behind a sink that cannot keep up.
const maxSinkBacklog = 1 << 16

type pending struct {
	ev   store.Event
	done chan error
}

// pendings are reused once their caller has received the result (a
// caller whose ctx ended leaves its pending to the garbage collector:
// the flush goroutine still sends to it).
var pendingPool = sync.Pool{New: func() any { return &pending{done: make(chan error, 1)} }}

// maxBatch bounds a batch.
const maxBatch = 512

// flushLinger is how long the flush goroutine waits for a new batch
// before it exits.
const flushLinger = 10 * time.Second

// NewBatcher returns a Batcher over a store.
func NewBatcher(st store.Events) *Batcher {
	return &Batcher{st: st, wake: make(chan struct{}, 1), linger: flushLinger, companyWait: companyWait}
}

// Append stores e and returns once it is committed (or failed). A caller
// whose ctx ends stops waiting; the event is still committed.
func (b *Batcher) Append(ctx context.Context, e store.Event) error {
	p := pendingPool.Get().(*pending)
	p.ev = e
	b.mu.Lock()
	b.queue = append(b.queue, p)
	switch {
	case !b.running:
		b.running = true
		b.started++
		go b.flush()
	case b.idle:
		b.idle = false
		b.wake <- struct{}{} // never blocks: one token per idle period
	}
	b.mu.Unlock()
	select {
	case err := <-p.done:
		p.ev = store.Event{}
		pendingPool.Put(p)
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// flush commits queued events in order, one batch at a time; it returns
// once the queue has stayed empty for b.linger.
func (b *Batcher) flush() {
	if b.exitHook != nil {
		defer b.exitHook()
	}
	var t *time.Timer
	// last is when the last commit ended, lastN how many records it
	// held, busy whether it had company (company.go); deadline ends the
	// company wait of the batch being formed.
	var last, deadline time.Time
	lastN, busy, queuedDuring := 0, false, false
	for {
		b.mu.Lock()
		n := min(len(b.queue), maxBatch)
		if lastN > 0 { // the first look after a commit
			busy, lastN = lastN > 1 || queuedDuring, 0
		}
		if n == 0 {
			if !b.waitForWork(&t) {
				return
			}
			continue
		}
		if busy && b.expectCompany(n, last) {
			if deadline.IsZero() {
				deadline = b.now().Add(b.companyWait)
			}
			if b.now().Before(deadline) {
				b.waitForCompany(&t, deadline)
				continue
			}
		}
		deadline = time.Time{}
		batch := b.queue[:n:n]
		b.queue = b.queue[n:]
		b.mu.Unlock()
		queuedDuring = b.commit(batch)
		last, lastN = b.now(), n
	}
}

// commit commits a batch and answers its callers. A batch that fails
// because the store refused a tunnel's late CloseTunnel record
// (store.CloseRecoveredError) is committed again without that record, as
// one group; a second refusal in the same batch (a false ReplicaGone
// sweep ends many tunnels at once) has the rest committed in one
// transaction, each record in a savepoint of its own (commitEach).
// Another failure has each record retried alone, so that one bad record
// does not fail its neighbours. others reports whether records queued
// while the store committed, before any caller was answered: a caller
// that appends again once answered (a lone caller, one record after the
// other) is not company (company.go).
func (b *Batcher) commit(batch []*pending) (others bool) {
	errs := make([]error, len(batch)) // of the records dropped
	live := make([]int, len(batch))   // the records still in the batch
	for i := range live {
		live[i] = i
	}
	evsOf := func() []store.Event {
		evs := make([]store.Event, len(live))
		for k, i := range live {
			evs[k] = batch[i].ev
		}
		return evs
	}
	evs := evsOf()
	// Events are committed whatever happens to the callers' requests.
	start := time.Now()
	err := b.append(evs)
	if b.observe != nil {
		b.observe(time.Since(start))
	}
	b.mu.Lock()
	others = len(b.queue) > 0
	b.mu.Unlock()
	// alone: err is not the outcome of the records in live (they were
	// not committed: each is tried alone).
	alone := false
	for refusals := 0; err != nil && len(live) > 1; refusals++ {
		var late *store.CloseRecoveredError
		if !errors.As(err, &late) {
			break
		}
		k := slices.IndexFunc(live, func(i int) bool {
			e := &batch[i].ev
			return e.EventID == late.EventID && e.EventName == store.EventNameCloseTunnel && e.TunnelID == late.TunnelID
		})
		if k < 0 {
			break
		}
		errs[live[k]] = err
		live = slices.Delete(live, k, k+1)
		evs = evsOf()
		if refusals == 0 {
			err = b.append(evs)
			continue
		}
		each, eachErr := b.commitEach(evs)
		if eachErr != nil {
			alone = true
			break
		}
		var ok []store.Event
		for k, i := range live {
			if errs[i] = each[k]; errs[i] == nil {
				ok = append(ok, batch[i].ev)
			}
		}
		b.toSinks(ok)
		for i, p := range batch {
			p.done <- errs[i]
		}
		return
	}
	if err != nil && (len(live) > 1 || alone) {
		var ok []store.Event
		for _, i := range live {
			if errs[i] = b.st.AppendEvent(context.Background(), batch[i].ev); errs[i] == nil {
				ok = append(ok, batch[i].ev)
			}
		}
		b.toSinks(ok)
		for i, p := range batch {
			p.done <- errs[i]
		}
		return
	}
	if err == nil {
		b.toSinks(evs)
	}
	for _, i := range live {
		errs[i] = err
	}
	for i, p := range batch {
		p.done <- errs[i]
	}
	return others
}

// commitEach commits evs in one transaction, each record in a savepoint
// of its own: a record the store refuses as a late close
// (store.ErrCloseRecovered) is undone alone, and its error returned in
// errs (nil for the others); any other failure rolls the transaction
// back, committing nothing, and is returned as err (errors.ErrUnsupported
// when the store has no transactions).
func (b *Batcher) commitEach(evs []store.Event) (errs []error, err error) {
	txs, ok := b.st.(txStore)
	if !ok {
		return nil, errors.ErrUnsupported
	}
	ctx := context.Background()
	err = txs.InTx(ctx, func(tx store.Repo) error {
		errs = make([]error, len(evs)) // each attempt afresh
		for i := range evs {
			if err := tx.AppendEvent(ctx, evs[i]); err != nil {
				if !errors.Is(err, store.ErrCloseRecovered) {
					return err
				}
				errs[i] = err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return errs, nil
}

// waitForWork is called with b.mu held and an empty queue, and returns
// with b.mu released: true when Append queued an event meanwhile, false
// when b.linger passed without one (b.running is then false: the next
// Append starts a new goroutine).
func (b *Batcher) waitForWork(t **time.Timer) bool {
	if b.wake == nil || b.linger <= 0 { // a Batcher not made by NewBatcher
		b.running = false
		b.mu.Unlock()
		return false
	}
	b.idle = true
	b.mu.Unlock()
	if *t == nil {
		*t = time.NewTimer(b.linger)
	} else {
		(*t).Reset(b.linger) // since Go 1.23 no stale tick survives Reset
	}
	select {
	case <-b.wake:
		(*t).Stop()
		return true
	case <-(*t).C:
	}
	b.mu.Lock()
	if b.idle { // no Append since: exit
		b.idle, b.running = false, false
		b.mu.Unlock()
		return false
	}
	b.mu.Unlock()
	<-b.wake // the Append that cleared idle sent its token under b.mu
	return true
}

// unsyncedAppender is a store that can commit without waiting for the
// disk, the commit still safe from a crash of this process and on the
// disk within a bounded time (sqlstore with SQLite: UnsyncedWindow).
type unsyncedAppender interface {
	AppendEventsUnsynced(ctx context.Context, evs []store.Event) error
}

// append commits a batch. The records of read-only calls (a batch of
// nothing else) do not wait for the disk when the store allows it: they
// change nothing a crash could undo, and the store still cannot lose
// them to a crash of this process.
func (b *Batcher) append(evs []store.Event) error {
	if ua, ok := b.st.(unsyncedAppender); ok && mayCommitUnsynced(evs) {
		err := ua.AppendEventsUnsynced(context.Background(), evs)
		if !errors.Is(err, errors.ErrUnsupported) {
			return err
		}
	}
	return b.st.AppendEvents(context.Background(), evs)
}

// allReadOnly reports whether every record of evs is read-only. A
// tunnel's OpenTunnel or CloseTunnel record never is, whatever its
// ReadOnly says: it must commit durably, with its journal row
// (store.Event.Journalled).
func allReadOnly(evs []store.Event) bool {
	for i := range evs {
		if !readOnlyRecord(&evs[i]) {
			return false
		}
	}
	return true
}

// mayCommitUnsynced reports whether evs may commit without waiting for the
// disk: records of read-only calls and tunnels' CloseTunnel records. A
// close is no answer anybody waits for, and what a crash of the machine
// could lose of it within the store's bound (SQLite: UnsyncedWindow) is
// made up by recovery: its journal row, removed in the same commit, is
// lost with it, so recovery records the tunnel's close (CloseUnclosedTunnels).
// Committed without its fsync it no longer delays the next tunnel's
// OpenTunnel commit, which waited for it (sequential opens: one fsync
// each instead of two). An OpenTunnel record never may: it is on the disk
// before its tunnel's first byte.
func mayCommitUnsynced(evs []store.Event) bool {
	for i := range evs {
		e := &evs[i]
		if !readOnlyRecord(e) && (e.EventName != store.EventNameCloseTunnel || e.TunnelID == "") {
			return false
		}
	}
	return true
}

// readOnlyRecord reports whether e is the record of a read-only call
// (allReadOnly).
func readOnlyRecord(e *store.Event) bool {
	return e.ReadOnly && !e.Journalled()
}

// toSinks hands committed events to the sinks: it queues them for the
// sink goroutine and returns, unless the backlog is full. Every commit
// passes here: it signals the waiters of Writer.Committed first.
func (b *Batcher) toSinks(evs []store.Event) {
	if len(evs) > 0 {
		b.signalCommit()
	}
	if len(evs) == 0 || len(b.sinks) == 0 {
		return
	}
	b.sinkMu.Lock()
	defer b.sinkMu.Unlock()
	if b.sinkCond == nil {
		b.sinkCond = sync.NewCond(&b.sinkMu)
	}
	for b.sinkQueued > 0 && b.sinkQueued+len(evs) > maxSinkBacklog {
		b.sinkCond.Wait()
	}
	b.sinkQueue = append(b.sinkQueue, evs)
	b.sinkQueued += len(evs)
	if !b.sinkRunning {
		b.sinkRunning = true
		go b.writeSinks()
	}
}

// writeSinks writes queued batches to every sink, in order, until the
// queue is empty. The batches queued while a write ran go out together
// in the next (the file sink: one disk sync for all of them).
func (b *Batcher) writeSinks() {
	for {
		b.sinkMu.Lock()
		if len(b.sinkQueue) == 0 {
			b.sinkRunning = false
			b.sinkCond.Broadcast()
			b.sinkMu.Unlock()
			return
		}
		evs := b.sinkQueue[0]
		if len(b.sinkQueue) > 1 {
			evs = slices.Concat(b.sinkQueue...)
		}
		b.sinkQueue = nil
		b.sinkMu.Unlock()
		for _, s := range b.sinks {
			if err := s.Write(evs); err != nil && b.onSink != nil {
				b.onSink(err)
			}
		}
		b.sinkMu.Lock()
		b.sinkQueued -= len(evs)
		b.sinkCond.Broadcast()
		b.sinkMu.Unlock()
	}
}

// DrainSinks returns once every event committed so far has been written
// to the sinks (the server calls it before it exits).
func (w *Writer) DrainSinks() {
	if w == nil || w.b == nil {
		return
	}
	b := w.b
	b.sinkMu.Lock()
	defer b.sinkMu.Unlock()
	for b.sinkRunning {
		b.sinkCond.Wait()
	}
}

// CloseSinks drains the sinks (DrainSinks), then closes each that has a
// Close (the file sink syncs its last lines to disk), reporting a failure
// to the Writer's onSinkError. The server calls it as it exits, after
// every request has ended; a record committed later is only in the store.
func (w *Writer) CloseSinks() {
	if w == nil || w.b == nil {
		return
	}
	w.DrainSinks()
	for _, s := range w.b.sinks {
		c, ok := s.(io.Closer)
		if !ok {
			continue
		}
		if err := c.Close(); err != nil && w.b.onSink != nil {
			w.b.onSink(fmt.Errorf("audit: close sink: %w", err))
		}
	}
}

// ErrNoStore is returned by a Writer without a store.
var ErrNoStore = errors.New("audit: no store")
