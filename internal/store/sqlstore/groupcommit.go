package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"sync"
)

// Group commit of quiet writes.
//
// A quiet write (writeQuiet outside a transaction: an audit record, a
// presigned URL's first use, a tunnel of the live-tunnel table, …) used to
// be a transaction of its own: with SQLite one fsync'd commit (~0.9 ms on
// this project's disks) on the one writer connection, so a thousand
// tunnels opened at once queued a thousand commits one behind the other.
// Such writes now join a group: the writes that queued while the previous
// group's commit ran are committed together, each in a SAVEPOINT of one
// transaction, with one commit (one fsync with SQLite, one WAL flush with
// PostgreSQL).
//
//   - A write's caller returns only after the commit that holds its write
//     is durable (or failed): the guarantee of a transaction of its own.
//   - A write that fails undoes only itself (ROLLBACK TO its savepoint) and
//     its caller gets its error; the others go on.
//   - A commit that fails (or a transaction the database aborts, after the
//     retries of writeTxMode) fails every write of the group: each caller
//     gets the error, nothing of the group is stored.
//   - A write whose statement fails as a serialization failure or deadlock
//     (PostgreSQL with several replicas: errRetry) undoes only itself
//     (ROLLBACK TO its savepoint) when it shares its group: the others go
//     on and commit, and it runs again, from scratch, in a transaction
//     after theirs (a group of the writes that failed so), before its
//     caller is answered; at most maxTxAttempts such rounds. PostgreSQL
//     keeps such a write's reads in the transaction (its predicate locks
//     outlive the savepoint), so the commit of the others is checked
//     against them; when the database doomed the whole transaction, a
//     later statement or the commit fails too, and the whole group runs
//     again as before (TestGroupRetriesAConflictingWriteAlone).
//   - Writes commit in the order they queued, but for a write that ran
//     again so (it commits after the rest of its group); groups commit one
//     after the other (one leader at a time).
//   - A group holds at most maxGroup writes; those queued beyond wait for
//     the next one.
//   - Nothing waits for company: the first caller that finds no group
//     running leads one at once (a lone caller's write is a transaction of
//     its own, as before), and the group takes whatever queued until the
//     leader had the write connection and began the transaction.
//
// The leader is one of the callers (the first of the queue), not a
// goroutine of the Store: when its group is done it hands the lead to the
// first caller still queued, so that no caller waits for more than the
// group before its own and its own.
//
// The writes run on the leader's goroutine with a context of the leader
// that does not end (a caller whose context ends before its write ran
// gets the context's error, and its write is not run; once run, it
// commits or fails with its group). The statements of a write therefore
// never see the caller's cancellation, which with SQLite would interrupt
// the connection and roll back the whole group's transaction.

// maxGroup bounds the writes of one group commit.
const maxGroup = 256

// groupOp is one quiet write waiting in, or led by, a group.
type groupOp struct {
	ctx context.Context
	fn  func(q querier) error
	// wake is signalled once: the write is done (err set) or its caller
	// leads the next group (lead set).
	wake chan struct{}
	lead bool
	err  error
	// own records that err is the write's own failure (its savepoint
	// rolled back), not its group's; skip that its context ended before
	// its group began (err is the context's error; fn never ran).
	own, skip bool
	// again records that the write failed as a serialization failure in
	// a group that went on without it: it runs again after the group's
	// commit (err is that failure until then).
	again bool
}

// groupCommit queues quiet writes for group commits.
type groupCommit struct {
	mu      sync.Mutex
	queue   []*groupOp
	leading bool // a caller leads a group; queue[0], if any, is next
	// onQueue, when set (tests), hears of every write queued behind a
	// running group, under mu; onGroup of the size of every group taken.
	onQueue func()
	onGroup func(n int)
	// h is where the groups commit: nil, the write handle (durable
	// commits); for the unsynced group, the unsynced handle. after, when
	// set, runs after each commit that succeeded (the unsynced group:
	// schedule the sync of the log).
	h     *writeHandle
	after func()
}

// groupWrite runs fn, a quiet write, in a group commit (see above) and
// returns once the group's commit is durable, or failed: fn's own error,
// or the group's.
func (s *Store) groupWrite(ctx context.Context, fn func(q querier) error) error {
	return s.groupWriteOn(&s.group, ctx, fn)
}

// groupWriteOn is groupWrite in the group commits of g.
func (s *Store) groupWriteOn(g *groupCommit, ctx context.Context, fn func(q querier) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sqlstore: write not run: %w", err)
	}
	op := &groupOp{ctx: ctx, fn: fn, wake: make(chan struct{}, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, op)
	lead := !g.leading
	g.leading = true
	if !lead && g.onQueue != nil {
		g.onQueue()
	}
	g.mu.Unlock()
	if !lead {
		<-op.wake // no context: a write once queued is led by a group
		if !op.lead {
			return op.err
		}
	}
	s.leadGroup(g, op)
	return op.err
}

