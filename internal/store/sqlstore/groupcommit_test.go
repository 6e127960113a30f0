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
	"github.com/postern/postern/internal/testutil/pgtest"
)

// groupBackends are the dialects the group commit tests run on, each with
// how to tell the order in which two committed events were written: the
// row id with SQLite, the id of the writing transaction with PostgreSQL
// (groups commit one after the other, so a later group's is larger).
var groupBackends = []struct {
	name  string
	open  func(t *testing.T) *Store
	order string // a statement giving an event's order key, of its event_id
}{
	{"sqlite", func(t *testing.T) *Store { s, _ := openTemp(t, defaultSQLiteOptions()); return s },
		"SELECT rowid FROM events WHERE event_id = ?"},
	{"postgres", func(t *testing.T) *Store { return openPG(t, pgtest.Start(t)).s },
		"SELECT xmin::text::bigint FROM events WHERE event_id = $1"},
}

func gcEvent(id string) store.Event {
	return store.Event{EventID: id, EventTime: time.Now(), EventSource: "ec2-instance-connect.amazonaws.com",
		EventName: "OpenTunnel", Body: `{"eventID":"` + id + `"}`}
}

// groupHooks records the group sizes of s and lets a test wait until n
// writes queued behind a running group.
type groupHooks struct {
	queued chan struct{}
	mu     sync.Mutex
	sizes  []int
}

func hookGroups(s *Store) *groupHooks {
	h := &groupHooks{queued: make(chan struct{}, 4096)}
	s.group.onQueue = func() { h.queued <- struct{}{} }
	s.group.onGroup = func(n int) { h.mu.Lock(); h.sizes = append(h.sizes, n); h.mu.Unlock() }
	return h
}

func (h *groupHooks) waitQueued(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-h.queued:
		case <-time.After(time.Minute): // a guard against a hang, not a measurement
			t.Fatalf("fewer than %d writes queued", n)
		}
	}
}

func (h *groupHooks) groups() []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]int(nil), h.sizes...)
}

// block starts a quiet write that holds its group open until the
// returned function is called, which then waits for that write's result.
func block(t *testing.T, s *Store) (release func()) {
	t.Helper()
	started, unblock, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- s.groupWrite(context.Background(), func(querier) error { close(started); <-unblock; return nil })
	}()
	select {
	case <-started:
	case <-time.After(time.Minute):
		t.Fatal("the blocking write never ran")
	}
	return func() {
		close(unblock)
		if err := <-done; err != nil {
			t.Errorf("blocking write: %v", err)
		}
	}
}

// startAppends appends gcEvent(id(i)) for each i < len(errs), each from
// its own goroutine counted in wg, and stores its result in errs[i].
func startAppends(ctx context.Context, s *Store, wg *sync.WaitGroup, errs []error, id func(i int) string) {
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.AppendEvent(ctx, gcEvent(id(i)))
		}()
	}
}

func orderKey(t *testing.T, s *Store, query, id string) int64 {
	t.Helper()
	var k int64
	if err := s.writer.QueryRowContext(t.Context(), query, id).Scan(&k); err != nil {
		t.Fatalf("order of %s: %v", id, err)
	}
	return k
}

