package sqlstore

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/postern/postern/internal/store"
)

// QB's s15 review of the record journal (recordjournal.go): its file's
// directory entry, and a write that fails part-way when cutting it off
// fails too.

var errQB15Injected = errors.New("injected I/O failure")

// The open that creates the journal syncs its directory, after the file
// exists and before any record is taken, so a power loss cannot take the
// file (and the answered records in it) away; when the directory cannot be
// synced, the Store does without the journal (records commit in their
// callers) instead of answering from a file that may not survive.
func TestQB15JournalDirectorySynced(t *testing.T) {
	for _, tc := range []struct {
		name    string
		syncErr error
		want    bool // a journal is opened
	}{
		{"synced", nil, true},
		{"the sync fails", errQB15Injected, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, path := openTemp(t, directOptions())
			jpath := path + recordJournalSuffix
			var synced []string
			j, err := openRecordJournalWith(t.Context(), s, jpath, func(dir string) error {
				if _, err := os.Stat(jpath); err != nil {
					t.Errorf("the directory synced before the file exists: %v", err)
				}
				synced = append(synced, dir)
				return tc.syncErr
			})
			if err != nil {
				t.Fatal(err)
			}
			if j != nil {
				defer j.close()
			}
			if want := []string{filepath.Dir(jpath)}; !slices.Equal(synced, want) {
				t.Errorf("directories synced: %q, want %q", synced, want)
			}
			if (j != nil) != tc.want {
				t.Errorf("journal opened: %v, want %v", j != nil, tc.want)
			}
		})
	}
}

// injectTornWrites makes j's next write put only cut(b) bytes of b in the
// file and fail; each cut (truncate) fails while truncFails says so: two
// I/O failures in a row. Later writes reach the file.
func injectTornWrites(j *recordJournal, cut func(b []byte) int, truncFails func() bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	write, truncate := j.write, j.truncate
	torn := false
	j.write = func(b []byte) (int, error) {
		if torn {
			return write(b)
		}
		torn = true
		n, err := write(b[:cut(b)])
		if err != nil {
			return n, err
		}
		return n, errQB15Injected
	}
	j.truncate = func(size int64) error {
		if truncFails() {
			return errQB15Injected
		}
		return truncate(size)
	}
}

// A write of several records that fails part-way, whose cut fails too,
// leaves whole frames of those records in the file. The journal did not
// take them (their caller commits them, or answers with an error), so an
// open after a crash must not commit them; the records it took before are
// answered and must be committed.
func TestQB15TornWriteNotReplayed(t *testing.T) {
	failed := journalEvents("failed")
	var ends []int
	var frames []byte
	for i := range failed {
		frames = appendFrame(frames, &failed[i])
		ends = append(ends, len(frames))
	}
	for _, tc := range []struct {
		name string
		cut  int // bytes of the failed write that reach the file
	}{
		{"inside the first frame", ends[0] / 2},
		{"after the first frame", ends[0]},
		{"inside the second frame", ends[0] + 3},
		{"after the second frame", ends[1]},
		{"the last byte missing", ends[2] - 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			s, _ := openTemp(t, defaultSQLiteOptions())
			j := s.journal
			// The writer held: no record is committed, so the file holds
			// what a crash would leave.
			_, release, err := s.writeConn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer release()
			answered := journalEvents("answered")
			if err := s.AppendEventsUnsynced(ctx, answered); err != nil {
				t.Fatal(err)
			}
			injectTornWrites(j, func([]byte) int { return tc.cut }, func() bool { return true })
			if j.append(failed) {
				t.Fatal("a write that failed: the journal took its records")
			}
			data, err := os.ReadFile(j.f.Name())
			if err != nil {
				t.Fatal(err)
			}

			// The crash: a database without the records, and this file.
			path2 := filepath.Join(t.TempDir(), "after-crash.db")
			if err := os.WriteFile(path2+recordJournalSuffix, data, 0o600); err != nil {
				t.Fatal(err)
			}
			s2, err := OpenSQLite(ctx, path2, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			got, err := s2.ListEvents(ctx, store.EventQuery{Limit: -1})
			if err != nil {
				t.Fatal(err)
			}
			sameEvents(t, got, answered)
		})
	}
}

