package sqlstore

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/testutil/procstat"
)

// writerDataVersion is PRAGMA data_version of the writer pool's one
// connection: it moves when another connection committed.
func writerDataVersion(t *testing.T, s *Store) int64 {
	t.Helper()
	var v int64
	if err := s.writer.QueryRowContext(t.Context(), "PRAGMA data_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// closeEvent is a tunnel's CloseTunnel record (unsynced, journalled).
func closeEvent(id, tunnel string) store.Event {
	return store.Event{EventID: id, EventTime: time.Now(), EventSource: "ec2-instance-connect.amazonaws.com",
		EventName: store.EventNameCloseTunnel, TunnelID: tunnel, Body: `{"eventID":"` + id + `"}`}
}

// openEvent is a tunnel's OpenTunnel record (durable, journalled).
func openEvent(id, tunnel string) store.Event {
	e := closeEvent(id, tunnel)
	e.EventName = store.EventNameOpenTunnel
	return e
}

// With synchronous=FULL and one writer, the durable and the unsynced
// commits run on one connection: no commit of another connection comes
// between them, so the connection's page cache stays valid (PRAGMA
// data_version of the writer does not move). Before, the unsynced
// commits ran on a second connection, and every one of them moved it.
func TestSA18OneWriteConnection(t *testing.T) {
	ctx := t.Context()
	s, _ := openTemp(t, directOptions()) // read-only records commit in their caller
	if err := s.AppendEvents(ctx, []store.Event{gcEvent("ev-warm")}); err != nil {
		t.Fatal(err)
	}
	before := writerDataVersion(t, s)
	for i := range 3 {
		tunnel := "tnl-sa18-" + strconv.Itoa(i)
		if err := s.AppendEvents(ctx, []store.Event{openEvent("ev-open-"+strconv.Itoa(i), tunnel)}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.RecordPresignUseUnsynced(ctx, presignUse("sa18-"+strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
		if err := s.AppendEventsUnsynced(ctx, []store.Event{closeEvent("ev-close-"+strconv.Itoa(i), tunnel)}); err != nil {
			t.Fatal(err)
		}
		if err := s.AppendEventsUnsynced(ctx, []store.Event{oneEvent(i)}); err != nil { // one INSERT, autocommit
			t.Fatal(err)
		}
	}
	if after := writerDataVersion(t, s); after != before {
		t.Fatalf("PRAGMA data_version of the writer went from %d to %d: another connection committed between its commits", before, after)
	}
	got, err := s.ListEvents(ctx, store.EventQuery{Limit: -1})
	if err != nil || len(got) != 1+3*3 {
		t.Fatalf("stored %d records (%v), want %d", len(got), err, 1+3*3)
	}
}

// NORMAL, OFF and more than one writer keep the unsynced connection of
// their own (no switching): only FULL with one writer shares it.
func TestSA18SharedOnlyWithFullAndOneWriter(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tune   func(*sqliteOptions)
		shared bool
	}{
		{"full, one writer", func(*sqliteOptions) {}, true},
		{"normal", func(o *sqliteOptions) { o.synchronous = "NORMAL" }, false},
		{"off", func(o *sqliteOptions) { o.synchronous = "OFF" }, false},
		{"full, two writers", func(o *sqliteOptions) { o.writers = 2 }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := directOptions()
			tc.tune(&o)
			s, _ := openTemp(t, o)
			if shared := s.unsynced.db == s.writer; shared != tc.shared || (s.syncMode != nil) != tc.shared {
				t.Fatalf("unsynced connection shared with the writer: %v (switch %v), want %v", shared, s.syncMode != nil, tc.shared)
			}
			// Every kind of commit still works.
			ctx := t.Context()
			if err := s.AppendEvents(ctx, []store.Event{openEvent("ev-o", "tnl-1")}); err != nil {
				t.Fatal(err)
			}
			if err := s.AppendEventsUnsynced(ctx, []store.Event{closeEvent("ev-c", "tnl-1"), oneEvent(1)}); err != nil {
				t.Fatal(err)
			}
			if err := s.AppendEventsUnsynced(ctx, []store.Event{oneEvent(2)}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// syncInside is PRAGMA synchronous as a write transaction sees it: in a
// durable group commit (plainWriteTx), in a writer transaction
// (writeTxOnce, database/sql's), or in an unsynced group commit. The
// PRAGMA runs unprepared: SQLite computes its answer when it compiles
// it, so a prepared one (the stmtCache's) answers what was true then.
func syncInside(t *testing.T, s *Store, where string) int {
	t.Helper()
	ctx := t.Context()
	var mode int
	// A plain group transaction holds no database/sql connection: the
	// pool's one connection, free between its statements, is in it.
	read := func(q querier) error { return q.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&mode) }
	var err error
	switch where {
	case "group":
		err = s.groupWrite(ctx, func(querier) error { return read(s.group.h.db) })
	case "tx":
		err = s.writeTx(ctx, func(tx *cachedTx) error { return read(tx.Tx) })
	case "unsynced":
		err = s.groupWriteOn(&s.unsyncedGroup, ctx, func(querier) error { return read(s.unsyncedGroup.h.db) })
	default:
		t.Fatalf("no such place %q", where)
	}
	if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	return mode
}

// Whatever fails on the unsynced path after the connection was switched
// to NORMAL (its write, a panic, its context, the PRAGMA itself), the
// next durable commit runs with synchronous=FULL and leaves no page of
// the write-ahead log unsynced; a durable commit whose switch to FULL
// failed stores nothing, and the next one is FULL again.
func TestSA18DurableCommitIsFullAfterAFailure(t *testing.T) {
	errInjected := errors.New("injected")
	for _, tc := range []struct {
		name string
		// fail makes the unsynced path fail once; it reports the
		// error it got.
		fail func(t *testing.T, s *Store) error
	}{
		{"the unsynced write fails", func(t *testing.T, s *Store) error {
			return s.groupWriteOn(&s.unsyncedGroup, t.Context(), func(q querier) error {
				if err := insertEvent(q, oneEvent(1)); err != nil {
					return err
				}
				return errInjected
			})
		}},
		{"the unsynced write panics", func(t *testing.T, s *Store) (err error) {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("panicked: %v", r)
				}
			}()
			return s.groupWriteOn(&s.unsyncedGroup, t.Context(), func(q querier) error {
				if err := insertEvent(q, oneEvent(1)); err != nil {
					return err
				}
				panic("injected")
			})
		}},
		{"the caller's context ends after the switch", func(t *testing.T, s *Store) error {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			s.syncMode.onSwitch = func(toFull bool) error {
				if !toFull {
					cancel()
				}
				return nil
			}
			defer func() { s.syncMode.onSwitch = nil }()
			return s.AppendEventsUnsynced(ctx, []store.Event{oneEvent(1)}) // appendRowsUnsynced
		}},
		{"the switch to NORMAL fails", func(t *testing.T, s *Store) error {
			s.syncMode.onSwitch = func(toFull bool) error {
				if !toFull {
					return errInjected
				}
				return nil
			}
			defer func() { s.syncMode.onSwitch = nil }()
			return s.AppendEventsUnsynced(t.Context(), []store.Event{closeEvent("ev-c", "tnl-1")})
		}},
	} {
		for _, where := range []string{"group", "tx"} {
			t.Run(tc.name+"/"+where, func(t *testing.T) {
				s, path := openTemp(t, directOptions())
				s.unsynced.window = time.Hour // only the durable commits sync the log
				if got := syncInside(t, s, "unsynced"); got != 1 {
					t.Fatalf("an unsynced commit ran with synchronous=%d, want 1 (NORMAL)", got)
				}
				// Back at FULL, so that the failure below comes after a switch.
				if got := syncInside(t, s, where); got != 2 {
					t.Fatalf("a durable commit after an unsynced one ran with synchronous=%d, want 2 (FULL)", got)
				}
				if err := tc.fail(t, s); err == nil {
					t.Fatal("the injected failure did not fail the unsynced path")
				}
				if got := syncInside(t, s, where); got != 2 {
					t.Fatalf("after the failure a durable commit ran with synchronous=%d, want 2 (FULL)", got)
				}
				if err := s.AppendEventsUnsynced(t.Context(), []store.Event{oneEvent(7)}); err != nil {
					t.Fatal(err)
				}
				if n := procstat.MustUnsyncedPages(t, path+"-wal"); n == 0 {
					t.Fatal("an unsynced commit left no page of the log unsynced: it waited for the disk")
				}
				if where == "group" {
					err := s.AppendEvents(t.Context(), []store.Event{openEvent("ev-o", "tnl-1")})
					if err != nil {
						t.Fatal(err)
					}
				} else if err := s.CreateAgent(t.Context(), store.Agent{AgentID: "eni-1", EndpointID: "eice-1", Name: "a",
					KeyFingerprint: "fp", CreatedAt: time.Now()}); err != nil {
					t.Fatal(err)
				}
				if n := procstat.MustUnsyncedPages(t, path+"-wal"); n != 0 {
					t.Fatalf("after a durable commit returned, %d pages of the log are not on disk", n)
				}
			})
		}
	}
	t.Run("the switch to FULL fails", func(t *testing.T) {
		ctx := t.Context()
		s, _ := openTemp(t, directOptions())
		if err := s.AppendEventsUnsynced(ctx, []store.Event{oneEvent(1)}); err != nil {
			t.Fatal(err)
		}
		fails := 2
		s.syncMode.onSwitch = func(toFull bool) error {
			if toFull && fails > 0 {
				fails--
				return errInjected
			}
			return nil
		}
		if err := s.AppendEvents(ctx, []store.Event{openEvent("ev-o", "tnl-1")}); !errors.Is(err, errInjected) {
			t.Fatalf("AppendEvents whose switch to FULL failed: %v, want the injected error", err)
		}
		if err := s.InTx(ctx, func(store.Repo) error { return nil }); !errors.Is(err, errInjected) {
			t.Fatalf("InTx whose switch to FULL failed: %v, want the injected error", err)
		}
		if got, err := s.ListEvents(ctx, store.EventQuery{EventID: "ev-o", Limit: 2}); err != nil || len(got) != 0 {
			t.Fatalf("a record whose commit could not switch to FULL was stored: %v, %v", got, err)
		}
		for _, where := range []string{"group", "tx"} {
			if got := syncInside(t, s, where); got != 2 {
				t.Fatalf("%s: synchronous=%d after a failed switch, want 2 (FULL)", where, got)
			}
		}
	})
}

// sa18CrashEnv makes TestSA18CrashHelper, in a child process, run durable
// and unsynced commits on the shared connection from several goroutines,
// print each one's id once it returned, and kill itself while they run.
const sa18CrashEnv = "POSTERN_SQLSTORE_SA18_CRASH_DB"

// TestSA18MixedCommitsSurviveACrash: a process killed (SIGKILL) while
// durable (OpenTunnel) and unsynced (CloseTunnel, read-only records,
// replay-guard rows) commits alternate on the one write connection loses
// none that returned, and leaves a database that opens and checks whole.
func TestSA18MixedCommitsSurviveACrash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "crash.db")
	out, stderr := killedChild(t, "TestSA18CrashHelper", sa18CrashEnv, path)
	var acked []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if id, ok := strings.CutPrefix(sc.Text(), "ACK "); ok {
			acked = append(acked, id)
		}
	}
	if len(acked) < 100 {
		t.Fatalf("the helper acknowledged %d commits, want at least 100:\n%s", len(acked), stderr)
	}
	s, stored := reopenChecked(t, path)
	for _, id := range acked {
		if guard, ok := strings.CutPrefix(id, "guard-"); ok {
			if _, first, err := s.RecordPresignUse(t.Context(), presignUse(guard)); err != nil || first {
				t.Errorf("replay guard row %s was acknowledged and is lost (first use again: %v, %v)", guard, first, err)
			}
			continue
		}
		if stored[id] != 1 {
			t.Errorf("record %s was acknowledged and is stored %d times", id, stored[id])
		}
	}
	t.Logf("%d commits acknowledged before the kill, %d distinct records stored", len(acked), len(stored))
}

// TestSA18CrashHelper is the child process of
// TestSA18MixedCommitsSurviveACrash: without its environment variable it
// has nothing to do.
func TestSA18CrashHelper(t *testing.T) {
	path := os.Getenv(sa18CrashEnv)
	if path == "" {
		return
	}
	s, err := OpenSQLite(context.Background(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var mu sync.Mutex
	acked := 0
	ack := func(id string) {
		mu.Lock()
		fmt.Fprintf(os.Stdout, "ACK %s\n", id) // os.Stdout is not buffered
		acked++
		if acked == 400 {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
		mu.Unlock()
	}
	for w := range 4 {
		go func() { // a tunnel's open (durable) and close (unsynced), as the front door writes them
			for i := 0; ; i++ {
				tunnel := "tnl-" + strconv.Itoa(w) + "-" + strconv.Itoa(i)
				if err := s.AppendEvents(ctx, []store.Event{openEvent("open-"+tunnel, tunnel)}); err != nil {
					fmt.Fprintln(os.Stderr, "open:", err)
					continue
				}
				ack("open-" + tunnel)
				if err := s.AppendEventsUnsynced(ctx, []store.Event{closeEvent("close-"+tunnel, tunnel)}); err != nil {
					fmt.Fprintln(os.Stderr, "close:", err)
					continue
				}
				ack("close-" + tunnel)
			}
		}()
		go func() { // read-only records (the record journal) and replay-guard rows
			for i := 0; ; i++ {
				e := oneEvent(w*1_000_000 + i)
				if err := s.AppendEventsUnsynced(ctx, []store.Event{e}); err != nil {
					fmt.Fprintln(os.Stderr, "record:", err)
					continue
				}
				ack(e.EventID)
				guard := "sa18-" + strconv.Itoa(w) + "-" + strconv.Itoa(i)
				if _, _, err := s.RecordPresignUseUnsynced(ctx, presignUse(guard)); err != nil {
					fmt.Fprintln(os.Stderr, "guard:", err)
					continue
				}
				ack("guard-" + guard)
			}
		}()
	}
	select {} // the signal ends the process
}

// BenchmarkSA18Switch: the CPU of one switch of the write connection's
// synchronous (an unprepared PRAGMA; half an op is NORMAL, half FULL).
func BenchmarkSA18Switch(b *testing.B) {
	s, _ := openTemp(b, directOptions())
	ctx := context.Background()
	release, err := s.writeTurn(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer release()
	for b.Loop() {
		if err := s.syncFor(ctx, true); err != nil {
			b.Fatal(err)
		}
		if err := s.syncFor(ctx, false); err != nil {
			b.Fatal(err)
		}
	}
}

// Close's last statements (PRAGMA optimize, which may commit the
// planner's statistics) run with synchronous=FULL even when the last
// commit was an unsynced one.
func TestSA18CloseSwitchesToFull(t *testing.T) {
	s, _ := openTemp(t, directOptions())
	if err := s.AppendEventsUnsynced(t.Context(), []store.Event{oneEvent(1)}); err != nil {
		t.Fatal(err)
	}
	var switched []bool
	s.syncMode.onSwitch = func(toFull bool) error { switched = append(switched, toFull); return nil }
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if len(switched) != 1 || !switched[0] || s.syncMode.normal {
		t.Fatalf("switches at Close: %v (normal %v), want one to FULL", switched, s.syncMode.normal)
	}
}
