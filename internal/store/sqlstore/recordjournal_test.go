package sqlstore

import (
	"context"
	"os"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
)

// directOptions are the default options without the record journal: each
// read-only record commits in its caller (the path AppendEventsUnsynced
// falls back to when the journal does not take a record).
func directOptions() sqliteOptions {
	o := defaultSQLiteOptions()
	o.noRecordJournal = true
	return o
}

// journalEvents are read-only records of every shape the journal frames:
// empty fields, a long body, a zero time.
func journalEvents(prefix string) []store.Event {
	return []store.Event{
		{EventID: prefix + "-1", EventTime: time.UnixMicro(1_780_000_000_123_456), EventSource: "sts.amazonaws.com", EventName: "GetCallerIdentity",
			ReadOnly: true, Username: "alice", AccessKeyID: "AKIAIOSFODNN7EXAMPLE", RequestID: "req-1", Body: `{"eventID":"` + prefix + `-1"}`},
		{EventID: prefix + "-2", EventTime: time.UnixMicro(1_780_000_000_223_456), EventSource: "ec2.amazonaws.com", EventName: "DescribeInstanceConnectEndpoints",
			ReadOnly: true, Username: "bob", AccessKeyID: "AKIAI44QH8DHBEXAMPLE", ResourceType: "AWS::EC2::InstanceConnectEndpoint",
			ResourceName: "eice-0123456789abcdef0", ErrorCode: "UnauthorizedOperation", RequestID: "req-2", Body: `{"pad":"` + strings.Repeat("é", 700) + `"}`},
		{EventID: prefix + "-3", EventSource: "sts.amazonaws.com", EventName: "GetCallerIdentity"},
	}
}

// sameEvents fails t unless got holds want's records (newest first, as
// ListEvents orders them, compared by id), field for field.
func sameEvents(t *testing.T, got, want []store.Event) {
	t.Helper()
	byID := map[string]store.Event{}
	for _, e := range got {
		byID[e.EventID] = e
	}
	if len(got) != len(want) {
		t.Errorf("%d records, want %d: %+v", len(got), len(want), got)
	}
	for _, w := range want {
		g, ok := byID[w.EventID]
		if !ok {
			t.Errorf("record %s is missing", w.EventID)
			continue
		}
		if !g.EventTime.Equal(w.EventTime) {
			t.Errorf("record %s: time %v, want %v", w.EventID, g.EventTime, w.EventTime)
		}
		g.EventTime, w.EventTime = time.Time{}, time.Time{}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("record %s:\n got %+v\nwant %+v", w.EventID, g, w)
		}
	}
}

// A read-only record is taken while the write connection is busy (it is
// journalled, not committed by its caller), is listed as soon as the
// writer is free (ListEvents waits for the journalled records), and the
// journal is empty once the Store is closed.
func TestRecordJournalDoesNotWaitForTheWriter(t *testing.T) {
	ctx := t.Context()
	s, path := openTemp(t, defaultSQLiteOptions())
	conn, release, err := s.writeConn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	evs := journalEvents("held")
	// A guard against a hang, not a measurement: the writer stays held,
	// so an append that waited for it fails (at writeWait) whatever the
	// guard; 5 s could expire on a starved CI machine under -race.
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	err = s.AppendEventsUnsynced(wctx, evs[:2])
	if err == nil {
		err = s.AppendEventsUnsynced(wctx, evs[2:])
	}
	cancel()
	if err != nil {
		release()
		t.Fatalf("append while the writer was held: %v, want it taken at once", err)
	}
	var n int
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM events").Scan(&n); err != nil || n != 0 {
		t.Errorf("while the writer was held: %d records committed (%v)", n, err)
	}
	if fi, err := os.Stat(path + recordJournalSuffix); err != nil || fi.Size() == 0 {
		t.Errorf("while the writer was held, the journal: %v, %v; want the records in it", fi, err)
	}
	release()
	got, err := s.ListEvents(ctx, store.EventQuery{Limit: -1})
	if err != nil {
		t.Fatal(err)
	}
	sameEvents(t, got, evs)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path + recordJournalSuffix); err != nil || fi.Size() != 0 {
		t.Errorf("after Close, the journal: %v, %v; want it empty", fi, err)
	}
}

// recordJournalHelperEnv makes TestRecordJournalCrashHelper, in a child
// process, journal records that cannot commit (the writer is held) and
// then kill itself.
const recordJournalHelperEnv = "POSTERN_SQLSTORE_RECORD_JOURNAL_DB"

// Records journalled but not committed when the process dies (SIGKILL)
// are committed by the next open, field for field, and the journal is
// emptied.
func TestRecordJournalSurvivesACrash(t *testing.T) {
	s, out := reopenAfterCrash(t, "TestRecordJournalCrashHelper", recordJournalHelperEnv)
	got, err := s.ListEvents(t.Context(), store.EventQuery{Limit: -1})
	if err != nil {
		t.Fatal(err)
	}
	sameEvents(t, got, journalEvents("crash"))
	if t.Failed() {
		t.Logf("helper:\n%s", out)
	}
}

