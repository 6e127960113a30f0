package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/store/storetest"
	"github.com/postern/postern/internal/testutil/pgtest"
)

// TestMain stops the PostgreSQL server of the tests (if one started) when
// they end.
func TestMain(m *testing.M) { pgtest.Main(m) }

// openPG opens a store on dsn and closes it at cleanup.
func openPG(t *testing.T, dsn string) *PostgresStore {
	t.Helper()
	s, err := OpenPostgres(t.Context(), dsn, testLogger(t))
	if err != nil {
		t.Fatalf("OpenPostgres: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestPostgresConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openPG(t, pgtest.Start(t))
	})
}

// TestPostgresReplicas runs the races with the racers spread over two
// stores on one database, as two server replicas.
func TestPostgresReplicas(t *testing.T) {
	storetest.RunShared(t, func(t *testing.T, n int) []store.Store {
		dsn := pgtest.Start(t)
		var ss []store.Store
		for range n {
			ss = append(ss, openPG(t, dsn))
		}
		return ss
	})
}

// TestPostgresChangeFeed: a replica's change count follows another
// replica's committed writes (NOTIFY/LISTEN), not its quiet ones, and
// recovers when its feed connection is killed.
func TestPostgresChangeFeed(t *testing.T) {
	dsn := pgtest.Start(t)
	a, b := openPG(t, dsn), openPG(t, dsn)
	var st store.Store = b
	if _, ok := st.(store.ChangeCounter); !ok {
		t.Fatal("the store.Store of OpenPostgres is not a store.ChangeCounter")
	}
	ctx := t.Context()
	// waitFor waits for cond: the feed's notices arrive after the commit,
	// asynchronously.
	waitFor := func(cond func() bool, what string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("waited 10s for %s", what)
			}
			runtime.Gosched()
		}
	}
	feedUp := func() bool { return !b.feed.down.Load() }
	waitChange := func(c uint64, what string) {
		t.Helper()
		waitFor(func() bool { return b.Changes() != c }, "B's count to move after "+what)
	}
	waitFor(feedUp, "B's feed")
	c := b.Changes()
	if b.Changes() != c {
		t.Fatal("the count moves with nothing written")
	}
	if err := a.PutReplica(ctx, store.Replica{ReplicaID: "r", Advertise: "a:1", StartedAt: time.Now(), LastSeen: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := a.PutSetting(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	waitChange(c, "A's write")

	// The feed's connection dies: B reconnects and follows A again.
	if _, err := a.s.writer.ExecContext(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()",
		feedApplicationName); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		waitFor(feedUp, "B's feed to come back")
		c = b.Changes()
		if err := a.PutSetting(ctx, "k", fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
		waitChange(c, "A's write after the feed was cut")
	}
}

// TestPostgresConcurrentMigrations: replicas starting together on an
// empty database all open it; one migrates, the others wait for it.
func TestPostgresConcurrentMigrations(t *testing.T) {
	dsn := pgtest.Start(t)
	const replicas = 6
	stores := make([]*PostgresStore, replicas)
	errs := make([]error, replicas)
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Go(func() { stores[i], errs[i] = OpenPostgres(t.Context(), dsn, testLogger(t)) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
			continue
		}
		v, err := stores[i].SchemaVersion(t.Context())
		if err != nil || v != latestPostgresVersion(t) {
			t.Errorf("replica %d: schema version %d, %v", i, v, err)
		}
		stores[i].Close()
	}
	var n int
	s := openPG(t, dsn)
	if err := s.s.reader.QueryRowContext(t.Context(), "SELECT count(*) FROM schema_migrations").Scan(&n); err != nil {
		t.Fatal(err)
	}
	// One row per migration file (numbers may skip one not merged yet).
	if ms, _ := loadMigrations(postgresDialect{}.migrations()); n != len(ms) {
		t.Errorf("schema_migrations has %d rows, want %d", n, len(ms))
	}
}

func latestPostgresVersion(t testing.TB) int {
	ms, err := loadMigrations(postgresDialect{}.migrations())
	if err != nil || len(ms) == 0 {
		t.Fatalf("postgres migrations: %d, %v", len(ms), err)
	}
	return ms[len(ms)-1].version
}

// TestPostgresMigrationsMatchSQLite: both dialects' migrations, applied
// from scratch, make the same tables with the same columns and the same
// explicitly named indexes, so the shared DML finds what it expects.
func TestPostgresMigrationsMatchSQLite(t *testing.T) {
	ctx := t.Context()
	lite, _ := openTemp(t, defaultSQLiteOptions())
	pg := openPG(t, pgtest.Start(t))
	if got, want := len(mustLoad(t, postgresDialect{})), len(mustLoad(t, sqliteDialect{})); got != want {
		t.Errorf("%d postgres migrations, %d sqlite ones", got, want)
	}
	rows := func(db *sql.DB, query string) []string {
		t.Helper()
		r, err := db.QueryContext(ctx, query)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		var out []string
		for r.Next() {
			var a, b string
			if err := r.Scan(&a, &b); err != nil {
				t.Fatal(err)
			}
			out = append(out, a+"."+b)
		}
		if err := r.Err(); err != nil {
			t.Fatal(err)
		}
		slices.Sort(out)
		return out
	}
	liteCols := rows(lite.reader, `SELECT m.name, p.name FROM sqlite_schema m, pragma_table_info(m.name) p
		WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'`)
	pgCols := rows(pg.s.reader, `SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()`)
	// The one deliberate difference: PostgreSQL's 0033 keeps
	// open_tunnels.opened_at (nullable, unwritten) for replicas of an older
	// version still running during a rolling upgrade; SQLite's drops it.
	pgCols = slices.DeleteFunc(pgCols, func(c string) bool { return c == "open_tunnels.opened_at" })
	if !slices.Equal(liteCols, pgCols) {
		t.Errorf("columns differ:\n sqlite only: %v\n postgres only: %v", minus(liteCols, pgCols), minus(pgCols, liteCols))
	}
	liteIdx := rows(lite.reader, `SELECT tbl_name, name FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL`)
	pgIdx := rows(pg.s.reader, `SELECT i.tablename, i.indexname FROM pg_indexes i WHERE i.schemaname = current_schema()
		AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)`)
	if !slices.Equal(liteIdx, pgIdx) {
		t.Errorf("indexes differ:\n sqlite only: %v\n postgres only: %v", minus(liteIdx, pgIdx), minus(pgIdx, liteIdx))
	}
}

func mustLoad(t *testing.T, d dialect) []migration {
	ms, err := loadMigrations(d.migrations())
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// minus is a without the elements of b.
func minus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// TestPostgresErrorClassification: constraint violations and transaction
// aborts are told apart by SQLSTATE.
func TestPostgresErrorClassification(t *testing.T) {
	ctx := t.Context()
	s := openPG(t, pgtest.Start(t)).s
	_, err := s.writer.ExecContext(ctx, "INSERT INTO access_keys (access_key_id, user_id, secret_sealed, status, create_date)"+
		" VALUES ('AKIA1', 'AIDA-missing', '\\x00', 'Active', 0)")
	if s.d.classify(err) != errForeignKey || !errors.Is(s.classified(err), store.ErrNotFound) {
		t.Errorf("insert with a missing parent: %v (class %d)", err, s.d.classify(err))
	}
	if err := s.PutSetting(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	_, err = s.writer.ExecContext(ctx, "INSERT INTO settings (name, value) VALUES ('k', 'w')")
	if s.d.classify(err) != errUnique || !errors.Is(s.classified(err), store.ErrConflict) {
		t.Errorf("duplicate key: %v (class %d)", err, s.d.classify(err))
	}
	_, err = s.writer.ExecContext(ctx, "DO $$ BEGIN RAISE EXCEPTION 'x' USING ERRCODE = 'serialization_failure'; END $$")
	if s.d.classify(fmt.Errorf("wrapped: %w", err)) != errRetry {
		t.Errorf("serialization failure: %v (class %d)", err, s.d.classify(err))
	}
}

// TestPostgresRetriesSerializationFailures: a transaction aborted as a
// serialization failure runs again, and only the last attempt's writes
// stay; one that keeps failing gives up after maxTxAttempts.
func TestPostgresRetriesSerializationFailures(t *testing.T) {
	ctx := t.Context()
	s := openPG(t, pgtest.Start(t)).s
	fail := "DO $$ BEGIN RAISE EXCEPTION 'injected' USING ERRCODE = 'serialization_failure'; END $$"
	attempts := 0
	err := s.InTx(ctx, func(tx store.Repo) error {
		attempts++
		if err := tx.PutSetting(ctx, "attempt", fmt.Sprint(attempts)); err != nil {
			return err
		}
		if attempts < 3 {
			// As a caller might: the error is turned into another one
			// that does not wrap it.
			if _, err := tx.(*repo).tx.ExecContext(ctx, fail); err != nil {
				return errors.New("something failed")
			}
		}
		return nil
	})
	if err != nil || attempts != 3 {
		t.Fatalf("InTx = %v after %d attempts, want success on the third", err, attempts)
	}
	if v, _ := s.GetSetting(ctx, "attempt"); v != "3" {
		t.Errorf("attempt = %q, want the third attempt's write", v)
	}

	attempts = 0
	err = s.InTx(ctx, func(tx store.Repo) error {
		attempts++
		_, err := tx.(*repo).tx.ExecContext(ctx, fail)
		return err
	})
	if s.d.classify(err) != errRetry || attempts != maxTxAttempts {
		t.Errorf("InTx = %v after %d attempts, want the serialization failure after %d", err, attempts, maxTxAttempts)
	}
}

// TestPostgresFailedWriteInTxLeavesTxUsable: as with SQLite, a write that
// fails inside InTx (here a duplicate user) does not abort the
// transaction; the caller may go on and commit.
func TestPostgresFailedWriteInTxLeavesTxUsable(t *testing.T) {
	ctx := t.Context()
	s := openPG(t, pgtest.Start(t))
	u := store.User{UserID: "AIDA1", UserName: "bob", Path: "/", ARN: "arn:aws:iam::123456789012:user/bob"}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	err := s.InTx(ctx, func(tx store.Repo) error {
		dup := u
		dup.UserID = "AIDA2"
		if err := tx.CreateUser(ctx, dup); !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("duplicate user: %v", err)
		}
		return tx.PutSetting(ctx, "after", "yes")
	})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := s.GetSetting(ctx, "after"); err != nil || v != "yes" {
		t.Errorf("setting written after the failed write: %q, %v", v, err)
	}
}

// TestPostgresOpenErrors: a bad DSN or an unreachable server is an error
// that does not show the password.
func TestPostgresOpenErrors(t *testing.T) {
	dir := t.TempDir()
	for _, dsn := range []string{
		"postgres://u:s3cret@/db?host=" + filepath.Join(dir, "nowhere") + "&connect_timeout=1",
		"postgres://u:s3cret@host:notaport/db",
	} {
		s, err := OpenPostgres(t.Context(), dsn, nil)
		if err == nil {
			s.Close()
			t.Errorf("OpenPostgres(%q) succeeded", dsn)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("the error shows the password: %v", err)
		}
	}
}

// TestPostgresStoreInsideInTxFailsInsteadOfHanging: like SQLite, a write
// through the Store inside its own InTx with every write connection taken
// gives up after the busy timeout rather than hanging.
func TestPostgresStoreInsideInTxFailsInsteadOfHanging(t *testing.T) {
	ctx := context.Background()
	s, _, err := openPostgres(ctx, pgtest.Start(t), testLogger(t), postgresOptions{writers: 1, readers: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.writeWait = 200 * time.Millisecond
	err = s.InTx(ctx, func(store.Repo) error { return s.PutSetting(ctx, "k", "v") })
	if err == nil || !strings.Contains(err.Error(), "no write connection free") {
		t.Errorf("write through the Store inside InTx: %v", err)
	}
}
