package sqlstore

import (
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/testutil/pgtest"
	"github.com/postern/postern/internal/testutil/procstat"
)

// guardHelperEnv makes TestUnsyncedGuardCrashHelper, in a child process,
// record a presigned URL's first use without waiting for the disk and
// then kill itself.
const guardHelperEnv = "POSTERN_SQLSTORE_UNSYNCED_GUARD_DB"

func presignUse(name string) store.PresignUse {
	sum := sha256.Sum256([]byte(name))
	now := time.Now().UTC().Truncate(time.Microsecond)
	return store.PresignUse{SignatureHash: sum[:], SourceIP: "192.0.2.1", FirstUsedAt: now, ExpiresAt: now.Add(time.Hour)}
}

// TestRecordPresignUseUnsynced: the replay guard's unsynced write is
// visible at once (a second use is not the first, whichever way it is
// recorded), leaves the write-ahead log unsynced (it did not wait for
// the disk), and is on disk once any later durable commit returned: the
// attempt's record (AppendEvents), another URL's durable guard write, a
// counted write transaction. A crash of the process right after it
// loses nothing.
func TestRecordPresignUseUnsynced(t *testing.T) {
	ctx := t.Context()
	s, path := openTemp(t, defaultSQLiteOptions())
	s.unsynced.window = time.Hour // only the durable commits below sync the log
	wal := path + "-wal"
	if err := s.AppendEvents(ctx, []store.Event{gcEvent("ev-warm")}); err != nil {
		t.Fatal(err)
	}
	if n := procstat.MustUnsyncedPages(t, wal); n != 0 {
		t.Fatalf("after a durable commit: %d unsynced pages of the log", n)
	}
	for i, c := range []struct {
		name    string
		durable func(i int) error
	}{
		{"the attempt's record", func(i int) error {
			return s.AppendEvents(ctx, []store.Event{gcEvent("ev-open-" + string(rune('a'+i)))})
		}},
		{"another URL's durable guard write", func(i int) error {
			_, _, err := s.RecordPresignUse(ctx, presignUse("other-"+string(rune('a'+i))))
			return err
		}},
		{"a counted write transaction", func(i int) error {
			return s.CreateAgent(ctx, store.Agent{AgentID: "eni-" + string(rune('a'+i)), EndpointID: "eice-1", Name: "a",
				KeyFingerprint: string(rune('a' + i)), CreatedAt: time.Now()})
		}},
	} {
		u := presignUse("url-" + c.name)
		first, isFirst, err := s.RecordPresignUseUnsynced(ctx, u)
		if err != nil || !isFirst || first.SourceIP != u.SourceIP || !first.FirstUsedAt.Equal(u.FirstUsedAt) {
			t.Fatalf("%s: first use: %+v, %v, %v", c.name, first, isFirst, err)
		}
		if n := procstat.MustUnsyncedPages(t, wal); n == 0 {
			t.Errorf("%s: the unsynced guard write left the log synced: it waited for the disk", c.name)
		}
		replay := u
		replay.SourceIP, replay.FirstUsedAt = "192.0.2.99", u.FirstUsedAt.Add(time.Second)
		for _, rec := range []func(context.Context, store.PresignUse) (store.PresignUse, bool, error){s.RecordPresignUseUnsynced, s.RecordPresignUse} {
			first, isFirst, err = rec(ctx, replay)
			if err != nil || isFirst || first.SourceIP != u.SourceIP {
				t.Fatalf("%s: second use: %+v, first %v, %v; want the first use's record", c.name, first, isFirst, err)
			}
		}
		if err := c.durable(i); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		for _, f := range []string{wal, path} {
			if n := procstat.MustUnsyncedPages(t, f); n != 0 {
				t.Errorf("%s: %d unsynced pages of %s after the durable commit that followed the guard's", c.name, n, filepath.Base(f))
			}
		}
	}

	// A crash right after the guard's write.
	s2, out := reopenAfterCrash(t, "TestUnsyncedGuardCrashHelper", guardHelperEnv)
	if _, isFirst, err := s2.RecordPresignUse(ctx, presignUse("crash")); err != nil || isFirst {
		t.Fatalf("after the crash the URL's use is the first again (%v, %v): the guard's write was lost\nhelper:\n%s", isFirst, err, out)
	}
}

