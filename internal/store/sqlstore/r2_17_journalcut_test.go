package sqlstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
)

// The record journal's append empties a file past maxJournalBytes itself
// when every record in it is committed (s17: a file whose emptying by
// the committer failed must not grow until the disk is full). A record
// answered must survive a crash of the process right after that cut, and
// right after records journalled behind it; and the cut must wait for
// the records still waiting for their commit. The child process (a real
// SIGKILL, as TestRecordJournalSurvivesACrash) is
// TestR2_17JournalCutCrashHelper; each mode names what it does before it
// dies.
const (
	r2_17CutHelperEnv = "POSTERN_SQLSTORE_R2_17_DB"
	r2_17CutModeEnv   = "POSTERN_SQLSTORE_R2_17_MODE"
)

// The child's modes.
const (
	// The journal's truncate fails until the file is past
	// maxJournalBytes and appends are refused (their callers commit
	// them); then it works, and the process dies inside the append's
	// cut, before that append's write.
	r2_17KilledInTheCut = "killed in the cut"
	// As above, but the process dies after the cut, with records
	// journalled behind it and not committed (the writer is held).
	r2_17KilledAfterTheCut = "killed after the cut, records waiting"
	// The truncate works; the writer is held from the start, so the
	// records wait in the file, which grows past maxJournalBytes; the
	// process dies after one more append: the cut must not have taken
	// the waiting records with it.
	r2_17KilledPastTheBound = "killed past the bound, records waiting"
)

// r2_17Event is the i-th record of the children: 16 KiB bodies, so that
// the file passes maxJournalBytes in a few hundred records.
func r2_17Event(i int) store.Event {
	return store.Event{EventID: fmt.Sprintf("r2-17-%05d", i), EventTime: time.UnixMicro(int64(i) + 1),
		EventSource: "sts.amazonaws.com", EventName: "GetCallerIdentity", ReadOnly: true,
		Body: `{"pad":"` + strings.Repeat("y", 16<<10) + `"}`}
}

// r2_17Counts are the numbers of records the child appends: through a
// journal that cannot be emptied (2.5 times maxJournalBytes), and past
// the bound with the writer held (one append more than fills it).
func r2_17Counts() (refused, pastBound int) {
	ev := r2_17Event(0)
	frame := len(appendFrame(nil, &ev))
	return 5 * maxJournalBytes / 2 / frame, maxJournalBytes/frame + 2
}

func TestR2_17NoAnsweredRecordLostWhenKilledAroundTheCut(t *testing.T) {
	refused, pastBound := r2_17Counts()
	for _, tc := range []struct {
		mode     string
		answered int // records r2-17-00000 … answered before the SIGKILL
	}{
		{r2_17KilledInTheCut, refused},
		{r2_17KilledAfterTheCut, refused + 3},
		{r2_17KilledPastTheBound, pastBound},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			t.Setenv(r2_17CutModeEnv, tc.mode)
			s, out := reopenAfterCrash(t, "TestR2_17JournalCutCrashHelper", r2_17CutHelperEnv)
			rows, err := s.reads.QueryContext(t.Context(), "SELECT event_id, count(*) FROM events WHERE event_id LIKE 'r2-17-%' GROUP BY event_id")
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			stored := map[string]int{}
			for rows.Next() {
				var id string
				var n int
				if err := rows.Scan(&id, &n); err != nil {
					t.Fatal(err)
				}
				stored[id] = n
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			missing := 0
			for i := range tc.answered {
				id := r2_17Event(i).EventID
				switch n := stored[id]; {
				case n == 0:
					missing++
				case n > 1:
					t.Errorf("record %s stored %d times", id, n)
				}
			}
			if missing > 0 {
				t.Errorf("%d of the %d records answered before the crash are missing after the reopen", missing, tc.answered)
			}
			if t.Failed() {
				t.Logf("helper:\n%s", out)
			}
		})
	}
}

// errR2_17Cut is the injected failure of the journal's truncate.
var errR2_17Cut = errors.New("r2_17: injected truncate failure")

// injectCutFailure makes j's truncate fail with err until mend is called
// (the journal's own truncate runs again after).
func injectCutFailure(j *recordJournal, err error) (mend func()) {
	var fails atomic.Bool
	fails.Store(true)
	j.mu.Lock()
	defer j.mu.Unlock()
	truncate := j.truncate
	j.truncate = func(size int64) error {
		if fails.Load() {
			return err
		}
		return truncate(size)
	}
	return func() { fails.Store(false) }
}

