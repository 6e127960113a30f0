package sqlstore

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	sqlite3 "modernc.org/sqlite/lib"

	"github.com/postern/postern/internal/store"
)

// ra18Logs records what a Store logs (and passes it on to the test's log).
type ra18Logs struct {
	t  *testing.T
	mu sync.Mutex
	// errs holds the messages logged at Error.
	errs []string
}

func (l *ra18Logs) Enabled(context.Context, slog.Level) bool { return true }
func (l *ra18Logs) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *ra18Logs) WithGroup(string) slog.Handler            { return l }
func (l *ra18Logs) Handle(_ context.Context, r slog.Record) error {
	msg := r.Message
	r.Attrs(func(a slog.Attr) bool { msg += " " + a.String(); return true })
	l.t.Log(r.Level, msg)
	if r.Level >= slog.LevelError {
		l.mu.Lock()
		l.errs = append(l.errs, msg)
		l.mu.Unlock()
	}
	return nil
}

func (l *ra18Logs) errors() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.errs...)
}

// ra18FailLogSync makes the Store's next sync of the write-ahead log fail
// (its path made /dev/null, whose fsync fails with EINVAL; or, with
// openFails, a path that cannot be opened: ENOTDIR), runs it, and puts the
// path back.
func ra18FailLogSync(t *testing.T, s *Store, path string, openFails bool) {
	t.Helper()
	var got []error
	s.unsynced.mu.Lock()
	real := s.unsynced.walPath
	s.unsynced.walPath = "/dev/null"
	if openFails {
		s.unsynced.walPath = filepath.Join(path, "not-a-directory")
	}
	s.unsynced.onSync = func(err error) { got = append(got, err) }
	s.unsynced.mu.Unlock()
	s.syncLog()
	s.unsynced.mu.Lock()
	s.unsynced.walPath, s.unsynced.onSync = real, nil
	s.unsynced.mu.Unlock()
	if len(got) != 1 || got[0] == nil {
		t.Fatalf("the injected failure did not fail the sync of the log: %v", got)
	}
}

// After a failed sync of the write-ahead log the Store answers no durable
// commit "on disk" again: Linux marks the pages it could not write clean,
// so a later fsync (the next FULL commit's, the Store's next sync) returns
// 0 although the unsynced commits' frames never reached the disk, and the
// log's checksum chain runs through them: recovery after a power loss
// would drop every later frame, the durable commits answered meanwhile
// included. As PostgreSQL does since "fsyncgate": every later durable
// commit (AppendEvents, the durable group's writes, writer transactions)
// fails with an error that names the failed sync, stores nothing, and the
// Store says so once at Error, until the database is opened again. A sync
// that succeeds later changes nothing (its 0 proves nothing). Unsynced
// commits go on.
func TestRA18NoDurableCommitAfterAFailedLogSync(t *testing.T) {
	for _, tc := range []struct {
		name string
		tune func(*sqliteOptions)
	}{
		{"full, one writer (one switched connection)", func(*sqliteOptions) {}},
		{"full, two writers (an unsynced connection of its own)", func(o *sqliteOptions) { o.writers = 2 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			path := filepath.Join(t.TempDir(), "postern.db")
			logs := &ra18Logs{t: t}
			o := directOptions()
			tc.tune(&o)
			s, err := openSQLite(ctx, path, slog.New(logs), o)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { s.Close() }()
			s.unsynced.window = time.Hour // the test runs the syncs itself

			if _, _, err := s.RecordPresignUseUnsynced(ctx, presignUse("ra18-before")); err != nil {
				t.Fatal(err)
			}
			ra18FailLogSync(t, s, path, false)
			errsAtFailure := len(logs.errors())

			durable := []struct {
				name string
				run  func(i int) error
			}{
				{"AppendEvents (an OpenTunnel record)", func(int) error {
					return s.AppendEvents(ctx, []store.Event{openEvent("ev-ra18-open", "tnl-ra18")})
				}},
				{"a quiet write (durable group)", func(i int) error {
					return s.groupWrite(ctx, func(q querier) error { return insertEvent(q, gcEvent("ev-ra18-group")) })
				}},
				{"a writer transaction (InTx)", func(int) error {
					return s.CreateAgent(ctx, store.Agent{AgentID: "eni-ra18", EndpointID: "eice-1", Name: "a",
						KeyFingerprint: "fp", CreatedAt: time.Now()})
				}},
			}
			for round := range 2 {
				for _, d := range durable {
					err := d.run(round)
					if err == nil {
						t.Fatalf("round %d: %s after a failed sync of the log answered nil (durable)", round, d.name)
					}
					if !strings.Contains(err.Error(), "sync") {
						t.Errorf("round %d: %s: the error does not name the failed sync: %v", round, d.name, err)
					}
				}
				// The unsynced commits go on.
				if err := s.AppendEventsUnsynced(ctx, []store.Event{oneEvent(round)}); err != nil {
					t.Fatalf("round %d: unsynced commit: %v", round, err)
				}
				// A later sync that succeeds proves nothing: still refused.
				s.syncLog()
			}
			for _, id := range []string{"ev-ra18-open", "ev-ra18-group"} {
				if got, err := s.ListEvents(ctx, store.EventQuery{EventID: id, Limit: 2}); err != nil || len(got) != 0 {
					t.Errorf("%s stored though its commit was refused: %d, %v", id, len(got), err)
				}
			}
			if _, err := s.GetAgent(ctx, "eni-ra18"); err == nil {
				t.Error("the agent was stored though its commit was refused")
			}
			if n := len(logs.errors()) - errsAtFailure; n > 1 {
				t.Errorf("%d more errors logged after the failed sync, want it said once:\n%s", n, strings.Join(logs.errors(), "\n"))
			}

			// Opened again (SQLite's recovery reads the log back from the
			// disk): durable commits again.
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s, err = openSQLite(ctx, path, slog.New(logs), o)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.AppendEvents(ctx, []store.Event{openEvent("ev-ra18-open", "tnl-ra18")}); err != nil {
				t.Fatalf("AppendEvents after reopening: %v", err)
			}
			if _, isFirst, err := s.RecordPresignUseUnsynced(ctx, presignUse("ra18-before")); err != nil || isFirst {
				t.Fatalf("the guard row of before the failure: first %v, %v", isFirst, err)
			}
		})
	}
}

