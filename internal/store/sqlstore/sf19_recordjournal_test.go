package sqlstore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/postern/postern/internal/store"
)

// sf19Log keeps a store's log lines (JSON) for the test to read.
type sf19Log struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *sf19Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// sf19ReplayFile opens a new SQLite store whose record journal holds
// journal, as a crash left it, and returns the events the open committed,
// what it logged, and the database's path. The store closes when t ends.
func sf19ReplayFile(t *testing.T, journal []byte) ([]store.Event, *sf19Log, string) {
	t.Helper()
	ctx := t.Context()
	s0, path := openTemp(t, directOptions())
	if err := s0.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+recordJournalSuffix, journal, 0o600); err != nil {
		t.Fatal(err)
	}
	log := &sf19Log{}
	s, err := OpenSQLite(ctx, path, slog.New(slog.NewJSONHandler(log, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	got, err := s.ListEvents(ctx, store.EventQuery{Limit: -1})
	if err != nil {
		t.Fatal(err)
	}
	return got, log, path
}

// lines are the log's lines whose message contains msg.
func (l *sf19Log) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if s, _ := m["msg"].(string); strings.Contains(s, msg) {
			out = append(out, m)
		}
	}
	return out
}

// TestSF19JournalFrameDamagedInTheMiddle: at the open, a frame of the
// record journal that does not check, with whole frames after it (the
// file damaged where records answered to clients had been written, not a
// torn last write), is logged as an error with the bytes and frames
// dropped, and the records of the frames after it (and of its append's
// other frames) are committed: the frame is skipped by its length. A
// corrupt length (past which no frame checks) loses the rest, loudly
// too. A torn tail (the last write cut short, or its end never written:
// zeros) stays the quiet case. Real files, reopened by OpenSQLite.
func TestSF19JournalFrameDamagedInTheMiddle(t *testing.T) {
	evs := make([]store.Event, 0, 12)
	for p := range 4 {
		evs = append(evs, journalEvents(fmt.Sprintf("sf19-%d", p))...)
	}
	// Appends: [0 1 2] [3] [4] [5 6] [7 8 9 10 11] ...
	appends := [][2]int{{0, 3}, {3, 4}, {4, 5}, {5, 7}, {7, 12}}
	var file []byte
	starts := make([]int, len(evs)+1) // where each frame starts; starts[len] the end
	for _, a := range appends {
		for i := a[0]; i < a[1]; i++ {
			starts[i] = len(file)
			file = appendFrameOf(file, &evs[i], i < a[1]-1)
		}
	}
	starts[len(evs)] = len(file)
	size := func(i int) int { return starts[i+1] - starts[i] }
	edit := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), file...)) }
	all := func(but ...int) []int {
		var out []int
		for i := range evs {
			if !containsInt(but, i) {
				out = append(out, i)
			}
		}
		return out
	}
	tests := []struct {
		name    string
		journal []byte
		want    []int // the records committed
		loud    bool  // logged as an error
		bytes   int   // dropped (when loud)
		frames  int   // dropped (when loud; -1: some, the lengths of the zeroed frames are lost)
	}{
		{"whole", file, all(), false, 0, 0},
		{"the last frame torn", file[:len(file)-3], all(7, 8, 9, 10, 11), false, 0, 0},
		{"the last write's end never written (zeros)", edit(func(b []byte) []byte {
			clear(b[starts[9]+6:])
			return b
		}), all(7, 8, 9, 10, 11), false, 0, 0},
		{"a lone frame's payload changed", edit(func(b []byte) []byte {
			b[starts[3]+9] ^= 0x20
			return b
		}), all(3), true, size(3), 1},
		{"a checksum changed, in the middle of an append", edit(func(b []byte) []byte {
			b[starts[2]-1] ^= 0x01
			return b
		}), all(1), true, size(1), 1},
		{"two frames changed, far apart", edit(func(b []byte) []byte {
			b[starts[0]+20] ^= 0x08
			b[starts[6]+12] ^= 0x08
			return b
		}), all(0, 6), true, size(0) + size(6), 2},
		{"a length changed: the rest is lost", edit(func(b []byte) []byte {
			b[starts[4]+3] ^= 0x04 // 4 bytes longer or shorter: into the next frame
			return b
		}), []int{0, 1, 2, 3}, true, len(file) - starts[4], 8},
		{"a page of zeros", edit(func(b []byte) []byte {
			clear(b[starts[1]+5 : starts[5]+2])
			return b
		}), nil, true, len(file), -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, log, path := sf19ReplayFile(t, tc.journal)
			var want []store.Event
			for _, i := range tc.want {
				want = append(want, evs[i])
			}
			sameEvents(t, got, want)
			errs := log.lines(t, "in the middle of the journal")
			quiet := log.lines(t, "committed the records journalled before the last stop")
			if !tc.loud {
				if len(errs) != 0 {
					t.Errorf("a torn tail logged as lost records: %v", errs)
				}
				return
			}
			if len(errs) != 1 || len(quiet) != 0 {
				t.Fatalf("error lines %v, info lines %v: want one error line, no info line", errs, quiet)
			}
			e := errs[0]
			if e["level"] != "ERROR" || e["dropped_bytes"] != float64(tc.bytes) || (e["dropped_frames"] != float64(tc.frames)) != (tc.frames < 0) ||
				e["records"] != float64(len(tc.want)) {
				t.Errorf("logged %v; want level ERROR, dropped_bytes %d, dropped_frames %d, records %d", e, tc.bytes, tc.frames, len(tc.want))
			}
			if fi, err := os.Stat(path + recordJournalSuffix); err != nil || fi.Size() != 0 {
				t.Errorf("after the open, the journal: %v, %v; want it empty", fi, err)
			}
		})
	}
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
