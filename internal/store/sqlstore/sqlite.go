package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/postern/postern/internal/util/filelock"
)

//go:embed migrations/sqlite/*.sql
var sqliteMigrationFiles embed.FS

// sqliteOptions are the knobs OpenSQLite fixes; tests and benchmarks vary
// them to compare strategies.
//
// BenchmarkWriteStrategy (CreateUser+CreateAccessKey transactions from 16
// goroutines; 2-CPU VM, ext4 on a virtual disk; three runs) measured:
//
//	strategy                               time/tx       p99        max
//	1 writer, FIFO queue in Go, NORMAL     0.11-0.13 ms  5-7 ms     7-29 ms
//	8 writers, BEGIN IMMEDIATE, NORMAL     0.14-0.15 ms  22-24 ms   0.35-1.0 s
//	1 writer, FIFO queue in Go, FULL       0.29-0.39 ms  8-11 ms    11-141 ms
//	8 writers, BEGIN IMMEDIATE, FULL       0.32-0.36 ms  55-80 ms   0.7-1.3 s
//
// (A noisier run on the same disk reached 7.6 s max with 8 writers and
// FULL.) No strategy hit SQLITE_BUSY within the 10 s busy timeout, but with
// several write connections SQLite's busy handler polls with growing
// sleeps, so the tail stretches towards the timeout; one connection with a
// first-come first-served queue keeps it short. (The queue matters:
// database/sql hands a freed connection to a random waiter, which gave
// maxima of 0.1-0.8 s with one writer.) FULL costs about 0.2 ms per commit
// (one more fsync), which Postern's write rate affords in exchange for
// commits that survive power loss.
type sqliteOptions struct {
	// synchronous is PRAGMA synchronous: "NORMAL" or "FULL".
	synchronous string
	// writers is the size of the write pool. 1 (the default) serialises
	// writers in Go; more lets them contend for SQLite's write lock under
	// BEGIN IMMEDIATE and busy_timeout.
	writers int
	// readers is the size of the read pool.
	readers int
	// noRecordJournal: every read-only record commits in its caller
	// (AppendEventsUnsynced), as without the journal (recordjournal.go).
	noRecordJournal bool
}

func defaultSQLiteOptions() sqliteOptions {
	return sqliteOptions{synchronous: "FULL", writers: 1, readers: max(4, runtime.GOMAXPROCS(0))}
}

// OpenSQLite opens (creating if needed, with mode 0600) the SQLite database
// file at path and applies any pending migrations. logger may be nil.
//
// The file is put in WAL mode with foreign keys enforced and
// synchronous=FULL, so a commit that returned is on disk even after a power
// loss or an OS crash (with NORMAL, the last commits before such a crash
// could be lost). Writes go through a single connection whose transactions
// begin IMMEDIATE; reads outside transactions use a pool of query-only
// connections. See the package documentation for why.
//
// path must name a file; in-memory databases are not supported because the
// read and write pools must share one database. Close the Store when done.
func OpenSQLite(ctx context.Context, path string, logger *slog.Logger) (*Store, error) {
	return openSQLite(ctx, path, logger, defaultSQLiteOptions())
}

