package sqlstore

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
)

// FuzzParseJournal feeds the reader bytes in which a frame with a valid
// CRC and a "more" flag practically never appears, so it does not reach
// the whole-append rule; these two fuzz targets do, with files the
// writer's own encoding builds.

// r1Event is the i-th record of a fuzz run; script varies its shape.
func r1Event(i int, b byte) store.Event {
	e := store.Event{EventID: "r1-" + strconv.Itoa(i), EventSource: "sts.amazonaws.com", EventName: "GetCallerIdentity",
		ReadOnly: b&4 != 0, Body: string(make([]byte, int(b>>3)))}
	if b&8 != 0 {
		e.EventTime = time.UnixMicro(1_780_000_000_000_000 + int64(i)).UTC()
	}
	return e
}

// FuzzR1_15ParseJournalWholeAppends: a file of appends (1–3 frames each;
// appends from before s15 as lone frames without the flag), cut at any
// byte (a torn write, a crash of the machine), reads back exactly the
// records of the appends that end before the cut, and good is the end
// of the last of them.
func FuzzR1_15ParseJournalWholeAppends(f *testing.F) {
	f.Add([]byte{0, 1, 2}, uint16(0xffff))
	f.Add([]byte{2, 2, 0x82}, uint16(100))
	f.Add([]byte{1, 0x81, 2}, uint16(2000))
	f.Fuzz(func(t *testing.T, script []byte, cut uint16) {
		if len(script) > 64 {
			script = script[:64]
		}
		var data []byte
		var ends []int              // the end of each append
		var records [][]store.Event // each append's records
		n := 0
		for _, b := range script {
			var evs []store.Event
			for range int(b%3) + 1 {
				evs = append(evs, r1Event(n, b))
				n++
			}
			if b&0x80 != 0 { // before s15: each frame is an append
				for i := range evs {
					data = appendFrame(data, &evs[i])
					ends, records = append(ends, len(data)), append(records, evs[i:i+1])
				}
				continue
			}
			for i := range evs {
				data = appendFrameOf(data, &evs[i], i < len(evs)-1)
			}
			ends, records = append(ends, len(data)), append(records, evs)
		}
		c := int(cut) % (len(data) + 1)
		var want []store.Event
		wantGood := 0
		for i, end := range ends {
			if end > c {
				break
			}
			want, wantGood = append(want, records[i]...), end
		}
		got, good := parseJournal(data[:c])
		if good != wantGood {
			t.Fatalf("cut at %d of %d: good %d, want %d", c, len(data), good, wantGood)
		}
		if len(got) != len(want) {
			t.Fatalf("cut at %d of %d: %d records, want %d", c, len(data), len(got), len(want))
		}
		for i := range want {
			if got[i].EventID != want[i].EventID || got[i].ReadOnly != want[i].ReadOnly || got[i].Body != want[i].Body ||
				!got[i].EventTime.Equal(want[i].EventTime) {
				t.Fatalf("record %d: %+v, want %+v", i, got[i], want[i])
			}
		}
	})
}

