// Package sqlstore implements store.Store on database/sql.
//
// OpenSQLite opens the default backend, a single SQLite file (pure-Go
// driver modernc.org/sqlite, no cgo). OpenPostgres opens the backend for
// several server replicas, a PostgreSQL database (pgx through
// database/sql). The two share nearly everything: the DML is written once
// in queries.go in the SQL both databases share, and the few differences
// (placeholders, upsert clauses, error codes, isolation, DDL, migration
// locking) sit behind the unexported dialect interface, with one
// migrations/<dialect>/ directory of DDL per dialect.
//
// # Transactions and connections
//
// Every Store method runs in its own transaction (single statements rely on
// the database's statement atomicity; multi-statement reads run in a
// read-only transaction on one snapshot). InTx runs several methods in one
// write transaction; the Repo it passes to fn also has an InTx method,
// which nests with a SAVEPOINT.
//
// Writes and InTx go through a write handle, reads outside InTx through a
// read handle. With SQLite these are two connection pools on the same file:
// one writer connection (database/sql MaxOpenConns(1), BEGIN IMMEDIATE) and
// several query-only reader connections. Goroutines that write at the same
// time therefore queue in Go, first come first served, for the one writer
// connection instead of racing for SQLite's write lock, so they never see
// "database is locked" and the slowest waits stay close to the average
// (measurements in sqlite.go); WAL mode lets readers run alongside the
// writer. BEGIN IMMEDIATE and SQLite's busy_timeout still cover another
// process (an admin command) writing to the same file. A goroutine that
// waits longer than the busy timeout (10 s) for the writer connection gets
// an error. Reads outside transactions use prepared statements.
//
// With PostgreSQL (postgres.go) several writers run at once, from this
// process and from other replicas, so write transactions are SERIALIZABLE:
// whatever a transaction checks before it writes (a quota, an unused
// client token, an unredeemed join token) still holds when it commits, or
// the database aborts it with a serialization failure. writeTx then runs
// it again, a bounded number of times (maxTxAttempts), from the third
// attempt on after locking out the writers it lost to (contendedTxStart in
// postgres.go). fn given to InTx may therefore run more than once; it must
// not keep side effects of an attempt that failed.
//
// Writes of records no reader caches (audit records, presigned URLs'
// first uses, live tunnels: writeQuiet) made outside a transaction are
// group-committed (groupcommit.go): those that queue while a commit runs
// share the next one, each in a SAVEPOINT, so a thousand tunnels opened
// at once cost a handful of fsyncs, not a thousand; each caller still
// returns only once the commit holding its write is durable, and a
// failed commit fails every write in it. A lone write is a transaction of
// its own, as before. With SQLite, read-only API calls' records commit
// with synchronous=NORMAL (unsynced.go): on the writer connection,
// switched to NORMAL for them and back to FULL for the next durable
// commit (syncswitch.go), or, with synchronous=NORMAL or several
// writers, on a third connection taken in turn with the writer
// connection; so do the replay guard's writes
// (RecordPresignUseUnsynced), in group commits of their own, made
// durable by the durable commit of the attempt's record that follows
// them (with PostgreSQL: synchronous_commit off for those transactions).
// A lone read-only record is a single INSERT that commits by itself.
//
// fn given to InTx must use only the Repo it is passed. With SQLite, a
// write through the Store itself inside fn waits for the one writer
// connection, which fn holds, and fails after the busy timeout; with
// PostgreSQL it would run in a transaction of its own, outside fn's.
//
// The exception is a context bound to the transaction (store.BindTx): every
// Store method called with it runs in that transaction (reads on it,
// writes and InTx in a SAVEPOINT of it; see Store.bound), which is how an
// API call's changes and its audit record become one commit. A write
// transaction that rolls back after a write that counts still counts as a
// change, since what code read through a bound context may have been
// cached; the endpoint listing is never cached from a bound context.
//
// # Errors
//
// Every error names the operation ("sqlstore: create user \"bob\": ...")
// and wraps store.ErrNotFound, store.ErrConflict or store.ErrInUse where
// one applies, so callers test it with errors.Is.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/postern/postern/internal/store"
)