// After a write that failed part-way and whose cut failed, the journal
// cuts the torn tail off before it takes records again (behind a torn
// frame, the next open would not find them), and takes them once it can.
func TestQB15JournalTakesRecordsAfterATornWrite(t *testing.T) {
	for _, tc := range []struct {
		name      string
		pending   bool // a record waits for its commit when the write fails
		cutsFail  int  // cuts that fail after the write
		wantTaken []bool
	}{
		{"nothing waits, the next cut works", false, 1, []bool{false, true, true}},
		{"a record waits, the next cut works", true, 1, []bool{false, true, true}},
		{"two more cuts fail", false, 3, []bool{false, false, false, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			s, _ := openTemp(t, defaultSQLiteOptions())
			j := s.journal
			// The writer held: what the journal takes stays in the file.
			_, release, err := s.writeConn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer release()
			var want []store.Event
			if tc.pending {
				ev := journalEvents("waiting")[:1]
				if err := s.AppendEventsUnsynced(ctx, ev); err != nil {
					t.Fatal(err)
				}
				want = append(want, ev...)
			}
			fails := tc.cutsFail
			injectTornWrites(j, func(b []byte) int { return len(b) / 2 }, func() bool {
				fails--
				return fails >= 0
			})
			for i, taken := range tc.wantTaken {
				evs := journalEvents("call" + string(rune('a'+i)))[:2]
				if got := j.append(evs); got != taken {
					t.Fatalf("append %d: taken %v, want %v", i, got, taken)
				}
				if taken {
					want = append(want, evs...)
				}
			}
			data, err := os.ReadFile(j.f.Name())
			if err != nil {
				t.Fatal(err)
			}
			evs, good := parseJournal(data)
			if good != len(data) {
				t.Errorf("the journal holds %d bytes past its last whole frame", len(data)-good)
			}
			sameEvents(t, evs, want)
		})
	}
}

// The reader counts an append's frames only with its last: a journal of
// frames without the "more" flag (written before s15) counts each frame
// alone, and a frame with a flag it does not know stops it.
func TestQB15ParseJournalCountsWholeAppends(t *testing.T) {
	evs := journalEvents("parse")
	appendOf := func(b []byte, evs []store.Event) []byte {
		for i := range evs {
			b = appendFrameOf(b, &evs[i], i < len(evs)-1)
		}
		return b
	}
	one := appendOf(nil, evs[:1])
	three := appendOf(nil, evs)
	unknown := appendFrame(nil, &evs[1])
	unknown[len(unknown)-5] |= 4                                                                        // the flags byte
	binary.BigEndian.PutUint32(unknown[len(unknown)-4:], crc32.ChecksumIEEE(unknown[4:len(unknown)-4])) // still checks
	for _, tc := range []struct {
		name string
		data []byte
		want int // records: evs[:want] if from the start
		good int
	}{
		{"one append of three", three, 3, len(three)},
		{"its last frame missing", three[:len(three)-len(appendFrame(nil, &evs[2]))], 0, 0},
		{"its last frame torn", three[:len(three)-1], 0, 0},
		{"a whole append, then a torn one", append(append([]byte(nil), one...), three[:len(three)-3]...), 1, len(one)},
		{"frames without the flag (before s15)", appendFrame(appendFrame(nil, &evs[0]), &evs[1]), 2, -1},
		{"a flag it does not know", append(append([]byte(nil), one...), unknown...), 1, len(one)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, good := parseJournal(tc.data)
			if tc.good < 0 {
				tc.good = len(tc.data)
			}
			if good != tc.good {
				t.Errorf("good %d, want %d", good, tc.good)
			}
			sameEvents(t, got, evs[:tc.want])
		})
	}
}
