package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/postern/postern/internal/store"
)

//go:embed migrations/postgres/*.sql
var postgresMigrationFiles embed.FS

// postgresOptions are the knobs OpenPostgres fixes; tests vary them.
type postgresOptions struct {
	// writers is the size of the write pool: how many write transactions
	// this process runs at once. PostgreSQL needs no single-writer gate;
	// the pool's limit keeps one replica from taking every connection
	// the server allows.
	writers int
	// readers is the size of the read pool.
	readers int
}

// defaultPostgresOptions: 16 writers and 16 readers, so one replica uses
// at most 32 of the server's connections (max_connections is 100 by
// default: three replicas and an admin session fit).
func defaultPostgresOptions() postgresOptions {
	return postgresOptions{writers: 16, readers: 16}
}

// PostgresStore is a Store on PostgreSQL, for several server replicas
// sharing one database. It implements store.ChangeCounter over every
// replica's writes: each counted write transaction ends with a NOTIFY on
// changesChannel, and a dedicated connection LISTENs to it (pgchanges.go),
// so that callers caching by the count (identity.Authorizer, the front
// door's revocation re-check) follow another replica's writes within
// milliseconds of their commit. While that connection is down, Changes
// changes at every call, so that nothing is cached on a stale count. The
// endpoint listing cache is keyed by a counter that triggers keep in the
// database (ec2cache.go).
type PostgresStore struct {
	store.Store
	s    *Store
	feed *changeFeed
}

// PostgresStore is shared by replicas: it tells them when the replica
// registry changes.
var _ store.Replicated = (*PostgresStore)(nil)

// Changes implements store.ChangeCounter.
func (p *PostgresStore) Changes() uint64 { return p.s.changes.Load() + p.feed.count() }

// NotifyReplicas tells the other replicas (through NOTIFY) that this one
// joined or is leaving, so that they read the replica list now.
func (p *PostgresStore) NotifyReplicas(ctx context.Context) error {
	if _, err := p.s.writer.ExecContext(ctx, "SELECT pg_notify('"+replicasChannel+"', '')"); err != nil {
		return fmt.Errorf("sqlstore: notify replicas: %w", err)
	}
	return nil
}

// RecordPresignUseUnsynced implements store.UnsyncedPresignUses (see
// Store.RecordPresignUseUnsynced).
func (p *PostgresStore) RecordPresignUseUnsynced(ctx context.Context, u store.PresignUse) (store.PresignUse, bool, error) {
	return p.s.RecordPresignUseUnsynced(ctx, u)
}

// KnowsPresignUse tells the front door whether the replay guard of the
// URL whose signature hashes to hash is answered from this replica's
// memory (Store.KnowsPresignUse), so that a replay it knows is refused
// before an agent dials, as on SQLite. Sharing the database with other
// replicas changes nothing: a use this replica saw committed, its own or
// one it read back, never changes, and a miss still asks the database.
func (p *PostgresStore) KnowsPresignUse(hash []byte, now time.Time) bool {
	return p.s.KnowsPresignUse(hash, now)
}

// ReplicasChanged receives a value when a replica (this one included)
// called NotifyReplicas; several notices may arrive as one.
func (p *PostgresStore) ReplicasChanged() <-chan struct{} { return p.feed.replicas }

// Close stops listening for changes and closes the store.
func (p *PostgresStore) Close() error {
	p.feed.close()
	return p.s.Close()
}

// SchemaVersion returns the version of the newest migration applied to
// the database.
func (p *PostgresStore) SchemaVersion(ctx context.Context) (int, error) {
	return p.s.SchemaVersion(ctx)
}

// OpenPostgres connects to the PostgreSQL database dsn names (a URL,
// postgres://user:password@host:5432/postern?sslmode=verify-full, or a
// key=value string; see github.com/jackc/pgx/v5/pgconn.ParseConfig) and
// applies any pending migrations, under an advisory lock so that replicas
// starting together migrate one after the other. logger may be nil.
//
// Write transactions, InTx included, are SERIALIZABLE and are run again
// when the database aborts them as serialization failures or deadlocks
// (see the package documentation); multi-statement reads are READ ONLY
// REPEATABLE READ, one snapshot. Unless the dsn sets them, sessions get
// application_name=postern and lock_timeout=10s (a statement waits at
// most that long for a row lock, like SQLite's busy timeout). The store
// keeps at most 16 connections for writes and 16 for reads.
// Close the store when done.
func OpenPostgres(ctx context.Context, dsn string, logger *slog.Logger) (*PostgresStore, error) {
	s, cfg, err := openPostgres(ctx, dsn, logger, defaultPostgresOptions())
	if err != nil {
		return nil, err
	}
	return &PostgresStore{Store: s, s: s, feed: listenForChanges(cfg, s.log)}, nil
}