// busyTimeout bounds how long a statement waits for a lock: SQLite's
// busy_timeout (another process holds the file's write lock) and the wait
// for the in-process writer connection.
const busyTimeout = 10 * time.Second

// Store is a store.Store on a SQL database. It is safe for concurrent use.
// The methods of store.Repo are documented in package store; the notes
// here are only about this implementation.
type Store struct {
	repo // the Repo methods, each in its own transaction

	d      dialect
	q      *queries
	writer *sql.DB    // writes and InTx
	reader *sql.DB    // reads outside InTx; may be the same pool as writer
	reads  *stmtCache // prepared statements on reader
	writes *stmtCache // prepared statements on writer, for write transactions
	log    *slog.Logger
	// unlock frees the SQLite database's lock file at Close (nil for
	// PostgreSQL).
	unlock func()
	// writeWait bounds the wait for a write connection (busyTimeout).
	writeWait time.Duration
	// changes counts committed write transactions; see Changes.
	changes atomic.Uint64
	// localChanges: only this process writes the database (SQLite), so
	// changes counts every committed write and the endpoint cache may
	// trust it instead of reading change_counters (ec2cache.go).
	localChanges bool
	// notifyStmt, when set, runs at the end of every counted write
	// transaction, so that other processes learn of the change
	// (PostgreSQL's NOTIFY, delivered at commit; see pgchanges.go).
	notifyStmt string
	// writeGate, when not nil, holds one token per write connection.
	// Writers queue for a token first-come first-served (a channel's
	// waiters are FIFO, database/sql's are served at random), which keeps
	// the worst-case wait close to the average.
	writeGate chan struct{}
	// endpoints caches the full endpoint listing (ec2cache.go).
	endpoints endpointCache
	// unsynced syncs the log of unsynced commits (unsynced.go).
	unsynced unsyncedLog
	// syncMode, when not nil (SQLite, synchronous=FULL, one writer),
	// switches the one write connection between the durable and the
	// unsynced commits (syncswitch.go).
	syncMode *syncSwitch
	// journal holds the read-only records not yet committed (SQLite;
	// recordjournal.go), nil when there is none.
	journal *recordJournal
	// group commits quiet writes together (groupcommit.go); unsyncedGroup
	// those that need not wait for the disk (unsynced.go).
	group, unsyncedGroup groupCommit
	// carrier names this process in the journal of open tunnels
	// (unclosed.go).
	carrier atomic.Pointer[string]
	// presignUses remembers the replay guard's committed rows
	// (presigncache.go).
	presignUses presignCache

	closeOnce sync.Once
	closeErr  error
}

var _ store.Store = (*Store)(nil)

