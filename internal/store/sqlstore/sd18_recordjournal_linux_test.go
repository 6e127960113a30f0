package sqlstore

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/internal/testutil/procstat"
)

// The journal syncs its file while a commit is late or failing, so that
// answered records wait on the disk, not in memory. A failed sync is not
// repeated by the next one: on Linux the kernel marks the pages it failed
// to write clean, and the next fsync returns 0 without them. The failure
// injected here is the kernel's (the file synced, an error reported); the
// sync after it must still find the records to write (dirty pages: the
// file written again), and the file must hold the same frames.
func TestSD18JournalWrittenAgainAfterAFailedSync(t *testing.T) {
	ctx := t.Context()
	s, _ := openTemp(t, defaultSQLiteOptions())
	j := s.journal
	var mu sync.Mutex
	fail := false
	var dirty []int // the file's unsynced pages as each sync began
	j.mu.Lock()
	j.gatherWait = time.Hour // the records wait for their commit until drain
	j.sync = func() error {
		d := procstat.MustUnsyncedPages(t, fmt.Sprintf("/proc/self/fd/%d", j.f.Fd()))
		mu.Lock()
		dirty = append(dirty, d)
		f := fail
		fail = false
		mu.Unlock()
		err := j.f.Sync()
		if f && err == nil {
			return errQB15Injected
		}
		return err
	}
	j.mu.Unlock()

	evs := journalEvents("sd18-sync")
	if err := s.AppendEventsUnsynced(ctx, evs); err != nil {
		t.Fatal(err)
	}
	j.mu.Lock()
	taken := j.written == uint64(len(evs))
	size := j.size
	j.mu.Unlock()
	if !taken {
		t.Fatal("the journal did not take the records")
	}
	mu.Lock()
	fail = true
	mu.Unlock()
	j.syncWhileLate() // the commit is late: sync; this one fails
	j.syncWhileLate() // the next
	mu.Lock()
	got := append([]int(nil), dirty...)
	mu.Unlock()
	if len(got) != 2 {
		t.Fatalf("%d syncs, want 2", len(got))
	}
	if got[0] == 0 {
		t.Fatalf("the first sync found no unsynced page: nothing to show")
	}
	if got[1] == 0 {
		t.Errorf("the sync after a failed one found no unsynced page of the journal: the records the failed sync dropped " +
			"were not written again, and this sync counts them as on the disk")
	}
	if j.rewriteDue.Load() {
		t.Error("a rewrite is still due after the file was written again")
	}
	data, err := readJournalFile(j)
	if err != nil {
		t.Fatal(err)
	}
	if parsed, good := parseJournal(data); int64(len(data)) != size || good != len(data) || len(parsed) != len(evs) {
		t.Errorf("the journal after the rewrite: %d bytes (%d readable, %d records), want the %d bytes of the %d records", len(data), good, len(parsed), size, len(evs))
	}
	if err := j.drain(ctx); err != nil {
		t.Fatal(err)
	}
	if n, _ := committedEvents(t, s, "sd18-sync"); n != len(evs) {
		t.Errorf("%d of the %d records stored", n, len(evs))
	}
}
