package audit

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
)

// TestLoneCallerNextRecordIsNotCompany: a lone caller's next record,
// appended once its last was answered but before the flush goroutine
// looked at the queue again, is not company (it did not queue while the
// store committed): it is committed at once, not held for companyWait.
// The clock holds the flush goroutine at its first reading after the
// commit until that record is queued, which makes the race certain; with
// a fixed clock a wait for company would never end.
func TestLoneCallerNextRecordIsNotCompany(t *testing.T) {
	st := &oneCommitter{}
	w := NewWriter(st, nil)
	var armed atomic.Bool
	armed.Store(true)
	w.b.clock = func() time.Time {
		if armed.CompareAndSwap(true, false) {
			waitQueued(w.b, 1, false)
		}
		return fixedClock()
	}
	withinGuard(t, "a lone caller's next record waited for company", func() error {
		for _, id := range []string{"e0", "e1"} {
			if err := w.b.Append(context.Background(), store.Event{EventID: id, ReadOnly: true}); err != nil {
				return err
			}
		}
		return nil
	})
	st.mu.Lock()
	defer st.mu.Unlock()
	if want := []int{1, 1}; len(st.unsynced) != 2 || st.unsynced[0] != 1 || st.unsynced[1] != 1 {
		t.Fatalf("unsynced batches %v, want %v", st.unsynced, want)
	}
}