// A sync of the log that could not even open the file (ENOTDIR here;
// EMFILE in life) wrote nothing back and marked nothing clean: the pages
// are still dirty, the next fsync writes them. Durable commits go on.
func TestRA18LogOpenFailureRefusesNothing(t *testing.T) {
	ctx := t.Context()
	s, path := openTemp(t, directOptions())
	s.unsynced.window = time.Hour
	if _, _, err := s.RecordPresignUseUnsynced(ctx, presignUse("ra18-open")); err != nil {
		t.Fatal(err)
	}
	ra18FailLogSync(t, s, path, true)
	if err := s.AppendEvents(ctx, []store.Event{openEvent("ev-ra18-open", "tnl-ra18")}); err != nil {
		t.Fatalf("AppendEvents after a sync that could not open the log: %v", err)
	}
}

// ra18CodeError is an error with SQLite's (extended) result code, as the
// driver's *sqlite.Error has.
type ra18CodeError int

func (e ra18CodeError) Error() string { return "sqlite error " + strconv.Itoa(int(e)) }
func (e ra18CodeError) Code() int     { return int(e) }

// A durable commit whose own FULL commit failed with SQLITE_IOERR_FSYNC
// (SQLite's fsync of the log) leaves the Store as a failed sync of the
// log does: the unsynced commits' frames before it may be lost, so every
// later durable commit is refused. Other failed commits (busy, a failed
// write) refuse nothing.
func TestRA18FailedFsyncOfADurableCommitRefusesTheNext(t *testing.T) {
	for _, tc := range []struct {
		code    int
		refused bool
	}{
		{sqlite3.SQLITE_IOERR_FSYNC, true},
		{sqlite3.SQLITE_IOERR_WRITE, false},
		{sqlite3.SQLITE_BUSY, false},
		{sqlite3.SQLITE_FULL, false},
	} {
		t.Run(strconv.Itoa(tc.code), func(t *testing.T) {
			ctx := t.Context()
			s, _ := openTemp(t, directOptions())
			s.unsynced.commitFailed(s, fmt.Errorf("sqlstore: commit: %w", ra18CodeError(tc.code)))
			err := s.AppendEvents(ctx, []store.Event{openEvent("ev-ra18-open", "tnl-ra18")})
			if refused := err != nil; refused != tc.refused {
				t.Fatalf("AppendEvents after a commit failed with code %d: %v, want refused %v", tc.code, err, tc.refused)
			}
			if tc.refused && !strings.Contains(err.Error(), "sync") {
				t.Errorf("the error does not name the failed sync: %v", err)
			}
		})
	}
}