// newStore wires a Store around open handles and brings the schema up to
// date. writeSlots is the writer's connection limit (0: do not queue
// writers in Go). On error it closes nothing; the caller owns the handles.
func newStore(ctx context.Context, d dialect, writer, reader *sql.DB, writeSlots int, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{d: d, q: newQueries(d), writer: writer, reader: reader, reads: newStmtCache(reader), writes: newStmtCache(writer),
		log: logger, writeWait: busyTimeout}
	if writeSlots > 0 {
		s.writeGate = make(chan struct{}, writeSlots)
	}
	s.repo = repo{s: s}
	s.SetTunnelCarrier(newCarrier())
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// InTx runs fn in one write transaction and commits it if fn returns nil.
// If fn returns an error the transaction is rolled back and that error is
// returned as is; if fn panics the transaction is rolled back and the panic
// continues. The Repo passed to fn also implements
//
//	InTx(ctx context.Context, fn func(store.Repo) error) error
//
// which runs a nested fn inside a SAVEPOINT of the same transaction.
func (s *Store) InTx(ctx context.Context, fn func(tx store.Repo) error) error {
	return s.repo.InTx(ctx, fn)
}

// Close closes the database handles (with SQLite, after refreshing the
// query planner's statistics). It is safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		if s.journal != nil { // its last commits first
			errs = append(errs, s.journal.close())
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if s.syncMode != nil {
			// The last statements (PRAGMA optimize may commit the
			// planner's statistics) run with synchronous=FULL, as
			// every commit but the unsynced ones.
			if release, err := s.writeTurn(ctx); err == nil {
				if err := s.syncFor(ctx, false); err != nil {
					s.log.Debug("sqlstore: before close", "err", err)
				}
				release()
			}
		}
		if err := s.d.beforeClose(ctx, s.writer); err != nil {
			s.log.Debug("sqlstore: before close", "dialect", s.d.name(), "err", err)
		}
		cancel()
		errs = append(errs, s.reads.Close(), s.writes.Close())
		if u := s.unsynced.db; u != nil && u != s.writer {
			// The unsynced writer (unsynced.go) closes before the
			// writer, with nothing left to commit. (With a syncSwitch
			// it is the writer.)
			errs = append(errs, s.unsynced.writes.Close(), u.Close())
		}
		errs = append(errs, s.writer.Close())
		if s.reader != s.writer {
			errs = append(errs, s.reader.Close())
		}
		// database/sql's Close does not wait for connections in use (an
		// audit flush still committing): they close when released. Wait
		// for them, bounded, so that no SQLite file is touched (a last
		// connection's checkpoint) after Close returns.
		for _, db := range []*sql.DB{s.writer, s.reader, s.unsynced.db} {
			for i := 0; db != nil && i < 500 && db.Stats().OpenConnections > 0; i++ {
				time.Sleep(10 * time.Millisecond)
			}
		}
		if s.unlock != nil { // SQLite: the database is free for another Store
			s.unlock()
		}
		if err := errors.Join(errs...); err != nil {
			s.closeErr = fmt.Errorf("sqlstore: close: %w", err)
		}
	})
	return s.closeErr
}

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// repo implements store.Repo. Outside a transaction (tx == nil, the Store's
// own repo) each method opens what it needs; inside InTx every method runs
// on tx.
type repo struct {
	s  *Store
	tx *cachedTx
	// savepoints counts the SAVEPOINTs taken in tx, to name them uniquely.
	savepoints *int
}

// InTx runs fn in a transaction: a new one outside a transaction, a
// SAVEPOINT of the current one inside. See Store.InTx.
func (r *repo) InTx(ctx context.Context, fn func(tx store.Repo) error) error {
	if r.tx != nil {
		return r.savepoint(ctx, fn)
	}
	if b := r.s.bound(ctx); b != nil {
		return b.savepoint(ctx, fn)
	}
	return r.s.writeTxMode(ctx, r.s.d.writeTxOptions(), countIfChanged, func(tx *cachedTx) error {
		return fn(&repo{s: r.s, tx: tx, savepoints: new(int)})
	})
}

// bound returns the transaction of this Store that ctx is bound to
// (store.BindTx), or nil. Every call outside InTx checks it: reads (read,
// readAdHoc, view) and writes (writeTxWith) with a bound context run in
// the bound transaction, so that code given a bound context commits
// nothing of its own.
func (s *Store) bound(ctx context.Context) *repo {
	if ctx == nil {
		return nil
	}
	b, ok := store.BoundTx(ctx).(*repo)
	if !ok || b.s != s || b.tx == nil {
		return nil
	}
	return b
}

// savepoint runs fn inside a SAVEPOINT of r.tx, undoing only fn's writes
// when fn fails. A panic unwinds to the outer InTx, which rolls back all.
func (r *repo) savepoint(ctx context.Context, fn func(tx store.Repo) error) error {
	*r.savepoints++
	name := "postern_sp" + strconv.Itoa(*r.savepoints)
	if _, err := r.tx.ExecContext(ctx, "SAVEPOINT "+name); err != nil {
		return fmt.Errorf("sqlstore: savepoint: %w", err)
	}
	if err := fn(r); err != nil {
		if _, rbErr := r.tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT "+name); rbErr != nil {
			return errors.Join(err, fmt.Errorf("sqlstore: rollback to savepoint: %w", rbErr))
		}
		if _, relErr := r.tx.ExecContext(ctx, "RELEASE SAVEPOINT "+name); relErr != nil {
			return errors.Join(err, fmt.Errorf("sqlstore: release savepoint: %w", relErr))
		}
		return err
	}
	if _, err := r.tx.ExecContext(ctx, "RELEASE SAVEPOINT "+name); err != nil {
		return fmt.Errorf("sqlstore: release savepoint: %w", err)
	}
	return nil
}

