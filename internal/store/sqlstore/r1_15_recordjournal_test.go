package sqlstore

import (
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
)

// R1's s15 review of the record journal's whole-append rule, directory
// sync and torn-write state (recordjournal.go, commit 06f4fcf).

var errR1_15Injected = errors.New("r1: injected I/O failure")

// After its commits failed and then recovered, the journal empties its
// file; when that emptying fails (a second I/O failure, as in QB's torn
// write), every record has been committed all the same, so the journal
// must take records again (the next commit empties the file), not stay
// off until the process restarts: no append wakes the committer while
// the journal refuses them.
func TestR1_15JournalTakesRecordsAfterItsEmptyingFailed(t *testing.T) {
	ctx := t.Context()
	s, _ := openTemp(t, defaultSQLiteOptions())
	j := s.journal
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
	exec("CREATE TRIGGER r1_failing_disk BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'r1: the disk fails'); END")
	// The first empty of the file fails; emptied is closed when it was
	// tried. The committer calls truncate with j.mu held, so taking j.mu
	// afterwards sees what it did about the failure.
	emptied := make(chan struct{})
	j.mu.Lock()
	j.retry = time.Millisecond
	truncate, failed := j.truncate, false
	j.truncate = func(size int64) error {
		if size == 0 && !failed {
			failed = true
			close(emptied)
			return errR1_15Injected
		}
		return truncate(size)
	}
	progress := j.progress
	j.mu.Unlock()

	first := journalEvents("before")
	if !j.append(first) {
		t.Fatal("append before the commits failed: not taken")
	}
	<-progress // closed by the failed commit
	j.mu.Lock()
	failing := j.failing
	j.mu.Unlock()
	if !failing {
		t.Fatal("the journal's commit did not fail")
	}
	exec("DROP TRIGGER r1_failing_disk")
	<-emptied // the retried commit worked; emptying the file failed
	j.mu.Lock()
	left := len(j.pending)
	j.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d records wait after the commit that worked", left)
	}

	second := journalEvents("after")
	if !j.append(second) {
		t.Fatal("append once every record is committed, after the file's emptying failed: not taken (the journal stays off)")
	}
	if err := j.drain(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListEvents(ctx, store.EventQuery{Limit: -1})
	if err != nil {
		t.Fatal(err)
	}
	sameEvents(t, got, append(first, second...))
}

// Downgrade: a binary older than the database's schema (an s14 binary on
// a database migrated to 0033) refuses to start before it opens the
// journal, so it neither replays an s15 journal (whose "more" flags an
// s14 reader would take for read_only, and whose torn appends it would
// commit) nor empties it: the records wait, intact, for the newer binary.
func TestR1_15NewerSchemaLeavesTheJournalAlone(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "postern.db")
	s, err := openSQLite(ctx, path, testLogger(t), directOptions())
	if err != nil {
		t.Fatal(err)
	}
	conn, release, err := s.writeConn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'from_a_newer_postern', 0)"); err != nil {
		release()
		t.Fatal(err)
	}
	release()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// An s15 journal: a whole append of three records (two "more"
	// frames), then a torn one.
	evs := journalEvents("newer")
	var data []byte
	for i := range evs {
		data = appendFrameOf(data, &evs[i], i < len(evs)-1)
	}
	data = append(data, data[:len(data)/2]...)
	jpath := path + recordJournalSuffix
	if err := os.WriteFile(jpath, data, 0o600); err != nil {
		t.Fatal(err)
	}

	if s2, err := openSQLite(ctx, path, testLogger(t), defaultSQLiteOptions()); err == nil || !strings.Contains(err.Error(), "newer than this build knows") {
		if err == nil {
			s2.Close()
		}
		t.Fatalf("open of a database with a newer schema: %v, want it refused as newer", err)
	}
	after, err := os.ReadFile(jpath)
	if err != nil || string(after) != string(data) {
		t.Errorf("the journal after the refused open: %d bytes (%v), want its %d bytes untouched", len(after), err, len(data))
	}
	db, err := sql.Open("sqlite", sqliteDSN(path, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM events").Scan(&n); err != nil || n != 0 {
		t.Errorf("records committed by the refused open: %d (%v), want 0", n, err)
	}
}

// Appends from several goroutines, with the committer running, while
// writes tear and cuts fail now and then (under -race: the torn flag's
// retry against the committer's emptying). The file, read as a crash
// would leave it before every tenth write and at every cut that fails,
// never replays a record the journal refused (its caller committed it itself); in the end every
// record is committed exactly once.
func TestR1_15TornWritesWithTheCommitterRunning(t *testing.T) {
	ctx := t.Context()
	s, _ := openTemp(t, defaultSQLiteOptions())
	j := s.journal
	var snapshots [][]store.Event // parsed from the file; appended under j.mu
	j.mu.Lock()
	write, truncate := j.write, j.truncate
	writes, cuts := 0, 0
	snapshot := func() error {
		data, err := os.ReadFile(j.f.Name())
		if err != nil {
			return err
		}
		evs, _ := parseJournal(data)
		snapshots = append(snapshots, evs)
		return nil
	}
	j.write = func(b []byte) (int, error) { // called with j.mu held
		writes++
		if writes%10 == 0 {
			if err := snapshot(); err != nil {
				return 0, err
			}
		}
		if writes%7 == 0 {
			n, err := write(b[:len(b)*2/3])
			if err != nil {
				return n, err
			}
			return n, errR1_15Injected
		}
		return write(b)
	}
	j.truncate = func(size int64) error { // called with j.mu held
		cuts++
		if cuts%3 == 0 {
			// The file as a crash leaves it with a cut that failed.
			if err := snapshot(); err != nil {
				return err
			}
			return errR1_15Injected
		}
		return truncate(size)
	}
	j.mu.Unlock()

	const feeders, perFeeder = 4, 150 // bounded
	refused := make([]map[string]bool, feeders)
	errs := make(chan error, feeders)
	for f := range feeders {
		refused[f] = map[string]bool{}
		go func() {
			for i := range perFeeder {
				evs := journalEvents("r1-" + strconv.Itoa(f) + "-" + strconv.Itoa(i))[:i%3+1]
				if j.append(evs) {
					continue
				}
				for _, e := range evs {
					refused[f][e.EventID] = true
				}
				// The caller's own commit, as AppendEventsUnsynced's.
				if err := s.appendRowsUnsynced(ctx, evs); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range feeders {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if err := j.drain(ctx); err != nil {
		t.Fatal(err)
	}
	j.mu.Lock()
	snaps := snapshots
	j.mu.Unlock()
	nrefused := 0
	for f := range refused {
		nrefused += len(refused[f])
	}
	if nrefused == 0 || len(snaps) == 0 {
		t.Fatalf("%d records refused, %d snapshots: the faults did not bite", nrefused, len(snaps))
	}
	for k, evs := range snaps {
		for _, e := range evs {
			for f := range refused {
				if refused[f][e.EventID] {
					t.Errorf("snapshot %d: the file replays %s, which the journal refused", k, e.EventID)
				}
			}
		}
	}
	var n, distinct int
	if err := s.reads.QueryRowContext(ctx, "SELECT count(*), count(DISTINCT event_id) FROM events").Scan(&n, &distinct); err != nil {
		t.Fatal(err)
	}
	want := 0
	for i := range perFeeder {
		want += feeders * (i%3 + 1)
	}
	if n != want || distinct != n {
		t.Errorf("%d records committed (%d distinct), want %d", n, distinct, want)
	}
	t.Logf("%d records refused; %d snapshots", nrefused, len(snaps))
}