// take removes the first n writes (at most maxGroup) from the queue.
func (g *groupCommit) take() []*groupOp {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := min(len(g.queue), maxGroup)
	batch := g.queue[:n:n]
	g.queue = g.queue[n:]
	if len(g.queue) == 0 {
		g.queue = nil // do not keep the backing array's old entries
	}
	return batch
}

// handOff gives the lead to the first write still queued, or ends it.
func (g *groupCommit) handOff() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.queue) == 0 {
		g.leading = false
		return
	}
	next := g.queue[0]
	next.lead = true
	next.wake <- struct{}{}
}

// leadGroup commits one group of g, led by first (the queue's first write):
// the writes queued by the time the transaction began, first included.
// Then it reports to each write's caller and hands the lead on.
func (s *Store) leadGroup(g *groupCommit, first *groupOp) {
	var batch []*groupOp
	finished, committed := false, false
	defer func() {
		if finished {
			return
		}
		// A write panicked (writeTxOnce rolled back): no caller of the
		// group may wait for ever, and the lead goes on. When it panicked
		// running again after its group's commit, the others of the
		// group are committed (their err stands).
		if batch == nil {
			batch = g.take()
		}
		for _, op := range batch {
			if op != first {
				if !committed || op.again {
					op.err = errors.New("sqlstore: group commit: another write of the group panicked; nothing of it was committed")
				}
				op.wake <- struct{}{}
			}
		}
		g.handOff()
	}()
	bctx := context.WithoutCancel(first.ctx)
	run := func(tx groupTx) error {
		if batch == nil { // the first attempt: the writes queued until now
			batch = g.take()
			if g.onGroup != nil {
				g.onGroup(len(batch))
			}
			for _, op := range batch {
				if err := op.ctx.Err(); err != nil {
					op.err, op.skip = fmt.Errorf("sqlstore: write not run: %w", err), true
				}
			}
		}
		return s.runGroup(bctx, tx, batch)
	}
	commit := func(run func(tx groupTx) error) error {
		if g.h != nil && g.h.plain && s.writeGate != nil && cap(s.writeGate) == 1 {
			return s.plainWriteTx(bctx, g.h, run)
		}
		return s.writeTxOn(bctx, g.h, s.d.writeTxOptions(), countNever, func(tx *cachedTx) error { return run(tx) })
	}
	err := commit(run)
	if batch == nil { // no transaction began: the writes queued share its fate
		batch = g.take()
	}
	// The writes that failed as serialization failures while the rest
	// of their group committed run again, in groups of their own.
	committed = err == nil
	for round := 0; err == nil && round < maxTxAttempts; round++ {
		var again []*groupOp
		for _, op := range batch {
			if op.again {
				again = append(again, op)
			}
		}
		if len(again) == 0 {
			break
		}
		if rerr := commit(func(tx groupTx) error { return s.runGroup(bctx, tx, again) }); rerr != nil {
			for _, op := range again {
				if !op.own {
					op.err, op.own = rerr, true
				}
			}
			break
		}
	}
	finished = true
	if err == nil && g.after != nil {
		g.after()
	}
	for _, op := range batch {
		if err != nil && !op.own && !op.skip {
			op.err = err
		}
		if op != first {
			op.wake <- struct{}{}
		}
	}
	g.handOff()
}