// committedEvents drains s's record journal (every record journalled
// committed) and counts the stored events whose id starts with prefix:
// all, and distinct ids.
func committedEvents(t *testing.T, s *Store, prefix string) (count, distinct int) {
	t.Helper()
	ctx := t.Context()
	if err := s.journal.drain(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.reads.QueryRowContext(ctx, "SELECT count(*), count(DISTINCT event_id) FROM events WHERE event_id LIKE ?", prefix+"%").Scan(&count, &distinct); err != nil {
		t.Fatal(err)
	}
	return count, distinct
}

// TestR2_17JournalCutCrashHelper is the child process of
// TestR2_17NoAnsweredRecordLostWhenKilledAroundTheCut: without its
// environment variable it has nothing to do.
func TestR2_17JournalCutCrashHelper(t *testing.T) {
	path := os.Getenv(r2_17CutHelperEnv)
	if path == "" {
		return
	}
	mode := os.Getenv(r2_17CutModeEnv)
	// A guard against a hang (the parent sees no SIGKILL), not a measurement.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := OpenSQLite(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	j := s.journal
	die := func() {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal ends the process
	}
	var broken, dieInCut atomic.Bool
	j.mu.Lock()
	cut := j.truncate
	j.truncate = func(size int64) error {
		if broken.Load() {
			return errR2_17Cut
		}
		err := cut(size)
		if err == nil && size == 0 && dieInCut.Load() {
			die()
		}
		return err
	}
	j.mu.Unlock()
	refused, pastBound := r2_17Counts()
	// holdWriter holds the write connection, so that the journal's
	// commits wait, and returns once the committer waits in one with the
	// first record journalled after (its batch taken while the file was
	// small: a batch taken past maxJournalBytes would hold appends).
	holdWriter := func(first int) {
		if _, _, err := s.writeConn(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.AppendEventsUnsynced(ctx, []store.Event{r2_17Event(first)}); err != nil {
			t.Fatal(err)
		}
		for !j.committing.Load() {
			if ctx.Err() != nil {
				t.Fatal("the committer never began a commit")
			}
			runtime.Gosched()
		}
	}

	if mode == r2_17KilledPastTheBound {
		holdWriter(0)
		for i := 1; i < pastBound; i++ {
			if err := s.AppendEventsUnsynced(ctx, []store.Event{r2_17Event(i)}); err != nil {
				t.Fatal(err)
			}
		}
		// Taken, all of them: the file is past maxJournalBytes (unless a
		// cut took the waiting records, which the parent finds missing).
		j.mu.Lock()
		written := j.written
		j.mu.Unlock()
		if written != uint64(pastBound) {
			t.Fatalf("the journal took %d records, want %d", written, pastBound)
		}
		die()
	}

	broken.Store(true)
	for i := range refused {
		if err := s.AppendEventsUnsynced(ctx, []store.Event{r2_17Event(i)}); err != nil {
			t.Fatal(err)
		}
		if err := j.drain(ctx); err != nil {
			t.Fatal(err)
		}
	}
	j.mu.Lock()
	size, written := j.size, j.written
	j.mu.Unlock()
	if size <= maxJournalBytes || written >= uint64(refused) {
		t.Fatalf("with its truncate failing the journal took %d of %d records and holds %d bytes: want it past maxJournalBytes (%d) and refusing", written, refused, size, maxJournalBytes)
	}
	broken.Store(false)
	switch mode {
	case r2_17KilledInTheCut:
		dieInCut.Store(true)
		err := s.AppendEventsUnsynced(ctx, []store.Event{r2_17Event(refused)})
		t.Fatalf("the append after the truncate mended did not cut the file (it returned %v)", err)
	case r2_17KilledAfterTheCut:
		holdWriter(refused)
		for i := refused + 1; i < refused+3; i++ {
			if err := s.AppendEventsUnsynced(ctx, []store.Event{r2_17Event(i)}); err != nil {
				t.Fatal(err)
			}
		}
		j.mu.Lock()
		size, written2 := j.size, j.written
		j.mu.Unlock()
		if written2 != written+3 || size > maxJournalBytes {
			t.Fatalf("after the truncate mended the journal took %d records and holds %d bytes: want the 3 taken, the file cut", written2-written, size)
		}
		die()
	default:
		t.Fatalf("unknown mode %q", mode)
	}
}

// Many callers at once while the journal's truncate fails: some records
// are journalled, the rest (once the file is past maxJournalBytes with
// none waiting) refused and committed by their callers; each is stored
// exactly once, and once the truncate works the journal takes records
// again from an emptied file.
func TestR2_17ConcurrentCallersWhileTheCutFails(t *testing.T) {
	ctx := t.Context()
	s, _ := openTemp(t, defaultSQLiteOptions())
	j := s.journal
	mend := injectCutFailure(j, errR2_17Cut)
	refused, _ := r2_17Counts()
	const callers = 4
	per := refused / 2 // 1.25 times maxJournalBytes in all, bounded
	errs := make(chan error, callers)
	for c := range callers {
		go func() {
			for i := range per {
				if err := s.AppendEventsUnsynced(ctx, []store.Event{r2_17Event(c*per + i)}); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range callers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if err := j.drain(ctx); err != nil {
		t.Fatal(err)
	}
	j.mu.Lock()
	written := j.written
	j.mu.Unlock()
	if written >= uint64(callers*per) {
		t.Errorf("with its truncate failing the journal took all %d records: want those past maxJournalBytes refused", written)
	}
	mend()
	total := callers * per
	if err := s.AppendEventsUnsynced(ctx, []store.Event{r2_17Event(total)}); err != nil {
		t.Fatal(err)
	}
	j.mu.Lock()
	taken, size := j.written > written, j.size
	j.mu.Unlock()
	ev := r2_17Event(total)
	if frame := int64(len(appendFrame(nil, &ev))); !taken || size > 2*frame {
		t.Errorf("once the truncate works: record taken %v, the file %d bytes; want taken, at most %d bytes", taken, size, 2*frame)
	}
	count, distinct := committedEvents(t, s, "r2-17-")
	if count != total+1 || distinct != count {
		t.Errorf("%d records stored (%d distinct), want %d, each once", count, distinct, total+1)
	}
}

// A journal that cannot be emptied says so once, not at every commit
// (a failing disk would log a line per commit, up to one per
// recordGatherWait, until the file reached maxJournalBytes, and then
// nothing while every record commits in its caller), and says once that
// it is emptied again.
func TestR2_17JournalCutFailureLoggedOnce(t *testing.T) {
	ctx := t.Context()
	var logs bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))
	s, err := openSQLite(ctx, filepath.Join(t.TempDir(), "postern.db"), logger, defaultSQLiteOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	j := s.journal
	mend := injectCutFailure(j, errR2_17Cut)
	// lines counts the journal's log lines at level since the last call.
	seen := 0
	lines := func(level string) (n int) {
		mu.Lock()
		defer mu.Unlock()
		out := logs.String()
		for _, l := range strings.Split(out[seen:], "\n") {
			if strings.Contains(l, "level="+level) && strings.Contains(l, "record journal") {
				n++
			}
		}
		seen = len(out)
		return n
	}
	refused, _ := r2_17Counts()
	// Bounded: 2.5 times maxJournalBytes, each record committed (drain)
	// before the next, so the committer tries to empty the file after each.
	for i := range refused {
		if err := s.AppendEventsUnsynced(ctx, []store.Event{r2_17Event(i)}); err != nil {
			t.Fatal(err)
		}
		if err := j.drain(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := lines("WARN"); n != 1 {
		t.Errorf("while the file could not be emptied (%d records, 2.5 times maxJournalBytes): %d warnings, want 1", refused, n)
	}
	mend()
	if err := s.AppendEventsUnsynced(ctx, []store.Event{r2_17Event(refused)}); err != nil {
		t.Fatal(err)
	}
	if n := lines("INFO"); n != 1 {
		t.Errorf("once the file is emptied again: %d lines at INFO, want 1", n)
	}
	if err := j.drain(ctx); err != nil {
		t.Fatal(err)
	}
	if n := lines("WARN"); n != 0 {
		t.Errorf("after the file was emptied again: %d warnings, want none", n)
	}
}