// TestGroupCommit: audit appends from many goroutines join group
// commits; each caller returns once its record is committed, in order;
// groups are bounded; a write that fails alone fails alone, and a commit
// that fails fails every write of its group, leaving none of them stored.
// SQLite and PostgreSQL.
func TestGroupCommit(t *testing.T) {
	for _, b := range groupBackends {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()

			t.Run("concurrent appenders join one commit, durable and in order", func(t *testing.T) {
				s := b.open(t)
				h := hookGroups(s)
				const writers, each = 8, 20
				release := block(t, s)
				var wg sync.WaitGroup
				errs := make([]error, writers)
				for w := range writers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := range each {
							if err := s.AppendEvent(ctx, gcEvent(fmt.Sprintf("gc-%d-%d", w, i))); err != nil {
								errs[w] = err
								return
							}
						}
					}()
				}
				// Every writer's first record queues behind the blocked group.
				h.waitQueued(t, writers)
				release()
				wg.Wait()
				if err := errors.Join(errs...); err != nil {
					t.Fatal(err)
				}
				g := h.groups()
				if len(g) < 2 || g[0] != 1 || g[1] != writers {
					t.Errorf("group sizes %v: want the blocking write alone, then the %d records queued behind it in one commit", g, writers)
				}
				total := 0
				for _, n := range g {
					total += n
				}
				if total != 1+writers*each {
					t.Errorf("groups held %d writes, want %d", total, 1+writers*each)
				}
				// Every record returned is stored, and each writer's records
				// were written in the order it appended them.
				for w := range writers {
					prev := int64(-1)
					for i := range each {
						id := fmt.Sprintf("gc-%d-%d", w, i)
						k := orderKey(t, s, b.order, id)
						if k <= prev {
							t.Errorf("%s written before the record appended before it (%d <= %d)", id, k, prev)
						}
						prev = k
					}
				}
			})

			t.Run("bounded group size", func(t *testing.T) {
				s := b.open(t)
				h := hookGroups(s)
				n := maxGroup + 10
				release := block(t, s)
				var wg sync.WaitGroup
				errs := make([]error, n)
				startAppends(ctx, s, &wg, errs[:n], func(i int) string { return fmt.Sprintf("bound-%d", i) })
				h.waitQueued(t, n)
				release()
				wg.Wait()
				if err := errors.Join(errs...); err != nil {
					t.Fatal(err)
				}
				if g := h.groups(); len(g) != 3 || g[1] != maxGroup || g[2] != 10 {
					t.Errorf("group sizes %v, want [1 %d 10]", g, maxGroup)
				}
				evs, err := s.ListEvents(ctx, store.EventQuery{Limit: -1})
				if err != nil || len(evs) != n {
					t.Errorf("%d records stored (%v), want %d", len(evs), err, n)
				}
			})

			t.Run("a write that fails alone fails alone", func(t *testing.T) {
				s := b.open(t)
				h := hookGroups(s)
				if err := s.AppendEvent(ctx, gcEvent("dup")); err != nil {
					t.Fatal(err)
				}
				const n = 6
				release := block(t, s)
				var wg sync.WaitGroup
				errs := make([]error, n)
				startAppends(ctx, s, &wg, errs[:n], func(i int) string {
					if i == n/2 {
						return "dup" // a unique violation, in the middle of the group
					}
					return fmt.Sprintf("ok-%d", i)
				})
				h.waitQueued(t, n)
				release()
				wg.Wait()
				for i, err := range errs {
					if i == n/2 {
						if !errors.Is(err, store.ErrConflict) {
							t.Errorf("duplicate record: %v, want store.ErrConflict", err)
						}
						continue
					}
					if err != nil {
						t.Errorf("record %d: %v, want it stored beside the failed one", i, err)
					}
					if got, lerr := s.ListEvents(ctx, store.EventQuery{EventID: fmt.Sprintf("ok-%d", i), Limit: 2}); lerr != nil || len(got) != 1 {
						t.Errorf("record %d: %d stored (%v)", i, len(got), lerr)
					}
				}
				if g := h.groups(); len(g) != 3 || g[2] != n {
					t.Errorf("group sizes %v, want the %d records in one group", g, n)
				}
			})

			t.Run("a failing commit fails every member", func(t *testing.T) {
				s := b.open(t)
				// A foreign key checked at commit: a write that breaks it
				// succeeds, and the commit of its group fails.
				for _, ddl := range []string{
					"CREATE TABLE gc_parent (id TEXT PRIMARY KEY)",
					"CREATE TABLE gc_child (parent TEXT REFERENCES gc_parent (id) DEFERRABLE INITIALLY DEFERRED)",
				} {
					if _, err := s.writer.ExecContext(ctx, ddl); err != nil {
						t.Fatal(err)
					}
				}
				h := hookGroups(s)
				const n = 6
				release := block(t, s)
				var wg sync.WaitGroup
				errs := make([]error, n+1)
				startAppends(ctx, s, &wg, errs[:n], func(i int) string { return fmt.Sprintf("lost-%d", i) })
				h.waitQueued(t, n)
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[n] = s.groupWrite(ctx, func(q querier) error {
						_, err := q.ExecContext(ctx, s.d.rebind("INSERT INTO gc_child (parent) VALUES (?)"), "no such parent")
						return err
					})
				}()
				h.waitQueued(t, 1)
				release()
				wg.Wait()
				for i, err := range errs {
					if err == nil {
						t.Errorf("write %d of the failed group returned nil", i)
					}
				}
				evs, err := s.ListEvents(ctx, store.EventQuery{Limit: -1})
				if err != nil || len(evs) != 0 {
					t.Errorf("after the failed commit %d records are stored (%v), want none", len(evs), err)
				}
				if g := h.groups(); len(g) != 2 || g[1] != n+1 {
					t.Errorf("group sizes %v, want the %d writes in one group", g, n+1)
				}
				// The store goes on.
				if err := s.AppendEvent(ctx, gcEvent("after")); err != nil {
					t.Errorf("append after the failed commit: %v", err)
				}
			})

			t.Run("a caller whose context ended before its group began", func(t *testing.T) {
				s := b.open(t)
				h := hookGroups(s)
				release := block(t, s)
				cctx, cancel := context.WithCancel(ctx)
				done := make(chan error, 1)
				go func() { done <- s.AppendEvent(cctx, gcEvent("cancelled")) }()
				h.waitQueued(t, 1)
				cancel()
				release()
				if err := <-done; !errors.Is(err, context.Canceled) {
					t.Errorf("append with an ended context: %v, want context.Canceled", err)
				}
				if got, err := s.ListEvents(ctx, store.EventQuery{EventID: "cancelled", Limit: 2}); err != nil || len(got) != 0 {
					t.Errorf("the record of an ended context was stored: %v, %v", got, err)
				}
			})
		})
	}
}

