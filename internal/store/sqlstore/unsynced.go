package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sqlite3 "modernc.org/sqlite/lib"

	"github.com/postern/postern/internal/store"
)

// UnsyncedWindow bounds how long a commit of AppendEventsUnsynced waits
// for the disk: by then the Store has synced SQLite's write-ahead log.
const UnsyncedWindow = 100 * time.Millisecond

// unsyncedLog is the connection of unsynced commits, and syncs the
// write-ahead log after them.
type unsyncedLog struct {
	// db (SQLite only) is where the unsynced commits run; writes are its
	// prepared statements. With synchronous=FULL and one writer (the
	// defaults) it is the writer pool itself, its one connection switched
	// to synchronous=NORMAL for these commits and back to FULL for the
	// next durable one, each PRAGMA only when the mode changes
	// (syncSwitch, syncswitch.go): one connection keeps its page
	// cache, which two connections taking turns dropped at every turn.
	// Otherwise (NORMAL, or more writers) it is a pool of one write
	// connection of its own with synchronous=NORMAL, used in turn with
	// the writer connection (they share the Store's writeGate, so they
	// never contend for SQLite's write lock).
	db     *sql.DB
	writes *stmtCache

	mu      sync.Mutex
	walPath string // the database's -wal file, once known
	pending bool   // a sync is scheduled
	// onSync, when set (tests), hears of each sync; window, when not 0
	// (tests), replaces UnsyncedWindow.
	onSync func(error)
	onSkip func() // a sync found nothing left to sync (tests)
	window time.Duration

	// commits counts the unsynced commits; covered is the highest count
	// that a durable commit (AppendEvents on a writer connection with
	// synchronous=FULL: durableWriter) read before it began, and so
	// synced: its commit syncs the whole log. A scheduled sync that finds
	// every unsynced commit covered has nothing left to do.
	commits, covered atomic.Uint64
	durableWriter    bool

	// failed is set by the first failed fsync of the log (refuse).
	failed atomic.Pointer[error]
}

// errLogFsync marks a failed fsync of the log (not a failed open: that
// synced nothing, and the pages are still dirty).
var errLogFsync = errors.New("sync of the write-ahead log failed")

// fail makes every later durable commit fail (refuse), until the database
// is opened again: Linux marks the pages whose writeback failed clean, so a
// later fsync (a FULL commit's) returns 0 although the log's earlier frames
// may never reach the disk, and after a power loss recovery drops every
// frame after them (the log's checksums chain), durable commits included.
// PostgreSQL stops after a failed fsync of its WAL for the same reason.
func (u *unsyncedLog) fail(s *Store, err error) {
	if u.failed.CompareAndSwap(nil, &err) {
		s.log.Error("sqlstore: durable commits refused until the database is opened again", "err", err)
	}
}

// refuse is the error of a durable commit after fail, nil before.
func (u *unsyncedLog) refuse() error {
	if p := u.failed.Load(); p != nil {
		return fmt.Errorf("sqlstore: durable commit refused: %w", *p)
	}
	return nil
}

// commitFailed calls fail when a durable commit failed because SQLite's
// own fsync of the log failed (SQLITE_IOERR_FSYNC).
func (u *unsyncedLog) commitFailed(s *Store, err error) {
	var ce interface{ Code() int }
	if errors.As(err, &ce) && ce.Code() == sqlite3.SQLITE_IOERR_FSYNC {
		u.fail(s, fmt.Errorf("%w: %w", errLogFsync, err))
	}
}

// cover records that a durable commit, begun after the first seq unsynced
// commits had committed, returned: they are on disk.
func (u *unsyncedLog) cover(seq uint64) {
	for {
		c := u.covered.Load()
		if c >= seq || u.covered.CompareAndSwap(c, seq) {
			return
		}
	}
}

// Unsynced writes of the replay guard.
//
// RecordPresignUseUnsynced records a presigned URL's first use in a group
// commit of its own (the unsyncedGroup, groupcommit.go) that does not wait
// for the disk: with SQLite on the unsynced connection (synchronous=NORMAL),
// with PostgreSQL in transactions with synchronous_commit off. The row is
// visible to every later use at once, so a replay is refused as before, and
// it is durable as soon as any later durable commit of the store returned:
// SQLite's FULL commit syncs the whole write-ahead log, every earlier frame
// included, and PostgreSQL flushes its WAL in order, up to the synchronous
// commit's own record. The front door always commits the attempt's record
// (OpenTunnel, allowed or refused: a durable commit) after the guard's
// write and before it answers or lets a byte through, so a guard row that
// a tunnel or a refusal depends on is on disk before either; one that no
// durable commit followed belongs to an attempt that got neither (the
// process stopped before its record), and reaches the disk within
// UnsyncedWindow anyway (SQLite; PostgreSQL's WAL writer flushes
// asynchronous commits within three wal_writer_delay).

