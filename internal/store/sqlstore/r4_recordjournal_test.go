package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
)

// R4's review of the record journal (recordjournal.go): the promises an
// answered read-only call's record keeps when the journal's commits wait
// or fail, and when a second Store opens the database.

// The writer held far longer than UnsyncedWindow (a long transaction, a
// slow disk): records taken by the journal meanwhile are answered at
// once, so they must reach the disk while the commit still waits, not
// when it fails (after writeWait) or ends.
func TestR4JournalSyncedWhileTheCommitWaits(t *testing.T) {
	ctx := t.Context()
	s, path := openTemp(t, defaultSQLiteOptions())
	// The commit waits for the writer far longer than the guard below:
	// a commit that gave up (after writeWait) would sync the file anyway,
	// and must not be taken for the sync that comes while it waits.
	s.writeWait = 10 * time.Minute
	j := s.journal
	synced := make(chan struct{}, 1)
	j.sync = func() error {
		select {
		case synced <- struct{}{}:
		default:
		}
		return j.f.Sync()
	}
	conn, release, err := s.writeConn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	evs := journalEvents("late")
	if err := s.AppendEventsUnsynced(ctx, evs); err != nil {
		release()
		t.Fatalf("append while the writer was held: %v, want it taken at once", err)
	}
	// The writer stays held until the sync is seen; the guard is below
	// writeWait (set above), after which the commit would fail and sync
	// anyway, and far above UnsyncedWindow: a starved 2-core CI machine
	// under -race may run the journal's timer seconds late.
	select {
	case <-synced:
	case <-time.After(2 * time.Minute): // a guard against a hang, not a measurement
		release()
		t.Fatal("the journal was not synced while its commit waited for the writer")
	}
	var n int
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM events").Scan(&n); err != nil || n != 0 {
		t.Errorf("while the writer was held: %d records committed (%v), want 0 (the sync came first)", n, err)
	}
	if fi, err := os.Stat(path + recordJournalSuffix); err != nil || fi.Size() == 0 {
		t.Errorf("the journal when synced: %v, %v; want the records in it", fi, err)
	}
	release()
	got, err := s.ListEvents(ctx, store.EventQuery{Limit: -1})
	if err != nil {
		t.Fatal(err)
	}
	sameEvents(t, got, evs)
}