// TestRecordJournalCrashHelper is the child process of
// TestRecordJournalSurvivesACrash: without its environment variable it has
// nothing to do.
func TestRecordJournalCrashHelper(t *testing.T) {
	path := os.Getenv(recordJournalHelperEnv)
	if path == "" {
		return
	}
	s, err := OpenSQLite(context.Background(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Nothing commits while the writer is held: the records are only in
	// the journal when the process dies.
	_, _, err = s.writeConn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// A guard against a hang: the appends do not wait for the held
	// writer (a starved machine may still take seconds over them).
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	evs := journalEvents("crash")
	for i := range evs {
		if err := s.AppendEventsUnsynced(ctx, evs[i:i+1]); err != nil {
			t.Fatal(err)
		}
	}
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // the signal ends the process
}

// The next open commits the journal's frames up to a torn one (a crash of
// the machine can leave the last write in part) and past a corrupt one
// whose length leads to the next frame,
// keeps a record already committed as it is, and empties the journal.
func TestRecordJournalReplay(t *testing.T) {
	evs := journalEvents("replay")
	var frames []byte
	var ends []int
	for i := range evs {
		frames = appendFrame(frames, &evs[i])
		ends = append(ends, len(frames))
	}
	flip := func(b []byte, at int) []byte {
		b = append([]byte(nil), b...)
		b[at] ^= 0x40
		return b
	}
	for _, tc := range []struct {
		name    string
		journal []byte
		want    []int // the records committed (the first is committed before)
	}{
		{"empty", nil, nil},
		{"whole", frames, []int{1, 2}},
		{"the last frame torn", frames[:len(frames)-5], []int{1}},
		{"only a length left", append(append([]byte(nil), frames[:ends[0]]...), 0, 0, 1), nil},
		// A frame damaged in the middle of the file is skipped by its
		// length: the frames after it are kept (SF19).
		{"the second frame's payload changed", flip(frames, ends[0]+10), []int{2}},
		{"the second frame's checksum changed", flip(frames, ends[1]-1), []int{2}},
		{"a length past the end", append([]byte{0xff, 0xff, 0xff, 0xff}, frames...), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			s, path := openTemp(t, directOptions())
			// A record whose commit the crash did not stop: kept as it
			// was committed.
			first := evs[0]
			first.Body = `{"committed":"before the crash"}`
			if err := s.AppendEvents(ctx, []store.Event{first}); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path+recordJournalSuffix, tc.journal, 0o600); err != nil {
				t.Fatal(err)
			}
			s2, err := OpenSQLite(ctx, path, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			got, err := s2.ListEvents(ctx, store.EventQuery{Limit: -1})
			if err != nil {
				t.Fatal(err)
			}
			want := []store.Event{first}
			for _, i := range tc.want {
				want = append(want, evs[i])
			}
			sameEvents(t, got, want)
			if fi, err := os.Stat(path + recordJournalSuffix); err != nil || fi.Size() != 0 {
				t.Errorf("after the open, the journal: %v, %v; want it empty", fi, err)
			}
		})
	}
}

// A read-only record whose id is stored already (a record journalled
// twice) is no error and does not hold up the records committed with it:
// the record stored first is kept, the others are stored.
func TestRecordJournalKeepsTheFirstOfARepeatedID(t *testing.T) {
	ctx := t.Context()
	s, _ := openTemp(t, defaultSQLiteOptions())
	evs := journalEvents("dup")
	if err := s.AppendEventsUnsynced(ctx, evs[:1]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ListEvents(ctx, store.EventQuery{Limit: -1}); err != nil { // committed
		t.Fatal(err)
	}
	again := evs[0]
	again.Body = `{"journalled":"twice"}`
	if err := s.AppendEventsUnsynced(ctx, []store.Event{evs[1], again, evs[2]}); err != nil {
		t.Fatalf("a batch with a stored id: %v, want it taken", err)
	}
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second) // a guard against commits that never succeed, not a measurement
	defer cancel()
	got, err := s.ListEvents(lctx, store.EventQuery{Limit: -1})
	if err != nil {
		t.Fatal(err)
	}
	sameEvents(t, got, evs)
	// The journal still takes records (its commits did not fail).
	late := store.Event{EventID: "dup-late", EventTime: time.UnixMicro(1_780_000_001_000_000), EventSource: "sts.amazonaws.com", EventName: "GetCallerIdentity"}
	if err := s.AppendEventsUnsynced(ctx, []store.Event{late}); err != nil {
		t.Fatal(err)
	}
	s.journal.mu.Lock()
	failing := s.journal.failing
	s.journal.mu.Unlock()
	if failing {
		t.Error("the journal's commits failed on a repeated id")
	}
	got, err = s.ListEvents(ctx, store.EventQuery{Limit: -1})
	if err != nil {
		t.Fatal(err)
	}
	sameEvents(t, got, append(evs, late))
}