// groupCrashEnv makes TestGroupCommitCrashHelper, in a child process,
// append records from several goroutines, print each one's id once its
// append returned, and kill itself while appends are still running.
const groupCrashEnv = "POSTERN_SQLSTORE_GROUP_CRASH_DB"

// TestGroupCommitCrash: a process killed (SIGKILL) while group commits
// run loses no record whose append had returned.
func TestGroupCommitCrash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "crash.db")
	out, stderr := killedChild(t, "TestGroupCommitCrashHelper", groupCrashEnv, path)
	var acked []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if id, ok := strings.CutPrefix(sc.Text(), "ACK "); ok {
			acked = append(acked, id)
		}
	}
	if len(acked) < 100 {
		t.Fatalf("the helper acknowledged %d appends, want at least 100:\n%s", len(acked), stderr)
	}
	s, err := OpenSQLite(t.Context(), path, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	evs, err := s.ListEvents(t.Context(), store.EventQuery{Limit: -1})
	if err != nil {
		t.Fatal(err)
	}
	stored := make(map[string]bool, len(evs))
	for _, e := range evs {
		stored[e.EventID] = true
	}
	for _, id := range acked {
		if !stored[id] {
			t.Errorf("record %s was acknowledged and is lost", id)
		}
	}
	t.Logf("%d appends acknowledged before the kill, %d records stored", len(acked), len(evs))
}

// TestGroupCommitCrashHelper is the child process of TestGroupCommitCrash:
// without its environment variable it has nothing to do.
func TestGroupCommitCrashHelper(t *testing.T) {
	path := os.Getenv(groupCrashEnv)
	if path == "" {
		return
	}
	s, err := OpenSQLite(context.Background(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	acked := 0
	for w := range 8 {
		go func() {
			for i := 0; ; i++ {
				id := "crash-" + strconv.Itoa(w) + "-" + strconv.Itoa(i)
				if err := s.AppendEvent(context.Background(), gcEvent(id)); err != nil {
					fmt.Fprintln(os.Stderr, "append:", err)
					continue
				}
				mu.Lock()
				fmt.Fprintf(os.Stdout, "ACK %s\n", id) // os.Stdout is not buffered
				acked++
				if acked == 200 {
					_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
				}
				mu.Unlock()
			}
		}()
	}
	select {} // the signal ends the process
}

// BenchmarkConcurrentAuditWrites: 1,000 goroutines at once each write
// what a tunnel open writes (its presigned URL's first use and its
// OpenTunnel record), with SQLite (synchronous=FULL) and PostgreSQL, as
// group commits (the Store's quiet writes) and, for comparison, as a
// transaction of their own each (the way they were written before group
// commit). Reports the time until all returned (open-s), the time per
// write and the commits made.
func BenchmarkConcurrentAuditWrites(b *testing.B) {
	const n = 1000
	backends := []struct {
		name string
		open func(b *testing.B) *Store
	}{
		{"sqlite", func(b *testing.B) *Store { s, _ := openTemp(b, defaultSQLiteOptions()); return s }},
		{"postgres", func(b *testing.B) *Store {
			s, err := OpenPostgres(b.Context(), pgtest.Start(b), nil)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s.s
		}},
	}
	for _, be := range backends {
		for _, mode := range []string{"own-commit", "group-commit"} {
			b.Run(be.name+"/"+mode, func(b *testing.B) {
				s := be.open(b)
				commits := 0
				var cmu sync.Mutex
				s.group.onGroup = func(int) { cmu.Lock(); commits++; cmu.Unlock() }
				ctx := context.Background()
				write := func(round, i int) error {
					id := fmt.Sprintf("b%d-%d", round, i)
					use := store.PresignUse{SignatureHash: []byte(id), SourceIP: "127.0.0.1", FirstUsedAt: time.Now(), ExpiresAt: time.Now().Add(time.Minute)}
					if mode == "group-commit" {
						if _, _, err := s.RecordPresignUse(ctx, use); err != nil {
							return err
						}
						return s.AppendEvent(ctx, gcEvent(id))
					}
					own := func(f func(r *repo) error) error {
						return s.writeTxCounted(ctx, false, func(tx *cachedTx) error { return f(&repo{s: s, tx: tx, savepoints: new(int)}) })
					}
					cmu.Lock()
					commits += 2
					cmu.Unlock()
					if err := own(func(r *repo) error { _, _, err := r.RecordPresignUse(ctx, use); return err }); err != nil {
						return err
					}
					return own(func(r *repo) error { return r.AppendEvent(ctx, gcEvent(id)) })
				}
				b.ResetTimer()
				for round := range b.N {
					var wg sync.WaitGroup
					errs := make(chan error, n)
					for i := range n {
						wg.Add(1)
						go func() {
							defer wg.Done()
							if err := write(round, i); err != nil {
								errs <- err
							}
						}()
					}
					wg.Wait()
					close(errs)
					for err := range errs {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "open-s")
				b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(2*n*b.N), "us/write")
				b.ReportMetric(float64(commits)/float64(b.N), "commits")
			})
		}
	}
}