// runGroup runs one attempt of a group's writes in tx, each in a
// SAVEPOINT when there are several. A write whose error is a
// serialization failure aborts the attempt (writeTxMode runs the group
// again); any other error undoes that write only.
func (s *Store) runGroup(ctx context.Context, tx groupTx, batch []*groupOp) error {
	q := fixedCtx{q: tx, ctx: ctx}
	if len(batch) == 1 {
		op := batch[0]
		if op.skip {
			return nil
		}
		op.err, op.own, op.again = nil, false, false
		err := op.fn(q)
		tx.closeRows()
		if err != nil {
			op.err, op.own = err, true
			return err
		}
		return nil
	}
	for i, op := range batch {
		if op.skip {
			continue
		}
		op.err, op.own, op.again = nil, false, false
		sp := "postern_gc" + strconv.Itoa(i)
		if _, err := tx.ExecContext(ctx, "SAVEPOINT "+sp); err != nil {
			return fmt.Errorf("sqlstore: group commit: savepoint: %w", err)
		}
		retried, retries := tx.retried(), tx.retryCount()
		err := op.fn(q)
		tx.closeRows()
		if err == nil {
			if _, err := tx.ExecContext(ctx, "RELEASE SAVEPOINT "+sp); err != nil {
				return fmt.Errorf("sqlstore: group commit: release savepoint: %w", err)
			}
			continue
		}
		// A statement of this write failed as a serialization failure
		// (even if fn turned that error into another): it runs again
		// after the group's commit, undone here.
		op.again = tx.retryCount() > retries || s.d.classify(err) == errRetry
		op.err, op.own = err, true
		if _, rbErr := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT "+sp); rbErr != nil {
			return fmt.Errorf("sqlstore: group commit: rollback to savepoint: %w", rbErr)
		}
		if _, relErr := tx.ExecContext(ctx, "RELEASE SAVEPOINT "+sp); relErr != nil {
			return fmt.Errorf("sqlstore: group commit: release savepoint: %w", relErr)
		}
		// Undone, its failure is no longer the transaction's: a commit
		// that fails for another reason is not run again (a doomed
		// transaction's commit fails as a serialization failure itself).
		tx.setRetried(retried)
	}
	return nil
}

// groupTx is the transaction a group's writes run in: a database/sql
// transaction (cachedTx) or one database/sql does not know of (plainTx).
type groupTx interface {
	querier
	// retried reports that a statement failed because of a concurrent
	// transaction (errRetry); retryCount how many did.
	retried() bool
	retryCount() int
	// setRetried sets what retried reports (a write undone to its
	// savepoint takes its failure with it).
	setRetried(bool)
	// closeRows closes the Rows a write left open (plainTx: they hold
	// the pool's one connection, which the next statement waits for).
	closeRows()
}

// plainWriteTx runs fn in a transaction on h, a pool of one connection
// that only the holders of the write queue's turn use (writeTurn; SQLite
// with one writer): BEGIN IMMEDIATE, fn's statements and COMMIT run as the
// pool's prepared statements on that one connection (plainTx), without a
// database/sql transaction. It commits if fn returns nil and rolls back if
// fn fails, the commit fails or fn panics (the panic goes on). It runs fn
// once: SQLite's write transactions, begun IMMEDIATE, never abort each
// other (no errRetry). ctx must be a context that is never done (the
// group's): database/sql then starts no goroutine for a statement.
func (s *Store) plainWriteTx(ctx context.Context, h *writeHandle, fn func(tx groupTx) error) error {
	release, err := s.writeTurn(ctx)
	if err != nil {
		return err
	}
	defer release()
	if err := s.syncFor(ctx, h.normal); err != nil {
		return err
	}
	if !h.normal {
		if err := s.unsynced.refuse(); err != nil {
			return err
		}
	}
	c := h.writes
	if _, err := c.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("sqlstore: begin transaction: %w", s.classified(err))
	}
	rollback := func() {
		// A statement that failed with an I/O error or SQLITE_FULL may
		// have rolled the transaction back already: ROLLBACK then finds
		// none, which leaves the connection as it must be.
		if _, err := c.ExecContext(ctx, "ROLLBACK"); err != nil {
			s.log.Debug("sqlstore: roll back", "err", err)
		}
	}
	finished := false
	tx := &plainTx{c: c, classify: s.d.classify}
	defer func() {
		if !finished { // fn panicked
			tx.closeRows()
			rollback()
		}
	}()
	err = fn(tx)
	tx.closeRows() // Rows a write left open hold the pool's one connection
	if err != nil {
		finished = true
		rollback()
		return err
	}
	finished = true
	if _, err := c.ExecContext(ctx, "COMMIT"); err != nil {
		// A COMMIT that failed (SQLITE_BUSY) leaves the transaction
		// open: undo it, nothing of it is stored.
		rollback()
		if !h.normal {
			s.unsynced.commitFailed(s, err)
		}
		return fmt.Errorf("sqlstore: commit: %w", s.classified(err))
	}
	return nil
}

// fixedCtx runs every statement with its own context, whatever context
// the caller passes: a group's statements run with the group's.
type fixedCtx struct {
	q   querier
	ctx context.Context
}

func (f fixedCtx) ExecContext(_ context.Context, query string, args ...any) (sql.Result, error) {
	return f.q.ExecContext(f.ctx, query, args...)
}

func (f fixedCtx) QueryContext(_ context.Context, query string, args ...any) (*sql.Rows, error) {
	return f.q.QueryContext(f.ctx, query, args...)
}

func (f fixedCtx) QueryRowContext(_ context.Context, query string, args ...any) *sql.Row {
	return f.q.QueryRowContext(f.ctx, query, args...)
}
