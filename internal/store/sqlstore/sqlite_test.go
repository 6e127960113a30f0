package sqlstore

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/store/storetest"
)

// testLogger sends the store's log to the test log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tlogWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tlogWriter struct{ t testing.TB }

func (w tlogWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// openTemp opens a fresh database in t.TempDir and closes it at cleanup.
func openTemp(t testing.TB, o sqliteOptions) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "postern.db")
	var logger *slog.Logger
	if _, bench := t.(*testing.B); !bench {
		logger = testLogger(t)
	}
	s, err := openSQLite(t.Context(), path, logger, o)
	if err != nil {
		t.Fatalf("openSQLite: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s, path
}

func TestSQLiteConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		path := filepath.Join(t.TempDir(), "postern.db")
		s, err := OpenSQLite(t.Context(), path, testLogger(t))
		if err != nil {
			t.Fatalf("OpenSQLite: %v", err)
		}
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	})
}

func latestVersion(t testing.TB) int {
	ms, err := loadMigrations(sqliteDialect{}.migrations())
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 {
		t.Fatal("no sqlite migrations embedded")
	}
	return ms[len(ms)-1].version
}

func TestMigrationsFromEmpty(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "postern.db")
	var logs bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))

	s, err := OpenSQLite(ctx, path, logger)
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.SchemaVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := latestVersion(t); v != want {
		t.Errorf("SchemaVersion = %d, want %d", v, want)
	}
	var rows int
	if err := s.reader.QueryRowContext(ctx, "SELECT count(*) FROM schema_migrations").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if ms, _ := loadMigrations(sqliteDialect{}.migrations()); rows != len(ms) {
		t.Errorf("schema_migrations has %d rows, want %d", rows, len(ms))
	}
	var appliedAt int64
	if err := s.reader.QueryRowContext(ctx, "SELECT applied_at FROM schema_migrations WHERE version = 1").Scan(&appliedAt); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"settings", "users", "user_tags", "access_keys", "groups", "group_members",
		"roles", "role_tags", "inline_policies", "managed_policies", "policy_attachments", "sessions",
		"vpcs", "subnets", "security_groups", "security_group_rules", "instances", "instance_security_groups",
		"endpoints", "endpoint_security_groups", "endpoint_network_interfaces", "resource_tags", "client_tokens",
		"change_counters", "pushed_keys", "replicas", "agents", "join_tokens", "presign_uses", "events"} {
		var n int
		if err := s.reader.QueryRowContext(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			t.Errorf("table %s: %v", table, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if !strings.Contains(logs.String(), "applied migration") {
		t.Errorf("first open logged no migration:\n%s", logs.String())
	}
	logs.Reset()
	mu.Unlock()

	// Reopening is a no-op.
	s, err = OpenSQLite(ctx, path, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mu.Lock()
	if strings.Contains(logs.String(), "applied migration") {
		t.Errorf("reopen applied migrations again:\n%s", logs.String())
	}
	mu.Unlock()
	var again int64
	if err := s.reader.QueryRowContext(ctx, "SELECT applied_at FROM schema_migrations WHERE version = 1").Scan(&again); err != nil {
		t.Fatal(err)
	}
	if again != appliedAt {
		t.Errorf("applied_at changed on reopen: %d -> %d", appliedAt, again)
	}
	if v2, _ := s.SchemaVersion(ctx); v2 != v {
		t.Errorf("SchemaVersion after reopen = %d, want %d", v2, v)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func TestMigrationsRefuseNewerDatabase(t *testing.T) {
	ctx := t.Context()
	s, path := openTemp(t, defaultSQLiteOptions())
	if _, err := s.writer.ExecContext(ctx,
		"INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, '9999_future.sql', 0)"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenSQLite(ctx, path, testLogger(t)); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("OpenSQLite of a database from the future: err = %v, want a 'newer' error", err)
	}
}

func TestMigrationsAreAtomic(t *testing.T) {
	// A failing migration leaves no trace: run a broken set against a
	// fresh database through the same code path.
	ctx := t.Context()
	s, _ := openTemp(t, defaultSQLiteOptions())
	s.d = brokenDialect{sqliteDialect{}}
	err := s.migrate(ctx)
	if err == nil {
		t.Fatal("migrate with a broken migration succeeded")
	}
	var n int
	if err := s.reader.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema WHERE name = 'half_done'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Error("the table created before the failing statement survived")
	}
	if v, _ := s.SchemaVersion(ctx); v != latestVersion(t) {
		t.Errorf("SchemaVersion = %d after a failed migration", v)
	}
}

type brokenDialect struct{ sqliteDialect }

func (brokenDialect) migrations() fs.FS {
	return fstest.MapFS{
		"0001_init.sql":   {Data: []byte("SELECT 1")},
		"9000_broken.sql": {Data: []byte("CREATE TABLE half_done (x INTEGER); THIS IS NOT SQL;")},
	}
}

func TestReopenKeepsData(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "postern.db")
	s, err := OpenSQLite(ctx, path, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	created := time.Date(2025, 1, 2, 3, 4, 5, 678_901_000, time.UTC) // microseconds survive too
	u := store.User{UserID: "AIDAAAAAAAAAAAAAAAAA1", UserName: "Alice", Path: "/eng/",
		ARN: "arn:aws:iam::123456789012:user/eng/Alice", CreateDate: created,
		Tags: []store.Tag{{Key: "b", Value: "2"}, {Key: "a", Value: "1"}}}
	k := store.AccessKey{AccessKeyID: "AKIAAAAAAAAAAAAAAAA1", UserName: "alice",
		SecretSealed: []byte{0, 1, 2, 0xff}, Status: store.KeyActive, CreateDate: created}
	g := store.Group{GroupID: "AGPAAAAAAAAAAAAAAAAA1", GroupName: "Devs", Path: "/",
		ARN: "arn:aws:iam::123456789012:group/Devs", CreateDate: created}
	r := store.Role{RoleID: "AROAAAAAAAAAAAAAAAAA1", RoleName: "Ops", Path: "/",
		ARN: "arn:aws:iam::123456789012:role/Ops", AssumeRolePolicyDocument: "{}",
		MaxSessionDuration: 7200, CreateDate: created}
	p := store.ManagedPolicy{PolicyID: "ANPAAAAAAAAAAAAAAAAA1", PolicyName: "Tunnel", Path: "/",
		ARN: "arn:aws:iam::123456789012:policy/Tunnel", Document: "{}", DefaultVersionID: "v1",
		CreateDate: created, UpdateDate: created}
	sess := store.Session{AccessKeyID: "ASIAAAAAAAAAAAAAAAA1", SecretSealed: []byte{9, 0, 9},
		SessionTokenHash: bytes.Repeat([]byte{0xab}, 32), RoleName: "Ops", RoleARN: r.ARN, RoleID: r.RoleID,
		SessionName: "s", Expiration: created.Add(time.Hour), CreateDate: created}
	err = s.InTx(ctx, func(tx store.Repo) error {
		return errors.Join(
			tx.PutSetting(ctx, "account_id", "123456789012"),
			tx.CreateUser(ctx, u),
			tx.CreateAccessKey(ctx, k),
			tx.CreateGroup(ctx, g),
			tx.AddUserToGroup(ctx, "devs", "alice"),
			tx.CreateRole(ctx, r),
			tx.CreateManagedPolicy(ctx, p),
			tx.AttachPolicy(ctx, store.PrincipalRef{Kind: store.KindRole, Name: "ops"}, p.ARN),
			tx.PutInlinePolicy(ctx, store.InlinePolicy{Owner: store.PrincipalRef{Kind: store.KindUser, Name: "alice"},
				PolicyName: "inline", Document: `{"x":1}`}),
			tx.CreateSession(ctx, sess),
		)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = OpenSQLite(ctx, path, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("after reopen, %s: %v", what, err)
		}
	}
	v, err := s.GetSetting(ctx, "account_id")
	check("GetSetting", err)
	if v != "123456789012" {
		t.Errorf("account_id = %q", v)
	}
	gotU, err := s.GetUser(ctx, "alice")
	check("GetUser", err)
	if gotU.UserName != "Alice" || !gotU.CreateDate.Equal(created) || len(gotU.Tags) != 2 || gotU.Tags[0].Key != "b" {
		t.Errorf("user = %+v", gotU)
	}
	gotK, err := s.GetAccessKey(ctx, k.AccessKeyID)
	check("GetAccessKey", err)
	if !bytes.Equal(gotK.SecretSealed, k.SecretSealed) || gotK.UserName != "Alice" {
		t.Errorf("access key = %+v", gotK)
	}
	members, err := s.ListGroupMembers(ctx, "Devs")
	check("ListGroupMembers", err)
	if len(members) != 1 {
		t.Errorf("members = %v", members)
	}
	gotR, err := s.GetRole(ctx, "OPS")
	check("GetRole", err)
	if gotR.MaxSessionDuration != 7200 {
		t.Errorf("role = %+v", gotR)
	}
	gotP, err := s.GetManagedPolicy(ctx, p.ARN)
	check("GetManagedPolicy", err)
	if gotP.AttachmentCount != 1 {
		t.Errorf("policy = %+v", gotP)
	}
	_, err = s.GetInlinePolicy(ctx, store.PrincipalRef{Kind: store.KindUser, Name: "ALICE"}, "inline")
	check("GetInlinePolicy", err)
	gotS, err := s.GetSession(ctx, sess.AccessKeyID)
	check("GetSession", err)
	if !bytes.Equal(gotS.SessionTokenHash, sess.SessionTokenHash) || !gotS.Expiration.Equal(sess.Expiration) {
		t.Errorf("session = %+v", gotS)
	}
}

func TestPragmas(t *testing.T) {
	ctx := t.Context()
	s, _ := openTemp(t, defaultSQLiteOptions())
	pragma := func(db *sql.DB, name string) string {
		var v string
		if err := db.QueryRowContext(ctx, "PRAGMA "+name).Scan(&v); err != nil {
			t.Fatalf("PRAGMA %s: %v", name, err)
		}
		return v
	}
	for name, want := range map[string]string{
		"journal_mode": "wal",
		"foreign_keys": "1",
		"synchronous":  "2", // FULL
		"busy_timeout": "10000",
	} {
		if got := pragma(s.writer, name); got != want {
			t.Errorf("writer PRAGMA %s = %s, want %s", name, got, want)
		}
	}
	if got := pragma(s.reader, "query_only"); got != "1" {
		t.Errorf("reader PRAGMA query_only = %s, want 1", got)
	}
	if _, err := s.reader.ExecContext(ctx, "DELETE FROM users"); err == nil {
		t.Error("the read pool accepted a write")
	}
}

func TestOpenRejectsNonFiles(t *testing.T) {
	for _, path := range []string{"", ":memory:", "file::memory:?cache=shared"} {
		if s, err := OpenSQLite(t.Context(), path, nil); err == nil {
			s.Close()
			t.Errorf("OpenSQLite(%q) succeeded", path)
		}
	}
}

func TestOpenOddPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a dir with spaces & 100%")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "db?#x.sqlite")
	s, err := OpenSQLite(t.Context(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutSetting(t.Context(), "k", "v"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database not at the path given: %v", err)
	}
}

func TestErrorMessages(t *testing.T) {
	ctx := t.Context()
	s, _ := openTemp(t, defaultSQLiteOptions())
	u := store.User{UserID: "AIDA1", UserName: "bob", Path: "/", ARN: "arn"}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	u.UserID = "AIDA2"
	err := s.CreateUser(ctx, u)
	if !errors.Is(err, store.ErrConflict) || !strings.HasPrefix(err.Error(), `sqlstore: create user "bob": store: already exists`) {
		t.Errorf("conflict error = %v", err)
	}
	_, err = s.GetUser(ctx, "carol")
	if !errors.Is(err, store.ErrNotFound) || err.Error() != `sqlstore: get user "carol": store: not found` {
		t.Errorf("not-found error = %v", err)
	}
	if err := s.CreateAccessKey(ctx, store.AccessKey{AccessKeyID: "AKIA1", UserName: "bob", Status: "Active"}); err != nil {
		t.Fatal(err)
	}
	err = s.DeleteUser(ctx, "bob")
	if !errors.Is(err, store.ErrInUse) || !strings.Contains(err.Error(), "1 access key(s)") {
		t.Errorf("in-use error = %v", err)
	}
	err = s.UpdateAccessKeyStatus(ctx, "AKIA1", "Bogus")
	if err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("invalid status error = %v", err)
	}
	err = s.PutInlinePolicy(ctx, store.InlinePolicy{Owner: store.PrincipalRef{Kind: "alien", Name: "x"}, PolicyName: "p"})
	if err == nil || !strings.Contains(err.Error(), "unknown principal kind") {
		t.Errorf("unknown kind error = %v", err)
	}
}

// TestForeignKeyClassification checks the backstop that catches what the
// explicit existence and dependency checks would miss: the database's own
// constraint errors map onto the sentinels.
func TestForeignKeyClassification(t *testing.T) {
	ctx := t.Context()
	s, _ := openTemp(t, defaultSQLiteOptions())
	_, err := s.writer.ExecContext(ctx, s.q.insertAccessKey, "AKIA1", "AIDA-missing", []byte{1}, "Active", 0)
	if s.d.classify(err) != errForeignKey || !errors.Is(s.classified(err), store.ErrNotFound) {
		t.Errorf("insert with a missing parent: %v (class %d)", err, s.d.classify(err))
	}
	if _, err := s.writer.ExecContext(ctx, s.q.insertUser, "AIDA1", "bob", "bob", "/", "arn", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.writer.ExecContext(ctx, s.q.insertAccessKey, "AKIA1", "AIDA1", []byte{1}, "Active", 0); err != nil {
		t.Fatal(err)
	}
	_, err = s.writer.ExecContext(ctx, s.q.deleteUser, "AIDA1")
	if !errors.Is(s.classifiedFK(err, store.ErrInUse), store.ErrInUse) {
		t.Errorf("delete of a parent: %v", err)
	}
	_, err = s.writer.ExecContext(ctx, s.q.insertUser, "AIDA2", "Bob", "bob", "/", "arn", 0)
	if s.d.classify(err) != errUnique || !errors.Is(s.classified(err), store.ErrConflict) {
		t.Errorf("duplicate name key: %v", err)
	}
}

func TestStoreInsideInTxFailsInsteadOfHanging(t *testing.T) {
	ctx := t.Context()
	s, _ := openTemp(t, defaultSQLiteOptions())
	s.writeWait = 200 * time.Millisecond
	err := s.InTx(ctx, func(tx store.Repo) error {
		// Wrong: the Store, not tx. Must not deadlock.
		return s.PutSetting(ctx, "k", "v")
	})
	// The wait it gave up after is writeWait's (the error names it), not
	// a longer one: checked by the error, not by the clock (a starved CI
	// machine under -race may take seconds over 200 ms).
	if err == nil || !strings.Contains(err.Error(), "InTx") || !strings.Contains(err.Error(), "after 200ms") {
		t.Errorf("err = %v, want a hint at InTx misuse after writeWait (200ms)", err)
	}
	// Reads through the Store inside InTx work (they use the read pool).
	err = s.InTx(ctx, func(tx store.Repo) error {
		_, err := s.GetSetting(ctx, "nope")
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		t.Error(err)
	}
}

func TestRebindDollar(t *testing.T) {
	for in, want := range map[string]string{
		"SELECT 1":                             "SELECT 1",
		"a = ? AND b = ?":                      "a = $1 AND b = $2",
		"x = '?' AND y = ? -- why?\nAND z = ?": "x = '?' AND y = $1 -- why?\nAND z = $2",
		`"we?ird" = ? AND substr(p, 1, ?) = ?`: `"we?ird" = $1 AND substr(p, 1, $2) = $3`,
	} {
		if got := rebindDollar(in); got != want {
			t.Errorf("rebindDollar(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestQueriesRebindForPostgres(t *testing.T) {
	// Every statement must survive the PostgreSQL rewriting: no '?' left.
	q := newQueries(dollarDialect{sqliteDialect{}})
	check := func(name, stmt string) {
		if strings.Contains(stmt, "?") {
			t.Errorf("%s still has '?': %s", name, stmt)
		}
	}
	check("listUsers", q.listUsers)
	check("putSetting", q.putSetting)
	for kind, oq := range q.owners {
		check(string(kind)+" putInline", oq.putInline)
		check(string(kind)+" attach", oq.attach)
	}
	if !strings.Contains(q.listUsers, "substr(u.path, 1, $1) = $2") {
		t.Errorf("listUsers = %s", q.listUsers)
	}
}

type dollarDialect struct{ sqliteDialect }

func (dollarDialect) rebind(q string) string { return rebindDollar(q) }

func TestConcurrentWritersNoBusy(t *testing.T) {
	// Hammer the writer from many goroutines, mixing single writes and
	// transactions; nothing may fail with SQLITE_BUSY.
	ctx := t.Context()
	s, _ := openTemp(t, defaultSQLiteOptions())
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				name := fmt.Sprintf("u%d-%d", w, i)
				var err error
				if i%2 == 0 {
					err = s.CreateUser(ctx, store.User{UserID: "AIDA" + name, UserName: name, Path: "/"})
				} else {
					err = s.InTx(ctx, func(tx store.Repo) error {
						if err := tx.CreateUser(ctx, store.User{UserID: "AIDA" + name, UserName: name, Path: "/"}); err != nil {
							return err
						}
						return tx.CreateAccessKey(ctx, store.AccessKey{AccessKeyID: "AKIA" + name, UserName: name, Status: store.KeyActive})
					})
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("writer: %v (class %d)", err, s.d.classify(err))
	}
}

func TestDatabaseFileIsPrivate(t *testing.T) {
	_, path := openTemp(t, defaultSQLiteOptions())
	for _, p := range []string{path, path + "-wal"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s has mode %v, want no group or other access", filepath.Base(p), perm)
		}
	}
}
