package sqlstore

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// After a failed sync the journal writes its file again from what it
// reads back. After a failed writeback the kernel may have dropped the
// pages, and the read then returns what the disk holds (stale bytes,
// zeros), not the frames. Written over and synced, that would count as the
// records being on the disk, while the next open stops reading at the
// first frame that does not check and loses every record after it. The
// rewrite must check the frames it read (the whole j.size must parse) and
// refuse to count garbage as done. The injected failure zeroes the first
// frame's header as the page the read returns.
func TestRD18JournalRewriteChecksTheFramesItReadBack(t *testing.T) {
	ctx := t.Context()
	s, _ := openTemp(t, defaultSQLiteOptions())
	j := s.journal
	var mu sync.Mutex
	fail, syncs := false, 0
	j.mu.Lock()
	j.gatherWait = time.Hour // the records wait for their commit until drain
	j.sync = func() error {
		mu.Lock()
		f := fail
		fail = false
		syncs++
		mu.Unlock()
		err := j.f.Sync()
		if f && err == nil {
			// The failed writeback's page, dropped: a read now returns
			// zeros where the first frame starts.
			w, err := os.OpenFile(j.f.Name(), os.O_WRONLY, 0)
			if err != nil {
				t.Error(err)
				return err
			}
			defer w.Close()
			if _, err := w.WriteAt(make([]byte, 8), 0); err != nil {
				t.Error(err)
			}
			return errQB15Injected
		}
		return err
	}
	j.mu.Unlock()

	evs := journalEvents("rd18-garbage")
	if err := s.AppendEventsUnsynced(ctx, evs); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	fail = true
	mu.Unlock()
	j.syncWhileLate() // fails; the rewrite reads back zeros
	if !j.rewriteDue.Load() {
		t.Error("the rewrite read back bytes that are not the journal's frames, wrote them over and counted the file as written again: " +
			"the next sync would count the records as on the disk")
	}
	j.syncWhileLate() // tries again: still refuses
	if !j.rewriteDue.Load() {
		t.Error("the second rewrite counted the garbage as the records")
	}
	// The records are still committed (they are in memory).
	if err := j.drain(ctx); err != nil {
		t.Fatal(err)
	}
	if n, _ := committedEvents(t, s, "rd18-garbage"); n != len(evs) {
		t.Errorf("%d of the %d records stored", n, len(evs))
	}
}

// The late-sync timer's rewrite (TryLock) races appends, the committer's
// commits and cuts, and Close. Whatever the order, a rewrite writes the
// file's own frames over themselves: no record is lost or doubled, and the
// file holds whole frames only (the next open reads all of it).
func TestRD18JournalRewriteRacesAppendsAndCuts(t *testing.T) {
	ctx := t.Context()
	s, _ := openTemp(t, defaultSQLiteOptions())
	j := s.journal
	var n atomic.Int64
	j.mu.Lock()
	j.sync = func() error {
		err := j.f.Sync()
		if n.Add(1)%2 == 1 && err == nil {
			return errQB15Injected // the kernel's failure: synced, then reported
		}
		return err
	}
	j.mu.Unlock()
	const rounds = 60
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range rounds * 2 {
			j.syncWhileLate() // the timer, racing the rest
		}
	}()
	var want int
	for i := range rounds {
		evs := journalEvents(fmt.Sprintf("rd18-race-%03d", i))
		if err := s.AppendEventsUnsynced(ctx, evs); err != nil {
			t.Fatal(err)
		}
		want += len(evs)
		if i%10 == 0 {
			j.mu.Lock()
			j.hurryUp() // a commit now, and its cut
			j.mu.Unlock()
		}
	}
	<-done
	j.mu.Lock()
	size := j.size
	j.mu.Unlock()
	data, err := readJournalFile(j)
	if err != nil {
		t.Fatal(err)
	}
	if _, good := parseJournal(data[:min(int64(len(data)), size)]); int64(good) != size || int64(len(data)) < size {
		t.Errorf("the journal counts %d bytes; the file has %d, %d of them whole frames", size, len(data), good)
	}
	if count, distinct := committedEvents(t, s, "rd18-race-"); count != want || distinct != want {
		t.Errorf("%d records stored (%d distinct), want %d", count, distinct, want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	j.syncWhileLate() // the timer after Close: no panic, no write
}