func openPostgres(ctx context.Context, dsn string, logger *slog.Logger, o postgresOptions) (*Store, *pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgconn's parse errors do not repeat the password.
		return nil, nil, fmt.Errorf("sqlstore: open postgres: %w", err)
	}
	for k, v := range map[string]string{
		"application_name": "postern",
		"lock_timeout":     strconv.FormatInt(busyTimeout.Milliseconds(), 10),
	} {
		if _, ok := cfg.RuntimeParams[k]; !ok {
			cfg.RuntimeParams[k] = v
		}
	}
	where := fmt.Sprintf("database %q on %s:%d as %q", cfg.Database, cfg.Host, cfg.Port, cfg.User)

	pool := func(n int) *sql.DB {
		db := stdlib.OpenDB(*cfg.Copy())
		db.SetMaxOpenConns(n)
		db.SetMaxIdleConns(n)
		// Connections are replaced now and then, so that a replica
		// follows a fail-over or a DNS change of the server.
		db.SetConnMaxLifetime(time.Hour)
		db.SetConnMaxIdleTime(5 * time.Minute)
		return db
	}
	writer, reader := pool(o.writers), pool(o.readers)
	if err := writer.PingContext(ctx); err != nil {
		writer.Close()
		reader.Close()
		return nil, nil, fmt.Errorf("sqlstore: open postgres %s: %w", where, err)
	}
	s, err := newStore(ctx, postgresDialect{}, writer, reader, o.writers, logger)
	if err != nil {
		writer.Close()
		reader.Close()
		return nil, nil, fmt.Errorf("sqlstore: open postgres %s: %w", where, err)
	}
	s.log.Debug("sqlstore: opened postgres", "database", cfg.Database, "host", cfg.Host, "port", cfg.Port,
		"writers", o.writers, "readers", o.readers)
	s.notifyStmt = "SELECT pg_notify('" + changesChannel + "', '')"
	// The replay guard's unsynced writes (unsynced.go): the write handle,
	// without waiting for the WAL flush.
	s.unsyncedGroup.h = &writeHandle{db: writer, writes: s.writes, start: "SET LOCAL synchronous_commit TO OFF"}
	return s, cfg, nil
}

// postgresDialect is PostgreSQL 13 or later through pgx.
type postgresDialect struct{ onConflict }

func (postgresDialect) name() string { return "postgres" }

func (postgresDialect) rebind(query string) string { return rebindDollar(query) }

// classify reads the SQLSTATE of a *pgconn.PgError.
func (postgresDialect) classify(err error) errClass {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return errOther
	}
	switch pe.Code {
	case "23505": // unique_violation
		return errUnique
	case "23503": // foreign_key_violation
		return errForeignKey
	case "40001", "40P01": // serialization_failure, deadlock_detected
		return errRetry
	case "55P03": // lock_not_available: lock_timeout ran out
		return errBusy
	}
	return errOther
}

func (postgresDialect) migrations() fs.FS {
	return embeddedDir(postgresMigrationFiles, "migrations/postgres")
}

// migrationLockKey is the pg_advisory_xact_lock key that migrators take:
// "postern\x00" read as a big-endian integer.
const migrationLockKey int64 = 0x706f737465726e00

// lockMigrations takes a transaction-level advisory lock, so that of
// several replicas starting at once one migrates and the others wait for
// its commit (then find nothing left to do). The wait is bounded by ctx,
// not by lock_timeout: a long migration must not fail the others.
func (postgresDialect) lockMigrations(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, "SET LOCAL lock_timeout = 0"); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLockKey)
	return err
}

func (postgresDialect) beforeClose(context.Context, *sql.DB) error { return nil }

// writeTxOptions: SERIALIZABLE, so that a transaction that checks and
// then writes (a quota count, a client token, an unused join token) fails
// with a serialization failure, and runs again, if a concurrent one
// changed what it checked.
func (postgresDialect) writeTxOptions() *sql.TxOptions {
	return &sql.TxOptions{Isolation: sql.LevelSerializable}
}

// readTxOptions: REPEATABLE READ takes one snapshot for the whole read
// (READ COMMITTED would take one per statement); read-only transactions
// at this level never fail with serialization failures.
func (postgresDialect) readTxOptions() *sql.TxOptions {
	return &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
}

// abortsTxOnError: after a failed statement PostgreSQL refuses every
// statement of the transaction until it is rolled back (to a savepoint).
func (postgresDialect) abortsTxOnError() bool { return true }

// contendedTxStart: the serialization failure that can repeat is two
// transactions writing the same change_counters row (every transaction
// that changes an endpoint bumps it), which under SERIALIZABLE aborts the
// later one whenever the earlier commits during its life: with endpoints
// written continuously, one transaction could lose every time. A
// transaction that lost escalateAfter times first locks the table against
// other writers (SHARE ROW EXCLUSIVE conflicts with the ROW EXCLUSIVE of an
// UPDATE and with itself, not with readers). LOCK TABLE takes no snapshot,
// so the transaction's snapshot, taken by its next statement, follows
// every counter update committed before, and none can commit during its
// life. Such transactions run one at a time.
func (postgresDialect) contendedTxStart() string {
	return "LOCK TABLE change_counters IN SHARE ROW EXCLUSIVE MODE"
}
