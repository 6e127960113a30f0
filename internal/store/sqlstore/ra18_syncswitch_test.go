package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/testutil/procstat"
)

// Hostile review (RA, s18) of the one write connection whose synchronous
// is switched per transaction (syncswitch.go): no durable commit may
// run at synchronous=NORMAL, whatever happens to the connection between
// the switch and the commit.

// ra18DiscardWriter makes database/sql throw the writer pool's one
// connection away (driver.ErrBadConn from Raw), as it does when the
// driver reports a broken connection: the next user gets a new one,
// opened behind the Store's back. It holds the write turn meanwhile.
func ra18DiscardWriter(t *testing.T, s *Store) {
	t.Helper()
	if err := ra18Discard(t.Context(), s); err != nil {
		t.Fatal(err)
	}
}

// ra18Discard is ra18DiscardWriter for any goroutine.
func ra18Discard(ctx context.Context, s *Store) error {
	release, err := s.writeTurn(ctx)
	if err != nil {
		return err
	}
	defer release()
	c, err := s.writer.Conn(ctx)
	if err != nil {
		return err
	}
	if err := c.Raw(func(any) error { return driver.ErrBadConn }); !errors.Is(err, driver.ErrBadConn) {
		return fmt.Errorf("raw: %v", err)
	}
	c.Close()
	if n := s.writer.Stats().OpenConnections; n != 0 {
		return fmt.Errorf("the writer pool still has %d connections: the bad one was kept", n)
	}
	return nil
}