// FuzzR1_15JournalFaults drives the journal's appends and the emptying
// of its file (the committer's, with pending records committed) through
// writes that fail part-way, cuts that fail and commits that fail, in
// any order. After every step, the file as a crash would leave it
// replays every record the journal took and has not committed, and no
// record it did not take; once the faults end and every record is
// committed, it takes records again.
func FuzzR1_15JournalFaults(f *testing.F) {
	f.Add([]byte{1, 50, 5, 0, 0, 2})                  // a torn write, its cut failing; the next append
	f.Add([]byte{0, 2, 3, 1, 2, 0, 0, 1})             // a commit failing, then its file's emptying
	f.Add([]byte{0, 1, 9, 200, 2, 0, 1, 10, 0, 0})    // a torn write while a record waits
	f.Add([]byte{0, 0, 13, 3, 2, 0, 1, 255, 0, 0, 2}) // cuts failing twice; a whole write with an error
	f.Add([]byte{33, 150, 0, 0, 0, 1})                // three records torn after two frames; two cuts fail
	f.Fuzz(func(t *testing.T, script []byte) {
		if len(script) > 64 {
			script = script[:64]
		}
		file, err := os.OpenFile(filepath.Join(t.TempDir(), "j"+recordJournalSuffix), os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_TRUNC, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		defer file.Close()
		j := &recordJournal{f: file, log: slog.New(slog.NewTextHandler(io.Discard, nil)), progress: make(chan struct{}),
			wake: make(chan struct{}, 1), hurry: make(chan struct{}, 1), sync: file.Sync, truncate: file.Truncate}
		var tear = -1    // the next write puts this many bytes and fails (-1: it works)
		var cutsFail int // the next cuts (truncates) that fail
		j.write = func(b []byte) (int, error) {
			if tear < 0 {
				return file.Write(b)
			}
			n := min(tear, len(b))
			tear = -1
			w, err := file.Write(b[:n])
			if err != nil {
				return w, err
			}
			return w, errR1_15Injected
		}
		j.truncate = func(size int64) error {
			if cutsFail > 0 {
				cutsFail--
				return errR1_15Injected
			}
			return file.Truncate(size)
		}
		taken := map[string]bool{}   // every record the journal took
		waiting := map[string]bool{} // of those, not committed
		next := 0
		appendSome := func(k int) bool {
			evs := make([]store.Event, k)
			for i := range evs {
				evs[i] = r1Event(next, byte(next))
				next++
			}
			ok := j.append(evs)
			if ok {
				for _, e := range evs {
					taken[e.EventID], waiting[e.EventID] = true, true
				}
			}
			return ok
		}
		// empty: the committer's pass once its commits work (every
		// record committed, then the file emptied). It runs when an
		// append woke it, or while it retries a failed commit; not
		// otherwise.
		empty := func() {
			j.mu.Lock()
			run := j.failing && len(j.pending) > 0
			j.mu.Unlock()
			select {
			case <-j.wake:
				run = true
			default:
			}
			if !run {
				return
			}
			j.mu.Lock()
			j.committed += uint64(len(j.pending))
			j.pending = nil
			j.mu.Unlock()
			clear(waiting)
			j.commitWaiting(nil, false)
		}
		check := func(step int) {
			data, err := os.ReadFile(file.Name())
			if err != nil {
				t.Fatal(err)
			}
			evs, _ := parseJournal(data)
			seen := map[string]bool{}
			for _, e := range evs {
				if !taken[e.EventID] {
					t.Fatalf("step %d: the file replays %s, which the journal did not take", step, e.EventID)
				}
				if seen[e.EventID] {
					t.Fatalf("step %d: the file replays %s twice", step, e.EventID)
				}
				seen[e.EventID] = true
			}
			for id := range waiting {
				if !seen[id] {
					t.Fatalf("step %d: %s, taken and not committed, is not replayed", step, id)
				}
			}
		}
		for i := 0; i+1 < len(script); i += 2 {
			op, arg := script[i], script[i+1]
			switch op % 4 {
			case 0:
				appendSome(int(arg%3) + 1)
			case 1: // a write that fails after arg bytes; then cuts fail
				tear, cutsFail = int(arg), int(op>>2)%3
				appendSome(int(op>>4)%3 + 1)
				tear = -1
			case 2:
				empty()
			case 3: // a commit fails (only with records waiting)
				j.mu.Lock()
				if len(j.pending) > 0 {
					j.failing = true
				}
				j.mu.Unlock()
				cutsFail = int(arg) % 3
			}
			check(i)
		}
		cutsFail = 0
		empty()
		check(len(script))
		if !appendSome(1) {
			t.Fatal("after the faults, with every record committed: the journal does not take records")
		}
		check(len(script) + 1)
	})
}