func openSQLite(ctx context.Context, path string, logger *slog.Logger, o sqliteOptions) (*Store, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("sqlstore: open sqlite %q: want the path of a database file", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: open sqlite %q: %w", path, err)
	}
	// One Store per database file, across processes: the Store's caches
	// (endpoints, access keys, agents) are kept current by counting its
	// own writes, so a second writer's changes would go unseen.
	unlock, err := filelock.Lock(abs + ".lock")
	var held *filelock.HeldError
	switch {
	case errors.As(err, &held):
		return nil, &InUseError{Path: abs, PID: held.PID}
	case err != nil:
		return nil, fmt.Errorf("sqlstore: open sqlite %q: %w", path, err)
	}
	opened := false
	defer func() {
		if !opened {
			unlock()
		}
	}()
	// The database holds sealed secrets and token hashes: create it
	// readable by its owner only. SQLite gives the -wal and -shm files the
	// database file's permissions.
	if f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		f.Close()
	} else if !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("sqlstore: open sqlite %q: %w", path, err)
	}
	busy := strconv.FormatInt(busyTimeout.Milliseconds(), 10)

	writer, err := sql.Open("sqlite", sqliteDSN(abs, url.Values{
		"_busy_timeout": {busy},
		"_foreign_keys": {"1"},
		"_journal_mode": {"WAL"},
		"_synchronous":  {o.synchronous},
		"_txlock":       {"immediate"},
	}))
	if err != nil {
		return nil, fmt.Errorf("sqlstore: open sqlite %q: %w", path, err)
	}
	writer.SetMaxOpenConns(o.writers)
	writer.SetMaxIdleConns(o.writers)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)
	// Connect now: this creates the file and switches it to WAL before any
	// reader connects.
	if err := writer.PingContext(ctx); err != nil {
		writer.Close()
		return nil, fmt.Errorf("sqlstore: open sqlite %q: %w", path, err)
	}

	reader, err := sql.Open("sqlite", sqliteDSN(abs, url.Values{
		"_busy_timeout": {busy},
		"_query_only":   {"1"},
	}))
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("sqlstore: open sqlite %q: %w", path, err)
	}
	reader.SetMaxOpenConns(o.readers)
	reader.SetMaxIdleConns(o.readers)
	reader.SetConnMaxLifetime(0)
	reader.SetConnMaxIdleTime(0)

	// The connection of unsynced commits (unsynced.go). With FULL and
	// one writer, the writer connection itself, switched to
	// synchronous=NORMAL for them (syncSwitch, syncswitch.go);
	// otherwise a writer of its own with synchronous=NORMAL, taken in
	// turn with the writer connection.
	shared := o.synchronous == "FULL" && o.writers == 1
	unsynced := writer
	if !shared {
		unsynced, err = sql.Open("sqlite", sqliteDSN(abs, url.Values{
			"_busy_timeout": {busy},
			"_foreign_keys": {"1"},
			"_journal_mode": {"WAL"},
			"_synchronous":  {"NORMAL"},
			"_txlock":       {"immediate"},
		}))
		if err != nil {
			writer.Close()
			reader.Close()
			return nil, fmt.Errorf("sqlstore: open sqlite %q: %w", path, err)
		}
		unsynced.SetMaxOpenConns(1)
		unsynced.SetMaxIdleConns(1)
		unsynced.SetConnMaxLifetime(0)
		unsynced.SetConnMaxIdleTime(0)
	}

	s, err := newStore(ctx, sqliteDialect{}, writer, reader, o.writers, logger)
	if err != nil {
		writer.Close()
		reader.Close()
		if !shared {
			unsynced.Close()
		}
		return nil, fmt.Errorf("sqlstore: open sqlite %q: %w", path, err)
	}
	s.localChanges = true
	if shared {
		s.unsynced.db, s.unsynced.writes = writer, s.writes
		s.syncMode = &syncSwitch{db: writer}
	} else {
		s.unsynced.db, s.unsynced.writes = unsynced, newStmtCache(unsynced)
	}
	if err := s.unsynced.learnPath(ctx, unsynced); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlstore: open sqlite %q: %w", path, err)
	}
	// With one writer the write queue (writeGate) has one turn, and the
	// writer's and the unsynced writer's one connections are used only by
	// its holder: the group commits run there without a database/sql
	// transaction (plainWriteTx). (More writers: database/sql's.)
	plain := o.writers == 1
	s.group.h = &writeHandle{db: writer, writes: s.writes, plain: plain}
	s.unsyncedGroup.h = &writeHandle{db: unsynced, writes: s.unsynced.writes, plain: plain, normal: true}
	s.unsyncedGroup.after = func() { s.unsynced.committed(s) }
	s.unsynced.durableWriter = o.synchronous == "FULL"
	if !o.noRecordJournal {
		j, err := openRecordJournal(ctx, s, abs+recordJournalSuffix)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("sqlstore: open sqlite %q: %w", path, err)
		}
		s.journal = j
	}
	s.log.Debug("sqlstore: opened sqlite", "path", abs, "synchronous", o.synchronous,
		"writers", o.writers, "readers", o.readers)
	s.unlock, opened = unlock, true
	return s, nil
}

// ErrInUse is matched (errors.Is) by an *InUseError.
var ErrInUse = errors.New("sqlstore: the SQLite database is in use by another process")

// InUseError: another process (PID 0 when unknown), or another Store of
// this one, has the SQLite database open.
type InUseError struct {
	Path string
	PID  int
}

func (e *InUseError) Error() string {
	who := "another Postern server"
	if e.PID == os.Getpid() {
		who = "another store of this process"
	} else if e.PID > 0 {
		who += " (pid " + strconv.Itoa(e.PID) + ")"
	}
	return fmt.Sprintf("the database %s is in use by %s: one server per SQLite database "+
		"(its caches see only its own writes); stop that one, or share a PostgreSQL database (--database postgres://…) between replicas", e.Path, who)
}

func (e *InUseError) Is(target error) bool { return target == ErrInUse }

// sqliteDSN is a file: URI for modernc.org/sqlite. The path is escaped so
// that '?', '#' and '%' in it stay part of the name.
func sqliteDSN(abs string, params url.Values) string {
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: params.Encode()}
	if !strings.HasPrefix(u.Path, "/") { // a Windows drive path
		u.Path = "/" + u.Path
	}
	return u.String()
}

// sqliteDialect is SQLite 3.37+ as compiled into modernc.org/sqlite.
type sqliteDialect struct{ onConflict }

func (sqliteDialect) name() string { return "sqlite" }

func (sqliteDialect) rebind(query string) string { return query }

func (sqliteDialect) classify(err error) errClass {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return errOther
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return errUnique
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return errForeignKey
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return errBusy
	}
	return errOther
}

func (sqliteDialect) migrations() fs.FS {
	return embeddedDir(sqliteMigrationFiles, "migrations/sqlite")
}

// lockMigrations has nothing to do: the migration transaction began
// IMMEDIATE and so already holds the database's write lock.
func (sqliteDialect) lockMigrations(context.Context, *sql.Tx) error { return nil }

// writeTxOptions: none; the transactions begin IMMEDIATE (the _txlock
// connection parameter), which takes the database's write lock first, so
// write transactions are serial.
func (sqliteDialect) writeTxOptions() *sql.TxOptions { return nil }

// readTxOptions: a read transaction in WAL mode reads one snapshot.
func (sqliteDialect) readTxOptions() *sql.TxOptions { return &sql.TxOptions{ReadOnly: true} }

// abortsTxOnError: a failed statement undoes only itself.
func (sqliteDialect) abortsTxOnError() bool { return false }

// contendedTxStart: none; write transactions never abort each other.
func (sqliteDialect) contendedTxStart() string { return "" }

func (sqliteDialect) beforeClose(ctx context.Context, writer *sql.DB) error {
	_, err := writer.ExecContext(ctx, "PRAGMA optimize")
	return err
}