// While the journal's commits fail (here a trigger stands for a full or
// failing disk), readers of the events (LookupEvents, the console) do not
// wait for the journalled records until the disk recovers; those records
// stay in the journal and are committed once the commits succeed again:
// none is lost or doubled.
func TestR4ListEventsDoesNotHangWhileCommitsFail(t *testing.T) {
	ctx := t.Context()
	s, path := openTemp(t, defaultSQLiteOptions())
	s.journal.retry = time.Millisecond
	exec := func(q string) {
		t.Helper()
		conn, release, err := s.writeConn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	exec("CREATE TRIGGER r4_failing_disk BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'r4: the disk fails'); END")
	evs := journalEvents("failing")
	if err := s.AppendEventsUnsynced(ctx, evs); err != nil {
		t.Fatalf("append: %v, want it taken by the journal", err)
	}
	// A guard against a hang (the wait until the disk recovers: forever
	// here), not a measurement: a starved CI machine under -race, with
	// the journal retrying its commit each millisecond, can take more
	// than a few seconds to answer.
	lctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	_, err := s.ListEvents(lctx, store.EventQuery{Limit: -1})
	cancel()
	if err != nil {
		t.Errorf("ListEvents while the journal's commits fail: %v, want an answer", err)
	}
	exec("DROP TRIGGER r4_failing_disk")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := openSQLite(ctx, path, testLogger(t), defaultSQLiteOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	got, err := s2.ListEvents(ctx, store.EventQuery{Limit: -1})
	if err != nil {
		t.Fatal(err)
	}
	sameEvents(t, got, evs)
}

// A second Store on the database of a running one (a second `postern
// server`, `postern migrate`) is refused before it touches the journal:
// the first one's waiting records are neither replayed by it nor cut off
// by its truncation, and the first Store goes on appending to an intact
// file.
func TestR4SecondStoreLeavesTheJournalAlone(t *testing.T) {
	ctx := t.Context()
	s, path := openTemp(t, defaultSQLiteOptions())
	_, release, err := s.writeConn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	evs := journalEvents("first")
	if err := s.AppendEventsUnsynced(ctx, evs[:2]); err != nil {
		release()
		t.Fatal(err)
	}
	before, err := os.ReadFile(path + recordJournalSuffix)
	if err != nil || len(before) == 0 {
		release()
		t.Fatalf("the journal with records waiting: %d bytes, %v", len(before), err)
	}
	for _, o := range []sqliteOptions{defaultSQLiteOptions(), directOptions()} {
		if s2, err := openSQLite(ctx, path, nil, o); !errors.Is(err, ErrInUse) {
			if err == nil {
				s2.Close()
			}
			release()
			t.Fatalf("a second Store on a database in use: %v, want ErrInUse", err)
		}
	}
	after, err := os.ReadFile(path + recordJournalSuffix)
	if err != nil || string(after) != string(before) {
		t.Errorf("the journal after the refused open: %d bytes (%v), want the %d bytes before", len(after), err, len(before))
	}
	if err := s.AppendEventsUnsynced(ctx, evs[2:]); err != nil {
		t.Error(err)
	}
	release()
	got, err := s.ListEvents(ctx, store.EventQuery{Limit: -1})
	if err != nil {
		t.Fatal(err)
	}
	sameEvents(t, got, evs)
}

// Under a steady flow of records faster than the journal's commits (many
// callers; in production, the writer slowed by a disk), the file past
// maxJournalBytes is emptied with appends held, as recordjournal.go
// promises, rather than growing by the records that take the place of
// each committed batch. Every record taken is committed once.
func TestR4JournalEmptiedUnderASteadyFlow(t *testing.T) {
	ctx := t.Context()
	s, _ := openTemp(t, defaultSQLiteOptions())
	j := s.journal
	body := `{"pad":"` + strings.Repeat("x", 1000) + `"}`
	frame := len(appendFrame(nil, &store.Event{EventID: "r4-00000-00", EventSource: "sts.amazonaws.com",
		EventName: "GetCallerIdentity", Body: body}))
	const feeders, perFeeder = 4, 3000 // bounded: 12,000 records, ~13 MB through the journal
	var wg sync.WaitGroup
	maxSize := make([]int64, feeders)
	for f := range feeders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perFeeder; {
				ev := []store.Event{{EventID: fmt.Sprintf("r4-%05d-%02d", i, f), EventTime: time.UnixMicro(int64(i)),
					EventSource: "sts.amazonaws.com", EventName: "GetCallerIdentity", ReadOnly: true, Body: body}}
				if !j.append(ev) {
					continue // full: a caller would commit it itself
				}
				i++
				j.mu.Lock()
				maxSize[f] = max(maxSize[f], j.size)
				j.mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err := j.drain(ctx); err != nil {
		t.Fatal(err)
	}
	bound := int64(maxJournalBytes + maxJournalPending*frame)
	for f, m := range maxSize {
		if m > bound {
			t.Errorf("feeder %d saw the journal at %d bytes, want at most %d (maxJournalBytes and a full queue)", f, m, bound)
		}
	}
	var n, distinct int
	if err := s.reads.QueryRowContext(ctx, "SELECT count(*), count(DISTINCT event_id) FROM events").Scan(&n, &distinct); err != nil {
		t.Fatal(err)
	}
	if n != feeders*perFeeder || distinct != n {
		t.Errorf("%d records committed (%d distinct), want %d", n, distinct, feeders*perFeeder)
	}
}
