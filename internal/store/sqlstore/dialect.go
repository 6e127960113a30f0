package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"io/fs"
	"strconv"
	"strings"
)

// errClass is what a dialect makes of a driver error.
type errClass int

const (
	errOther      errClass = iota
	errUnique              // a UNIQUE or PRIMARY KEY constraint was violated
	errForeignKey          // a FOREIGN KEY constraint was violated
	errBusy                // a lock was still held when the busy timeout ran out
	errRetry               // a serialization failure or deadlock: the transaction may succeed if run again
)

// dialect is everything that differs between SQL databases. The statements
// in queries.go are written once, in the subset SQLite and PostgreSQL share
// ('?' placeholders, ON CONFLICT, substr, count(*), LEFT JOIN); a dialect
// rewrites placeholders, spells the upsert clauses, classifies its driver's
// errors and brings its own DDL as migrations.
//
// Timestamps are BIGINT/INTEGER microseconds since the Unix epoch in every
// dialect (see toMicros), so no dialect needs to convert time values.
type dialect interface {
	// name identifies the dialect ("sqlite", "postgres") in logs and errors.
	name() string
	// rebind rewrites a statement written with '?' placeholders into the
	// dialect's own placeholder syntax.
	rebind(query string) string
	// onConflictUpdate returns the clause that turns an INSERT into an
	// upsert: on a conflict over the target columns, the set columns take
	// the values the INSERT proposed.
	onConflictUpdate(target, set []string) string
	// onConflictIgnore returns the clause that makes an INSERT a no-op when
	// a row with the same target columns exists.
	onConflictIgnore(target []string) string
	// classify says whether err is a constraint violation or lock
	// contention. It must see through wrapping (errors.As).
	classify(err error) errClass
	// migrations holds the dialect's migration files, NNNN_name.sql, at
	// its root.
	migrations() fs.FS
	// lockMigrations runs first in the migration transaction and keeps
	// concurrent migrators (several replicas starting at once) apart.
	lockMigrations(ctx context.Context, tx *sql.Tx) error
	// beforeClose runs on the write handle when the Store closes
	// (housekeeping such as SQLite's PRAGMA optimize).
	beforeClose(ctx context.Context, writer *sql.DB) error
	// writeTxOptions are the options of write transactions (writeTx,
	// InTx): the isolation that keeps check-then-write invariants true
	// with several writers. A transaction that fails with errRetry is run
	// again (see Store.writeTxWith).
	writeTxOptions() *sql.TxOptions
	// readTxOptions are the options of multi-statement reads (repo.view):
	// read only, every statement on one snapshot.
	readTxOptions() *sql.TxOptions
	// abortsTxOnError says that a failed statement aborts the rest of its
	// transaction (PostgreSQL), so single-statement writes inside InTx run
	// in a SAVEPOINT too, and a caller may go on after one fails, as it
	// can with SQLite.
	abortsTxOnError() bool
	// contendedTxStart is the statement that a write transaction which
	// lost to concurrent ones escalateAfter times runs first, so that it
	// cannot lose again the same way; "" for none.
	contendedTxStart() string
}

// onConflict spells the ON CONFLICT clauses that SQLite (3.24+) and
// PostgreSQL (9.5+) share; dialects that speak them embed it.
type onConflict struct{}

func (onConflict) onConflictUpdate(target, set []string) string {
	var b strings.Builder
	b.WriteString("ON CONFLICT (")
	b.WriteString(strings.Join(target, ", "))
	b.WriteString(") DO UPDATE SET ")
	for i, c := range set {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c)
		b.WriteString(" = excluded.")
		b.WriteString(c)
	}
	return b.String()
}

func (onConflict) onConflictIgnore(target []string) string {
	return "ON CONFLICT (" + strings.Join(target, ", ") + ") DO NOTHING"
}

// rebindDollar rewrites '?' placeholders as $1, $2, … (PostgreSQL). A '?'
// inside a single-quoted literal, a double-quoted identifier or a comment is
// left alone.
func rebindDollar(query string) string {
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '\'' || c == '"':
			j := i + 1
			for j < len(query) && query[j] != c {
				j++
			}
			if j >= len(query) {
				j = len(query) - 1
			}
			b.WriteString(query[i : j+1])
			i = j
		case c == '-' && i+1 < len(query) && query[i+1] == '-':
			j := strings.IndexByte(query[i:], '\n')
			if j < 0 {
				j = len(query) - i - 1
			}
			b.WriteString(query[i : i+j+1])
			i += j
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// embeddedDir is the directory dir of the embedded files fsys, as a file
// system of its own.
func embeddedDir(fsys embed.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(err) // the directory is embedded; cannot happen
	}
	return sub
}
