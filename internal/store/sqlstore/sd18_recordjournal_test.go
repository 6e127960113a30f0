package sqlstore

import (
	"os"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
)

// A truncate that reports an error but took effect (the journal emptied,
// the error raised after) must not leave the journal counting the old
// length: the cut of a later torn write then truncated the file to that
// stale length, extending it with zeros after the torn part, and every
// record journalled after sat behind a frame the next open cannot read —
// a crash of the process lost records it had answered.
func TestSD18JournalTruncateErrorThatTookEffect(t *testing.T) {
	ctx := t.Context()
	s, _ := openTemp(t, defaultSQLiteOptions())
	j := s.journal
	event := func(id string) store.Event {
		return store.Event{EventID: id, EventTime: time.UnixMicro(1_780_000_000_000_000), EventSource: "sts.amazonaws.com",
			EventName: "GetCallerIdentity", ReadOnly: true, Body: `{"eventID":"` + id + `","pad":"0123456789abcdef0123456789abcdef"}`}
	}
	emptied := make(chan struct{})
	j.mu.Lock()
	// The committer idles (waiting for a record), so these are not raced.
	j.gatherWait = time.Hour // it commits when a reader hurries it (drain)
	realTruncate := j.truncate
	firstCut := true
	j.truncate = func(size int64) error { // called with j.mu held
		err := realTruncate(size)
		if firstCut && size == 0 && err == nil {
			firstCut = false
			close(emptied)
			return errQB15Injected // it took effect, and says it failed
		}
		return err
	}
	j.mu.Unlock()

	if err := s.AppendEventsUnsynced(ctx, []store.Event{event("sd18-a")}); err != nil {
		t.Fatal(err)
	}
	if err := j.drain(ctx); err != nil {
		t.Fatal(err)
	}
	<-emptied // the committer emptied the file once A was committed

	j.mu.Lock()
	fi, err := j.f.Stat()
	if err != nil {
		j.mu.Unlock()
		t.Fatal(err)
	}
	if j.size != fi.Size() {
		t.Errorf("after a truncate that failed but took effect the journal counts %d bytes; the file has %d", j.size, fi.Size())
	}
	// B's write fails part-way (half its bytes reach the file): the
	// journal cuts it off, to the length it counts.
	realWrite := j.write
	torn := true
	j.write = func(b []byte) (int, error) {
		if torn {
			torn = false
			n, err := realWrite(b[:len(b)/2])
			if err != nil {
				return n, err
			}
			return n, errQB15Injected
		}
		return realWrite(b)
	}
	j.mu.Unlock()
	if err := s.AppendEventsUnsynced(ctx, []store.Event{event("sd18-b")}); err != nil {
		t.Fatal(err) // not journalled: committed by the call itself
	}
	j.mu.Lock()
	before := j.written
	j.mu.Unlock()
	if err := s.AppendEventsUnsynced(ctx, []store.Event{event("sd18-c")}); err != nil {
		t.Fatal(err)
	}
	j.mu.Lock()
	taken := j.written > before
	j.mu.Unlock()
	if !taken {
		t.Fatal("the journal did not take C")
	}
	// C waits for its commit (the committer gathers for an hour): what
	// would the next open find if the process died now?
	data, err := os.ReadFile(j.f.Name())
	if err != nil {
		t.Fatal(err)
	}
	evs, good := parseJournal(data)
	if len(evs) != 1 || evs[0].EventID != "sd18-c" {
		ids := []string{}
		for _, e := range evs {
			ids = append(ids, e.EventID)
		}
		t.Errorf("the journal file (%d bytes, %d readable) holds records %v; want [sd18-c], the record journalled and answered: a crash now loses it", len(data), good, ids)
	}
	if err := j.drain(ctx); err != nil {
		t.Fatal(err)
	}
	if n, _ := committedEvents(t, s, "sd18-"); n != 3 {
		t.Errorf("%d of the 3 records stored", n)
	}
}

// readJournalFile reads the journal's file.
func readJournalFile(j *recordJournal) ([]byte, error) { return os.ReadFile(j.f.Name()) }