// read returns where a single-statement read runs: the current
// transaction, or the read handle's prepared statements.
func (r *repo) read() querier {
	if r.tx != nil {
		return r.tx
	}
	return boundOr{s: r.s, q: r.s.reads}
}

// readAdHoc is read for statements built at run time (IN lists of any
// length): outside a transaction they run unprepared, so that they do not
// fill the read handle's statement cache.
func (r *repo) readAdHoc() querier {
	if r.tx != nil {
		return r.tx
	}
	return boundOr{s: r.s, q: r.s.reader}
}

// boundOr runs a statement in the transaction its context is bound to
// (Store.bound), or else on q.
type boundOr struct {
	s *Store
	q querier
}

func (b boundOr) on(ctx context.Context) querier {
	if t := b.s.bound(ctx); t != nil {
		return t.tx
	}
	return b.q
}

func (b boundOr) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return b.on(ctx).ExecContext(ctx, query, args...)
}

func (b boundOr) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return b.on(ctx).QueryContext(ctx, query, args...)
}

func (b boundOr) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return b.on(ctx).QueryRowContext(ctx, query, args...)
}

// view runs a multi-statement read on one snapshot: in the current
// transaction, or in a read-only transaction on the read handle.
func (r *repo) view(ctx context.Context, fn func(q querier) error) error {
	if r.tx != nil {
		return fn(r.tx)
	}
	if b := r.s.bound(ctx); b != nil {
		return fn(b.tx)
	}
	tx, err := r.s.reader.BeginTx(ctx, r.s.d.readTxOptions())
	if err != nil {
		return fmt.Errorf("begin read transaction: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only; nothing to keep
	return fn(&cachedTx{Tx: tx, c: r.s.reads})
}

// update runs a write: in the current transaction, or in a transaction of
// its own on the write handle. Inside a transaction of a dialect where a
// failed statement aborts the transaction (PostgreSQL) it runs in a
// SAVEPOINT, so that the caller may go on after it fails.
func (r *repo) update(ctx context.Context, fn func(q querier) error) error {
	if r.tx != nil {
		r.tx.changed = true
		if r.s.d.abortsTxOnError() {
			return r.savepoint(ctx, func(store.Repo) error { return fn(r.tx) })
		}
		return fn(r.tx)
	}
	return r.s.writeTx(ctx, func(tx *cachedTx) error { return fn(tx) })
}

// writeTx runs fn in a transaction on the write handle: commit if fn
// returns nil, roll back if it fails or panics (the panic goes on).
func (s *Store) writeTx(ctx context.Context, fn func(tx *cachedTx) error) (err error) {
	return s.writeTxCounted(ctx, true, fn)
}

// writeTxCounted is writeTx; counted says whether the commit counts as a
// change (Changes). Writes to records no reader caches (the tunnel
// tables: audit events, presigned-URL uses, agent connections) do not
// count, so that opening tunnels does not empty the Authorizer's cache.
func (s *Store) writeTxCounted(ctx context.Context, counted bool, fn func(tx *cachedTx) error) error {
	return s.writeTxWith(ctx, s.d.writeTxOptions(), counted, fn)
}

// maxTxAttempts bounds how often writeTxWith runs a transaction that the
// database aborted as a serialization failure or a deadlock (errRetry).
// Such an abort means another transaction changed what this one read (or
// wrote the same row: every transaction that changes an endpoint bumps
// one change_counters row); running it again reads the new state. The
// attempts are spread by a random back-off of up to 2^attempt ms, at most
// 64 ms, so that the transactions that collided do not collide again, and
// after escalateAfter failures an attempt first locks out the writers it
// keeps losing to (contendedTxStart). In the conformance suite's races no
// transaction needed more than three attempts; the bound is for the
// unforeseen.
const maxTxAttempts = 20

// escalateAfter is how many attempts of a transaction may fail before the
// next ones start with the dialect's contendedTxStart.
const escalateAfter = 2

// countMode says whether a write transaction's commit counts as a change
// (Changes).
type countMode int

const (
	countNever countMode = iota
	countAlways
	// countIfChanged counts the commit only when a write that counts ran
	// in the transaction (cachedTx.changed): InTx, whose fn may only read
	// or write records no reader caches (a pushed key, an audit record).
	countIfChanged
)

// writeTxWith runs fn in a transaction with the options opts on the write
// handle: commit if fn returns nil, roll back if it fails or panics (the
// panic goes on). A transaction that fails with a serialization failure
// or deadlock runs again, up to maxTxAttempts times in all.
//
// With a context bound to a transaction of this Store (store.BindTx), fn
// runs instead in a savepoint of that transaction, once: the bound
// transaction's owner commits it, or runs it again.
func (s *Store) writeTxWith(ctx context.Context, opts *sql.TxOptions, counted bool, fn func(tx *cachedTx) error) error {
	mode := countNever
	if counted {
		mode = countAlways
	}
	return s.writeTxMode(ctx, opts, mode, fn)
}

// writeTxMode is writeTxWith with a countMode.
func (s *Store) writeTxMode(ctx context.Context, opts *sql.TxOptions, mode countMode, fn func(tx *cachedTx) error) error {
	return s.writeTxOn(ctx, nil, opts, mode, fn)
}

// writeHandle is where a write transaction runs other than on the write
// handle with its durable commits (nil): the unsynced group's
// transactions (unsynced.go). It shares the write handle's queue
// (writeGate).
type writeHandle struct {
	db     *sql.DB
	writes *stmtCache // prepared statements on db
	// start, when not empty, runs first in every transaction (PostgreSQL:
	// SET LOCAL synchronous_commit TO OFF).
	start string
	// plain: db is a pool of one connection that only the write queue's
	// turn holders use (SQLite with one writer); group commits run on it
	// without a database/sql transaction (plainWriteTx, groupcommit.go).
	plain bool
	// normal: its commits need not wait for the disk; on the Store's
	// one write connection (syncSwitch) they run with
	// synchronous=NORMAL.
	normal bool
}

// writeTxOn is writeTxMode on the handle h (nil: the write handle).
func (s *Store) writeTxOn(ctx context.Context, h *writeHandle, opts *sql.TxOptions, mode countMode, fn func(tx *cachedTx) error) error {
	if b := s.bound(ctx); b != nil {
		if mode == countAlways {
			b.tx.changed = true
		}
		return b.savepoint(ctx, func(store.Repo) error { return fn(b.tx) })
	}
	for attempt := 1; ; attempt++ {
		// The migration transaction (opts nil) never escalates: it may
		// run before the table contendedTxStart locks exists.
		escalate := attempt > escalateAfter && opts != nil
		retry, err := s.writeTxOnce(ctx, h, opts, escalate, mode, fn)
		if err == nil || !retry || attempt == maxTxAttempts || ctx.Err() != nil {
			return err
		}
		s.log.Debug("sqlstore: transaction aborted by a concurrent one, running it again",
			"dialect", s.d.name(), "attempt", attempt, "err", err)
		// Random back-off, so that the transactions that collided do not
		// collide again; not a wait for anything.
		t := time.NewTimer(rand.N(time.Millisecond << min(attempt, 6)))
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// writeTxOnce is one attempt of writeTxWith; escalate says to run the
// dialect's contendedTxStart first. retry says that the transaction failed
// because of a concurrent one (errRetry), whether or not fn passed the
// error on.
func (s *Store) writeTxOnce(ctx context.Context, h *writeHandle, opts *sql.TxOptions, escalate bool, mode countMode, fn func(tx *cachedTx) error) (retry bool, err error) {
	db, writes := s.writer, s.writes
	if h != nil {
		db, writes = h.db, h.writes
	}
	conn, release, err := s.writeConnOn(ctx, db, h != nil && h.normal)
	if err != nil {
		return false, err
	}
	defer release()
	tx, err := conn.BeginTx(ctx, opts)
	if err != nil {
		err = s.classified(err)
		return s.d.classify(err) == errRetry, fmt.Errorf("sqlstore: begin transaction: %w", err)
	}
	finished := false
	defer func() {
		if !finished { // fn panicked
			if rbErr := tx.Rollback(); rbErr != nil {
				s.log.Error("sqlstore: roll back after panic", "err", rbErr)
			}
		}
	}()
	ct := &cachedTx{Tx: tx, c: writes, classify: s.d.classify}
	if h != nil && h.start != "" {
		if _, err := tx.ExecContext(ctx, h.start); err != nil {
			finished = true
			tx.Rollback() //nolint:errcheck // the error that matters is err
			return s.d.classify(err) == errRetry, fmt.Errorf("sqlstore: begin transaction: %w", err)
		}
	}
	if stmt := s.d.contendedTxStart(); escalate && stmt != "" {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			finished = true
			tx.Rollback() //nolint:errcheck // the error that matters is err
			return s.d.classify(err) == errRetry, fmt.Errorf("sqlstore: begin contended transaction: %w", err)
		}
	}
	if err := fn(ct); err != nil {
		finished = true
		if rbErr := tx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
			s.log.Error("sqlstore: roll back", "err", rbErr)
		}
		if ct.changed {
			// Code given a context bound to this transaction read through
			// the Store, and may have cached what it read, writes that are
			// now undone included: count a change, so that nothing cached
			// from the rolled-back transaction is used again.
			s.changes.Add(1)
		}
		return ct.retry || s.d.classify(err) == errRetry, err
	}
	counted := mode == countAlways || (mode == countIfChanged && ct.changed)
	if counted && s.notifyStmt != "" {
		if _, err := ct.ExecContext(ctx, s.notifyStmt); err != nil {
			finished = true
			tx.Rollback() //nolint:errcheck // the error that matters is err
			return s.d.classify(err) == errRetry, fmt.Errorf("sqlstore: announce the change: %w", err)
		}
	}
	finished = true
	if err := tx.Commit(); err != nil {
		if h == nil || !h.normal {
			s.unsynced.commitFailed(s, err)
		}
		return ct.retry || s.d.classify(err) == errRetry, fmt.Errorf("sqlstore: commit: %w", s.classified(err))
	}
	if counted {
		s.changes.Add(1)
	}
	return false, nil
}

// Changes implements store.ChangeCounter: it counts the write
// transactions this process committed. Only this process writes to the
// SQLite file, so a reader that saw the same count before and after
// reading saw no change.
func (s *Store) Changes() uint64 { return s.changes.Load() }

// writeConn takes a connection of the write handle, waiting at most
// s.writeWait for it (SQLite has one, shared by every writer). release
// returns it.
func (s *Store) writeConn(ctx context.Context) (conn *sql.Conn, release func(), err error) {
	return s.writeConnOn(ctx, s.writer, false)
}

// writeTurn waits, at most s.writeWait, for a token of the write queue
// (writeGate) and returns its release: the turn of a write that runs on a
// pool whose connections only the queue's holders use (appendOneUnsynced).
func (s *Store) writeTurn(ctx context.Context) (release func(), err error) {
	if s.writeGate == nil {
		return func() {}, nil
	}
	select {
	case s.writeGate <- struct{}{}: // free: no timer
		return func() { <-s.writeGate }, nil
	default:
	}
	t := time.NewTimer(s.writeWait)
	defer t.Stop()
	select {
	case s.writeGate <- struct{}{}:
		return func() { <-s.writeGate }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("sqlstore: write connection: %w", ctx.Err())
	case <-t.C:
		return nil, fmt.Errorf("sqlstore: no write connection free after %v"+
			" (is the Store used inside its own InTx?): %w", s.writeWait, context.DeadlineExceeded)
	}
}

// writeConnOn is writeConn on the pool db, which shares the write
// handle's queue (writeGate): with SQLite, the writer connection or the
// unsynced writer (unsynced.go), never both at once. normal says that the
// connection's commits need not wait for the disk: with one connection
// for both (syncSwitch) it is switched to synchronous=NORMAL, else to
// FULL, before it is handed out.
func (s *Store) writeConnOn(ctx context.Context, db *sql.DB, normal bool) (conn *sql.Conn, release func(), err error) {
	busy := func(err error) error {
		return fmt.Errorf("sqlstore: no write connection free after %v"+
			" (is the Store used inside its own InTx?): %w", s.writeWait, err)
	}
	wctx, cancel := context.WithTimeout(ctx, s.writeWait)
	defer cancel()
	if s.writeGate != nil {
		select {
		case s.writeGate <- struct{}{}:
		case <-wctx.Done():
			if ctx.Err() != nil {
				return nil, nil, fmt.Errorf("sqlstore: write connection: %w", ctx.Err())
			}
			return nil, nil, busy(wctx.Err())
		}
	}
	// The switch runs on the pool's one connection before the caller
	// holds it (the turn keeps every other writer off it).
	err = s.syncFor(ctx, normal)
	if err == nil && !normal {
		err = s.unsynced.refuse()
	}
	if err != nil {
		if s.writeGate != nil {
			<-s.writeGate
		}
		return nil, nil, err
	}
	conn, err = db.Conn(wctx)
	if err != nil {
		if s.writeGate != nil {
			<-s.writeGate
		}
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			return nil, nil, busy(err)
		}
		return nil, nil, fmt.Errorf("sqlstore: write connection: %w", err)
	}
	return conn, func() {
		conn.Close()
		if s.writeGate != nil {
			<-s.writeGate
		}
	}, nil
}

// classified makes a driver error wrap the sentinel it stands for: a
// unique violation becomes store.ErrConflict and a foreign-key violation
// becomes fk (store.ErrNotFound when inserting a child of a missing parent,
// store.ErrInUse when deleting a parent that still has children).
// sql.ErrNoRows becomes store.ErrNotFound. Other errors are returned as is.
func (s *Store) classifiedFK(err error, fk error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrInUse):
		return err
	case errors.Is(err, sql.ErrNoRows):
		return store.ErrNotFound
	}
	switch s.d.classify(err) {
	case errUnique:
		return fmt.Errorf("%w (%w)", store.ErrConflict, err)
	case errForeignKey:
		if fk != nil {
			return fmt.Errorf("%w (%w)", fk, err)
		}
	}
	return err
}