// TestUnsyncedSyncSkippedWhenCovered: the Store's own sync of the log
// runs when an unsynced commit is not followed by a durable one, and is
// skipped (no fsync) when a durable commit (AppendEvents) came after it.
func TestUnsyncedSyncSkippedWhenCovered(t *testing.T) {
	ctx := t.Context()
	s, path := openTemp(t, defaultSQLiteOptions())
	s.unsynced.window = time.Hour // the test runs the syncs itself
	synced, skipped := 0, 0
	s.unsynced.onSync = func(err error) {
		if err != nil {
			t.Errorf("sync: %v", err)
		}
		synced++
	}
	s.unsynced.onSkip = func() { skipped++ }
	for i, c := range []struct {
		name     string
		after    func() error
		wantSync bool
	}{
		{"no durable commit after", func() error { return nil }, true},
		{"the attempt's record after", func() error { return s.AppendEvents(ctx, []store.Event{gcEvent("ev-cover")}) }, false},
		{"a read-only record only", func() error {
			if err := s.AppendEventsUnsynced(ctx, []store.Event{{EventID: "ev-ro", EventTime: time.Now(), EventName: "GetCallerIdentity", ReadOnly: true}}); err != nil {
				return err
			}
			return s.journal.drain(ctx) // its commit by the record journal
		}, true},
	} {
		if _, _, err := s.RecordPresignUseUnsynced(ctx, presignUse("cover-"+c.name)); err != nil {
			t.Fatal(err)
		}
		if err := c.after(); err != nil {
			t.Fatal(err)
		}
		synced, skipped = 0, 0
		s.syncLog()
		if got := synced == 1 && skipped == 0; got != c.wantSync || synced+skipped != 1 {
			t.Errorf("%d %s: %d syncs, %d skipped; want a sync: %v", i, c.name, synced, skipped, c.wantSync)
		}
		if n := procstat.MustUnsyncedPages(t, path+"-wal"); n != 0 {
			t.Errorf("%s: %d unsynced pages of the log after the Store's sync", c.name, n)
		}
	}
}

// TestUnsyncedGuardCrashHelper is the child process of
// TestRecordPresignUseUnsynced: without its environment variable it has
// nothing to do.
func TestUnsyncedGuardCrashHelper(t *testing.T) {
	path := os.Getenv(guardHelperEnv)
	if path == "" {
		return
	}
	s, err := OpenSQLite(context.Background(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, isFirst, err := s.RecordPresignUseUnsynced(context.Background(), presignUse("crash")); err != nil || !isFirst {
		t.Fatal(isFirst, err)
	}
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // the signal ends the process
}

// TestPostgresUnsyncedGuard: with PostgreSQL the unsynced group's
// transactions run with synchronous_commit off, the durable group's with
// the session's setting (on here; pgtest's server has it off), and a
// guard row recorded unsynced refuses a second use on another replica at
// once.
func TestPostgresUnsyncedGuard(t *testing.T) {
	ctx := t.Context()
	dsn := pgtest.Start(t) + "&synchronous_commit=on"
	a, b := openPG(t, dsn), openPG(t, dsn)
	for _, c := range []struct {
		name string
		g    *groupCommit
		want string
	}{{"unsynced group", &a.s.unsyncedGroup, "off"}, {"durable group", &a.s.group, "on"}} {
		var got string
		if err := a.s.groupWriteOn(c.g, ctx, func(q querier) error {
			return q.QueryRowContext(ctx, "SHOW synchronous_commit").Scan(&got)
		}); err != nil || got != c.want {
			t.Errorf("%s: synchronous_commit %q (%v), want %q", c.name, got, err, c.want)
		}
	}
	u := presignUse("pg-url")
	if _, isFirst, err := a.RecordPresignUseUnsynced(ctx, u); err != nil || !isFirst {
		t.Fatalf("first use: %v, %v", isFirst, err)
	}
	for _, rec := range []func(context.Context, store.PresignUse) (store.PresignUse, bool, error){b.RecordPresignUseUnsynced, b.RecordPresignUse} {
		if first, isFirst, err := rec(ctx, u); err != nil || isFirst || first.SourceIP != u.SourceIP {
			t.Fatalf("second use on another replica: %+v, first %v, %v", first, isFirst, err)
		}
	}
}

// BenchmarkGuardThenRecord: what one open at a time asks of the store
// before its first byte, the replay guard's write and then the
// OpenTunnel record (durable), with the guard's write durable (before)
// and unsynced (after).
func BenchmarkGuardThenRecord(b *testing.B) {
	for _, c := range []struct {
		name  string
		guard func(s *Store) func(context.Context, store.PresignUse) (store.PresignUse, bool, error)
	}{
		{"durable-guard", func(s *Store) func(context.Context, store.PresignUse) (store.PresignUse, bool, error) {
			return s.RecordPresignUse
		}},
		{"unsynced-guard", func(s *Store) func(context.Context, store.PresignUse) (store.PresignUse, bool, error) {
			return s.RecordPresignUseUnsynced
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			s, _ := openTemp(b, defaultSQLiteOptions())
			guard := c.guard(s)
			ctx := context.Background()
			i := 0
			for b.Loop() {
				i++
				id := "b-" + c.name + "-" + time.Now().Format(time.RFC3339Nano) + "-" + string(rune('a'+i%26))
				if _, _, err := guard(ctx, presignUse(id)); err != nil {
					b.Fatal(err)
				}
				if err := s.AppendEvents(ctx, []store.Event{gcEvent(id)}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