// A connection database/sql replaced (driver.ErrBadConn) after an
// unsynced commit left the Store's flag at "normal" and after a durable
// one at "full": either way the next durable commit runs at FULL, the next
// unsynced one does not make it NORMAL for the one after, and every
// commit works.
func TestRA18ConnectionReplacedBehindThePool(t *testing.T) {
	for _, tc := range []struct {
		name   string
		before string // the commit before the connection is replaced
	}{
		{"after an unsynced commit", "unsynced"},
		{"after a durable group commit", "group"},
		{"after a durable transaction", "tx"},
	} {
		for _, where := range []string{"group", "tx"} {
			t.Run(tc.name+"/next "+where, func(t *testing.T) {
				s, _ := openTemp(t, directOptions())
				if got := syncInside(t, s, "unsynced"); got != 1 {
					t.Fatalf("unsynced commit at synchronous=%d, want 1", got)
				}
				want := map[string]int{"unsynced": 1, "group": 2, "tx": 2}[tc.before]
				if got := syncInside(t, s, tc.before); got != want {
					t.Fatalf("%s commit at synchronous=%d, want %d", tc.before, got, want)
				}
				ra18DiscardWriter(t, s)
				if got := syncInside(t, s, where); got != 2 {
					t.Fatalf("durable %s commit on the new connection at synchronous=%d, want 2 (FULL)", where, got)
				}
				for i := range 3 {
					ra18DiscardWriter(t, s)
					if got := syncInside(t, s, "unsynced"); got != 1 && got != 2 {
						t.Fatalf("unsynced commit at synchronous=%d", got)
					}
					ra18DiscardWriter(t, s)
					if got := syncInside(t, s, where); got != 2 {
						t.Fatalf("round %d: durable %s commit at synchronous=%d, want 2 (FULL)", i, where, got)
					}
					if got := syncInside(t, s, "unsynced"); got != 1 {
						t.Fatalf("round %d: unsynced commit after a durable one at synchronous=%d, want 1 (NORMAL)", i, got)
					}
				}
				if err := s.AppendEvents(t.Context(), []store.Event{openEvent("ev-ra-o", "tnl-ra")}); err != nil {
					t.Fatal(err)
				}
				if err := s.AppendEventsUnsynced(t.Context(), []store.Event{closeEvent("ev-ra-c", "tnl-ra")}); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// A transaction left open on the shared connection while it is at NORMAL
// (a ROLLBACK that failed, a caller's bug): SQLite refuses to change the
// safety level inside a transaction, so the next durable commit must fail
// rather than run, or be folded into that transaction, at NORMAL. Once
// the transaction is gone the durable commits run at FULL again.
func TestRA18DurableCommitRefusedInsideAnOpenTransaction(t *testing.T) {
	for _, where := range []string{"AppendEvents", "InTx"} {
		t.Run(where, func(t *testing.T) {
			ctx := t.Context()
			s, _ := openTemp(t, directOptions())
			release, err := s.writeTurn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.syncFor(ctx, true); err != nil {
				t.Fatal(err)
			}
			if _, err := s.writer.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
				t.Fatal(err)
			}
			if err := insertEvent(s.writer, oneEvent(1)); err != nil {
				t.Fatal(err)
			}
			release() // the transaction stays open on the pool's one connection

			var derr error
			if where == "AppendEvents" {
				derr = s.AppendEvents(ctx, []store.Event{openEvent("ev-ra-o", "tnl-ra")})
			} else {
				derr = s.CreateAgent(ctx, store.Agent{AgentID: "eni-ra", EndpointID: "eice-1", Name: "a",
					KeyFingerprint: "fp", CreatedAt: time.Now()})
			}
			if derr == nil {
				t.Fatalf("%s answered nil while the connection was inside a transaction at NORMAL", where)
			}
			t.Logf("%s refused: %v", where, derr)

			release, err = s.writeTurn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.writer.ExecContext(ctx, "ROLLBACK"); err != nil {
				t.Fatal(err)
			}
			release()
			for _, id := range []string{"ev-ra-o", oneEvent(1).EventID} {
				if got, err := s.ListEvents(ctx, store.EventQuery{EventID: id, Limit: 2}); err != nil || len(got) != 0 {
					t.Fatalf("%s stored after the refusal and the rollback: %d, %v", id, len(got), err)
				}
			}
			for _, w := range []string{"group", "tx"} {
				if got := syncInside(t, s, w); got != 2 {
					t.Fatalf("durable %s commit after the rollback at synchronous=%d, want 2", w, got)
				}
			}
		})
	}
}

// Many goroutines mix every kind of commit on the one connection (durable
// group commits, durable database/sql transactions, unsynced group
// commits, unsynced one-statement commits, replay-guard rows) while the
// connection is now and then replaced behind the pool's back: each
// durable commit reads synchronous=2 from inside its own transaction, each
// unsynced group commit 1 or 2 (2 only right after a replacement), and
// every write that returned nil is stored once. Run with -race: the flag
// is guarded by the write turn alone.
func TestRA18ConcurrentCommitsKeepTheirModes(t *testing.T) {
	ctx := t.Context()
	s, _ := openTemp(t, directOptions())
	s.unsynced.window = time.Millisecond // the Store's own syncs run too
	const workers, rounds = 6, 40
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		bad    []string
		stored []string
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		bad = append(bad, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	ok := func(id string) {
		mu.Lock()
		stored = append(stored, id)
		mu.Unlock()
	}
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				id := "ra-" + strconv.Itoa(w) + "-" + strconv.Itoa(r)
				var mode int
				var err error
				switch (w + r) % 6 {
				case 0: // durable group commit
					err = s.groupWrite(ctx, func(q querier) error {
						if err := s.group.h.db.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&mode); err != nil {
							return err
						}
						return insertEvent(q, gcEvent(id))
					})
					if err == nil && mode != 2 {
						fail("%s: durable group commit at synchronous=%d", id, mode)
					}
				case 1: // durable database/sql transaction
					err = s.writeTx(ctx, func(tx *cachedTx) error {
						if err := tx.Tx.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&mode); err != nil {
							return err
						}
						return insertEvent(tx, gcEvent(id))
					})
					if err == nil && mode != 2 {
						fail("%s: durable transaction at synchronous=%d", id, mode)
					}
				case 2: // unsynced group commit
					err = s.groupWriteOn(&s.unsyncedGroup, ctx, func(q querier) error {
						if err := s.unsyncedGroup.h.db.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&mode); err != nil {
							return err
						}
						return insertEvent(q, gcEvent(id))
					})
					if err == nil && mode != 1 && mode != 2 {
						fail("%s: unsynced group commit at synchronous=%d", id, mode)
					}
				case 3: // unsynced one-statement commit (appendRowsUnsynced)
					e := oneEvent(w*1000 + r)
					e.EventID = id
					err = s.AppendEventsUnsynced(ctx, []store.Event{e})
				case 4: // replay guard, then the attempt's durable record
					if _, _, err = s.RecordPresignUseUnsynced(ctx, presignUse(id)); err == nil {
						err = s.AppendEvents(ctx, []store.Event{gcEvent(id)})
					}
				case 5: // the connection replaced, then a durable record
					if err = ra18Discard(ctx, s); err == nil {
						err = s.AppendEvents(ctx, []store.Event{gcEvent(id)})
					}
				}
				if err != nil {
					fail("%s: %v", id, err)
					continue
				}
				ok(id)
			}
		}()
	}
	wg.Wait()
	for _, b := range bad {
		t.Error(b)
	}
	for _, id := range stored {
		if got, err := s.ListEvents(ctx, store.EventQuery{EventID: id, Limit: 3}); err != nil || len(got) != 1 {
			t.Errorf("%s: stored %d times (%v), want once", id, len(got), err)
		}
	}
	if len(stored) != workers*rounds {
		t.Errorf("%d writes returned nil, want %d", len(stored), workers*rounds)
	}
}