// AppendEventsUnsynced stores events as AppendEvents does, in one
// transaction, but with SQLite it does not wait for the disk: the commit
// is written to the database's write-ahead log (on a write connection
// with synchronous=NORMAL), so the operating system holds it and a crash of
// this process cannot lose it; the log reaches the disk within
// UnsyncedWindow, synced by the next synchronous commit or by the Store
// itself. Postern uses it for the records of read-only API calls and for
// tunnels' CloseTunnel records, whose journal rows it removes in the same
// commit (AppendEvents' journalEvent: a late close is refused with
// store.CloseRecoveredError as there). A close that a crash of the
// machine (not of the process) loses within UnsyncedWindow loses its
// journal row's removal with it: the tunnel is still in the journal, and
// recovery records its close, so the trail never shows an open tunnel
// without a CloseTunnel. With PostgreSQL, or when evs holds an OpenTunnel
// record the journal follows (store.Event.Journalled: it must be on the
// disk before the tunnel's first byte), it returns errors.ErrUnsupported
// and stores nothing: the caller appends with AppendEvents.
//
// Records of read-only calls (evs without a CloseTunnel record) do not
// even wait for their commit: they are written to the record journal (one
// write(2), as safe from a crash of this process as the commit) and
// committed by the journal's goroutine, many at a time, at once
// (recordjournal.go). A repeated event id is then no error: the record
// stored first is kept. When the journal cannot take them, they commit
// here as before.
func (s *Store) AppendEventsUnsynced(ctx context.Context, evs []store.Event) (err error) {
	if s.unsynced.db == nil {
		return errors.ErrUnsupported
	}
	closes := false
	for i := range evs {
		if !evs[i].Journalled() {
			continue
		}
		if evs[i].EventName != store.EventNameCloseTunnel {
			return fmt.Errorf("sqlstore: unsynced commit of %s record %s of tunnel %s: %w",
				evs[i].EventName, evs[i].EventID, evs[i].TunnelID, errors.ErrUnsupported)
		}
		closes = true
	}
	if len(evs) == 0 {
		return nil
	}
	if len(evs) <= maxRowsUnsynced && !closes {
		if err := ctx.Err(); err != nil {
			return err
		}
		// Journalled, committed by the journal's goroutine
		// (recordjournal.go).
		if s.journal != nil && s.journal.append(evs) {
			return nil
		}
		err := s.appendRowsUnsynced(ctx, evs)
		if s.d.classify(err) != errBusy {
			return err
		}
		// Another process holds the write lock: the transaction below
		// waits for it (BEGIN IMMEDIATE and the busy timeout).
	}
	// A transaction of the unsynced connection's group commits
	// (groupcommit.go), as the replay guard's writes: with one writer it
	// runs without a database/sql transaction (plainWriteTx), whose
	// BEGIN, COMMIT, per-transaction copy of each prepared statement and
	// goroutine watching a cancellable context were about a fifth of a
	// lone CloseTunnel commit's CPU (BenchmarkSequentialTunnelStore,
	// close-cpu-us); guard writes that queue meanwhile share its commit.
	// A call's events and journal rows commit together or not at all (in
	// a group of several, in a SAVEPOINT of their own); the group's
	// commit schedules the sync of the log (unsyncedGroup.after).
	err = s.groupWriteOn(&s.unsyncedGroup, ctx, func(q querier) error {
		for i := range evs {
			e := &evs[i]
			if _, err := q.ExecContext(ctx, unsyncedInsert, e.EventID, optMicros(e.EventTime), e.EventSource, e.EventName, boolInt(e.ReadOnly),
				e.Username, e.AccessKeyID, e.ResourceType, e.ResourceName, e.ErrorCode, e.TunnelID, e.RequestID, e.Body); err != nil {
				return fmt.Errorf("event %s: %w", e.EventID, s.classified(err))
			}
			// A tunnel's close: its journal row goes in the same commit.
			if err := s.repo.journalEvent(ctx, q, e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlstore: unsynced commit: %w", err)
	}
	return nil
}

// appendRowsUnsynced stores up to maxRowsUnsynced events as one INSERT
// statement of one row each that commits by itself (SQLite's autocommit:
// the statement is its own transaction, atomic as any: every row or
// none), on the unsynced connection, taken in turn with the writers
// (writeGate). It saves what an explicit transaction costs around the
// rows: the BEGIN IMMEDIATE and COMMIT statements, database/sql's
// transaction and its per-transaction copy of the prepared insert (for
// one row, about a third of the CPU of a record committed alone:
// BenchmarkReadOnlyRecord; a batch of eight, the audit writer's in a busy
// period, about half its CPU). An errBusy (another process kept the write
// lock past the busy timeout) leaves the caller to try once more in a
// transaction.
func (s *Store) appendRowsUnsynced(ctx context.Context, evs []store.Event) error {
	release, err := s.writeTurn(ctx)
	if err != nil {
		return err
	}
	defer release()
	if err := s.syncFor(ctx, true); err != nil {
		return fmt.Errorf("sqlstore: unsynced commit: %w", err)
	}
	args := make([]any, 0, len(evs)*eventColCount)
	for _, e := range evs {
		args = append(args, e.EventID, optMicros(e.EventTime), e.EventSource, e.EventName, boolInt(e.ReadOnly),
			e.Username, e.AccessKeyID, e.ResourceType, e.ResourceName, e.ErrorCode, e.TunnelID, e.RequestID, e.Body)
	}
	// The unsynced pool's one connection is free while this goroutine
	// holds the turn: its other users (AppendEventsUnsynced, the unsynced
	// group) take the turn first.
	if _, err := s.unsynced.writes.ExecContext(ctx, unsyncedInserts()[len(evs)], args...); err != nil {
		if len(evs) == 1 {
			return fmt.Errorf("sqlstore: unsynced commit: event %s: %w", evs[0].EventID, s.classified(err))
		}
		return fmt.Errorf("sqlstore: unsynced commit of %d events from %s: %w", len(evs), evs[0].EventID, s.classified(err))
	}
	s.unsynced.committed(s)
	return nil
}

// maxRowsUnsynced bounds the events appendRowsUnsynced stores in one
// statement (each a prepared statement of its own, kept by the stmtCache).
const maxRowsUnsynced = 16

// eventColCount is the number of columns in eventCols.
const eventColCount = 13

// unsyncedInsert is the insert of an event (SQLite: no rebinding).
const unsyncedInsert = "INSERT INTO events (" + eventCols + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"

// unsyncedInserts()[n] inserts n events in one statement (1 ≤ n ≤
// maxRowsUnsynced). Built on first use, not at init: every process that
// links the store (the CLI's included) would pay for it at start
// (TestPackageInitsAllocateLittle).
var unsyncedInserts = sync.OnceValue(func() (q [maxRowsUnsynced + 1]string) {
	const row = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	for n := 1; n <= maxRowsUnsynced; n++ {
		q[n] = "INSERT INTO events (" + eventCols + ") VALUES " + strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
	}
	return q
})

// committed counts an unsynced commit and schedules the sync of the log.
func (u *unsyncedLog) committed(s *Store) {
	u.commits.Add(1)
	u.schedule(s)
}

// learnPath finds the database file's path once, for its -wal file.
func (u *unsyncedLog) learnPath(ctx context.Context, conn interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.walPath != "" {
		return nil
	}
	var file string
	if err := conn.QueryRowContext(ctx, "SELECT file FROM pragma_database_list WHERE name = 'main'").Scan(&file); err != nil {
		return fmt.Errorf("sqlstore: unsynced commit: database file: %w", err)
	}
	if file == "" {
		return fmt.Errorf("sqlstore: unsynced commit: the database has no file: %w", errors.ErrUnsupported)
	}
	u.walPath = file + "-wal"
	return nil
}

// schedule makes sure a sync of the log runs within UnsyncedWindow.
func (u *unsyncedLog) schedule(s *Store) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.pending {
		return
	}
	u.pending = true
	window := UnsyncedWindow
	if u.window != 0 {
		window = u.window
	}
	time.AfterFunc(window, func() { s.syncLog() })
}

// syncLog syncs the write-ahead log file to the disk (fsync: the commits
// written to it so far). A log that is gone was checkpointed into the
// database file and removed when the Store closed, after a sync.
func (s *Store) syncLog() {
	u := &s.unsynced
	u.mu.Lock()
	u.pending = false
	path, onSync, onSkip := u.walPath, u.onSync, u.onSkip
	u.mu.Unlock()
	// Every commit counted before pending was cleared is counted in
	// commits now (it counted before it found pending set); a later one
	// schedules a sync of its own.
	if u.covered.Load() >= u.commits.Load() {
		if onSkip != nil {
			onSkip()
		}
		return
	}
	err := syncFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	if err != nil {
		s.log.Error("sqlstore: sync the write-ahead log", "path", path, "err", err)
	}
	if errors.Is(err, errLogFsync) {
		u.fail(s, err)
	}
	if onSync != nil {
		onSync(err)
	}
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("%w: %w", errLogFsync, err)
	}
	return nil
}
