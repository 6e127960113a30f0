package audit

import (
	"errors"
	"testing"
)

// A Write whose own sync fails (reported by that Write) leaves its lines
// to the timer as a failed sync of the timer's does: with no Write after
// it, the timer tries again an interval later and syncs every line.
func TestFileSinkWriteSyncFailureRetried(t *testing.T) {
	h := newSyncHarness(t, 0, 0)
	h.fail = []error{errDisk}
	if err := h.write("a"); !errors.Is(err, errDisk) { // the first Write syncs at once
		t.Fatalf("Write = %v, want %v", err, errDisk)
	}
	ft := h.armed()
	if len(ft) != 1 {
		t.Fatalf("%d timers armed for lines whose sync failed, want 1", len(ft))
	}
	if ft[0].d != FileSyncInterval {
		t.Fatalf("the retry is due in %v, want %v", ft[0].d, FileSyncInterval)
	}
	h.clock.Advance(ft[0].d)
	ft[0].fire()
	if n := h.syncCount(); n != 2 {
		t.Fatalf("%d syncs, want 2 (the Write's, then the timer's retry)", n)
	}
	if got, want := h.lastSync().size, fileSize(t, h.s.Path); got != want {
		t.Fatalf("the retry synced %d bytes of %d", got, want)
	}
	if a := h.armed(); len(a) != 0 {
		t.Fatalf("%d timers armed after the retry synced everything", len(a))
	}
	if err := h.s.Close(); err != nil {
		t.Fatalf("Close = %v: the failure was reported by its Write already", err)
	}
}