// classified is classifiedFK for operations that only insert: a foreign-key
// violation means a parent is missing.
func (s *Store) classified(err error) error { return s.classifiedFK(err, store.ErrNotFound) }

// fail wraps err, classified, with the operation that failed. It returns
// nil for a nil err.
func (r *repo) fail(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("sqlstore: "+format+": %w", append(args, r.s.classified(err))...)
}

// failDelete is fail for deletes: a foreign-key violation means the record
// is still in use.
func (r *repo) failDelete(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("sqlstore: "+format+": %w", append(args, r.s.classifiedFK(err, store.ErrInUse))...)
}

// notFound is store.ErrNotFound with a subject, e.g. `user "bob"`.
func notFound(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), store.ErrNotFound)
}

// mustAffect turns "no row changed" into store.ErrNotFound.
func mustAffect(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// inUse reports the non-zero dependents as a store.ErrInUse error, or
// returns nil when there are none.
func inUse(counts []int64, nouns []string) error {
	var parts []string
	for i, n := range counts {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, nouns[i]))
		}
	}
	if len(parts) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", store.ErrInUse, strings.Join(parts, ", "))
}

// nameKey is the case-insensitive key of an IAM name.
func nameKey(name string) string { return strings.ToLower(name) }

// prefixArgs are the arguments of a pathPrefix filter; "" matches all.
func prefixArgs(prefix string) []any {
	return []any{utf8.RuneCountInString(prefix), prefix}
}

// toMicros is how every dialect stores a time: microseconds since the Unix
// epoch, UTC.
func toMicros(t time.Time) int64 { return t.UnixMicro() }

// fromMicros is the inverse of toMicros; the result is in UTC.
func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// blob keeps a nil byte slice from becoming SQL NULL.
func blob(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
