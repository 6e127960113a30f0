package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
)

// unsyncedHelperEnv makes TestUnsyncedCrashHelper, in a child process,
// append an event without waiting for the disk and then kill itself.
const unsyncedHelperEnv = "POSTERN_SQLSTORE_UNSYNCED_DB"

// A record appended with AppendEventsUnsynced is readable at once, the
// write-ahead log is synced within UnsyncedWindow, later transactions
// on the connection commit with synchronous=FULL again, and a crash of
// the process right after the append (SIGKILL, no Close) loses nothing.
func TestAppendEventsUnsynced(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t, defaultSQLiteOptions())
	synced := make(chan error, 8)
	s.unsynced.onSync = func(err error) { synced <- err }
	ev := store.Event{EventID: "ev-unsynced-1", EventTime: time.Now(), EventSource: "sts.amazonaws.com", EventName: "GetCallerIdentity",
		ReadOnly: true, Body: `{"eventID":"ev-unsynced-1"}`}
	if err := s.AppendEventsUnsynced(ctx, []store.Event{ev}); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListEvents(ctx, store.EventQuery{EventID: ev.EventID, Limit: 10})
	if err != nil || len(got) != 1 {
		t.Fatalf("ListEvents: %v, %v", got, err)
	}
	select {
	case err := <-synced:
		if err != nil {
			t.Fatalf("syncing the log: %v", err)
		}
	case <-time.After(time.Minute): // a guard against a hang, not a measurement
		t.Fatal("the log was never synced")
	}
	conn, release, err := s.writeConn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var mode int
	err = conn.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&mode)
	release()
	if err != nil || mode != 2 {
		t.Fatalf("the writer's synchronous is %d (%v), want 2 (FULL)", mode, err)
	}

	// A crash right after the append.
	s2, out := reopenAfterCrash(t, "TestUnsyncedCrashHelper", unsyncedHelperEnv)
	got, err = s2.ListEvents(ctx, store.EventQuery{EventID: "ev-crash", Limit: 10})
	if err != nil || len(got) != 1 {
		t.Fatalf("after the crash: %v, %v\nhelper:\n%s", got, err, out)
	}
}

// TestUnsyncedCrashHelper is the child process of TestAppendEventsUnsynced:
// without its environment variable it has nothing to do.
func TestUnsyncedCrashHelper(t *testing.T) {
	path := os.Getenv(unsyncedHelperEnv)
	if path == "" {
		return
	}
	s, err := OpenSQLite(context.Background(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	ev := store.Event{EventID: "ev-crash", EventTime: time.Now(), EventSource: "sts.amazonaws.com", EventName: "GetCallerIdentity",
		ReadOnly: true, Body: `{"eventID":"ev-crash"}`}
	if err := s.AppendEventsUnsynced(context.Background(), []store.Event{ev}); err != nil {
		t.Fatal(err)
	}
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // the signal ends the process
}

// TestUnsyncedConnection: unsynced commits run with synchronous=NORMAL
// while durable ones run with FULL (with the defaults on the writer's one
// connection, switched per transaction: TestSA18DurableCommitIsFullAfterAFailure;
// otherwise on a connection of their own), and they take turns (the
// writer's queue): an unsynced append waits while the writer connection
// is taken, instead of racing it for SQLite's write lock, and goes
// through once it is free.
func TestUnsyncedConnection(t *testing.T) {
	ctx := t.Context()
	s, _ := openTemp(t, directOptions()) // the caller's own commit, as without the record journal
	for _, c := range []struct {
		name string
		db   interface {
			QueryRowContext(context.Context, string, ...any) *sql.Row
		}
		want int
	}{{"unsynced", s.unsynced.db, 1}, {"writer", s.writer, 2}} {
		if c.name == "unsynced" && s.unsynced.db == s.writer {
			continue // one connection, switched per transaction
		}
		var mode int
		if err := c.db.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&mode); err != nil || mode != c.want {
			t.Errorf("%s connection: synchronous %d (%v), want %d", c.name, mode, err, c.want)
		}
	}
	conn, release, err := s.writeConn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ev := store.Event{EventID: "ev-turns", EventTime: time.Now(), EventSource: "sts.amazonaws.com", EventName: "GetCallerIdentity",
		ReadOnly: true, Body: `{"eventID":"ev-turns"}`}
	// While the writer is held the append waits for its turn: with a
	// deadline it gives up, and stores nothing. (Without the shared
	// queue it would commit at once: the writer holds no transaction.)
	wctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	err = s.AppendEventsUnsynced(wctx, []store.Event{ev})
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("an unsynced append while the writer was held: %v, want it to wait for the writer", err)
	}
	var n int
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM events").Scan(&n); err != nil || n != 0 {
		t.Errorf("while the writer was held: %d records (%v)", n, err)
	}
	release()
	if err := s.AppendEventsUnsynced(ctx, []store.Event{ev}); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListEvents(ctx, store.EventQuery{EventID: ev.EventID, Limit: 2})
	if err != nil || len(got) != 1 {
		t.Errorf("after the writer was free: %v, %v", got, err)
	}
}

// reopenAfterCrash runs the test binary's helper test, which writes to a
// fresh database at the path its environment variable env names and then
// kills itself (SIGKILL, in the middle of nothing the Store could finish),
// and opens that database. It returns the Store (closed at cleanup) and
// the helper's output.
func reopenAfterCrash(t *testing.T, helper, env string) (*Store, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "crash.db")
	cmd := exec.Command(os.Args[0], "-test.run=^"+helper+"$")
	cmd.Env = append(os.Environ(), env+"="+path)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("the helper did not die by SIGKILL: %v\n%s", err, out)
	}
	s, err := OpenSQLite(t.Context(), path, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, out
}