// The caller's context ends while its durable commit switches the
// connection to FULL: the commit either fails and stores nothing or
// returns nil having run at FULL; the unsynced and durable commits after
// it run at NORMAL and FULL.
func TestRA18ContextEndsDuringTheSwitchToFull(t *testing.T) {
	for _, where := range []string{"AppendEvents", "InTx"} {
		t.Run(where, func(t *testing.T) {
			s, _ := openTemp(t, directOptions())
			if got := syncInside(t, s, "unsynced"); got != 1 {
				t.Fatalf("unsynced commit at synchronous=%d, want 1", got)
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			s.syncMode.onSwitch = func(toFull bool) error {
				if toFull {
					cancel()
				}
				return nil
			}
			var err error
			if where == "AppendEvents" {
				err = s.AppendEvents(ctx, []store.Event{openEvent("ev-ra-o", "tnl-ra")})
			} else {
				err = s.CreateAgent(ctx, store.Agent{AgentID: "eni-ra", EndpointID: "eice-1", Name: "a",
					KeyFingerprint: "fp", CreatedAt: time.Now()})
			}
			s.syncMode.onSwitch = nil
			n := 0
			if where == "AppendEvents" {
				got, lerr := s.ListEvents(t.Context(), store.EventQuery{EventID: "ev-ra-o", Limit: 2})
				if lerr != nil {
					t.Fatal(lerr)
				}
				n = len(got)
			} else if _, gerr := s.GetAgent(t.Context(), "eni-ra"); gerr == nil {
				n = 1
			}
			if (err == nil) != (n == 1) {
				t.Fatalf("%s with its context ended during the switch: %v, yet %d stored", where, err, n)
			}
			t.Logf("%s: %v (%d stored)", where, err, n)
			for _, w := range []string{"unsynced", "group", "tx", "unsynced", "tx", "group"} {
				want := 2
				if w == "unsynced" {
					want = 1
				}
				if got := syncInside(t, s, w); got != want {
					t.Fatalf("%s commit after the cancelled switch at synchronous=%d, want %d", w, got, want)
				}
			}
		})
	}
}

// Another connection (another process, as far as SQLite knows) holds the
// write lock: the unsynced commit, switched to NORMAL, fails busy after
// the busy timeout; once the lock is free the next durable commits run at
// FULL and leave no page of the log unsynced.
func TestRA18BusyAfterTheSwitchToNormal(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the busy timeout")
	}
	ctx := t.Context()
	s, path := openTemp(t, directOptions())
	s.unsynced.window = time.Hour
	other, err := sql.Open("sqlite", sqliteDSN(path, url.Values{"_busy_timeout": {"10"}}))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	oc, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer oc.Close()
	if _, err := oc.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	err = s.groupWriteOn(&s.unsyncedGroup, ctx, func(q querier) error { return insertEvent(q, oneEvent(1)) })
	if s.d.classify(err) != errBusy {
		t.Fatalf("unsynced commit while another connection holds the write lock: %v, want busy", err)
	}
	if _, err := oc.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"group", "tx"} {
		if got := syncInside(t, s, w); got != 2 {
			t.Fatalf("durable %s commit after the busy one at synchronous=%d, want 2", w, got)
		}
	}
	if err := s.AppendEventsUnsynced(ctx, []store.Event{oneEvent(2)}); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendEvents(ctx, []store.Event{openEvent("ev-ra-o", "tnl-ra")}); err != nil {
		t.Fatal(err)
	}
	if n := procstat.MustUnsyncedPages(t, path+"-wal"); n != 0 {
		t.Fatalf("after a durable commit returned, %d pages of the log are not on disk", n)
	}
}
