package audit

import (
	"context"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
)

// oneCommitter is unsyncedEvents that counts the commits that ran beside
// another (none may: the sinks get batches in commit order) and keeps
// the order of the committed ids.
type oneCommitter struct {
	unsyncedEvents
	inFlight, overlaps atomic.Int32
	order              []string // under unsyncedEvents.mu
	// gate, when set, holds the next commit until it is closed; entered
	// is closed when that commit waits at it.
	gate, entered chan struct{}
}

func (o *oneCommitter) enter(evs []store.Event) func() {
	if o.inFlight.Add(1) > 1 {
		o.overlaps.Add(1)
	}
	if o.gate != nil {
		gate := o.gate
		o.gate = nil // the commits run one at a time: no race
		close(o.entered)
		<-gate
	}
	return func() {
		o.mu.Lock()
		for _, e := range evs {
			o.order = append(o.order, e.EventID)
		}
		o.mu.Unlock()
		o.inFlight.Add(-1)
	}
}

func (o *oneCommitter) AppendEvents(ctx context.Context, evs []store.Event) error {
	defer o.enter(evs)()
	return o.unsyncedEvents.AppendEvents(ctx, evs)
}

func (o *oneCommitter) AppendEventsUnsynced(ctx context.Context, evs []store.Event) error {
	defer o.enter(evs)()
	return o.unsyncedEvents.AppendEventsUnsynced(ctx, evs)
}

func (o *oneCommitter) stored(id string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.ContainsFunc(o.evs, func(e store.Event) bool { return e.EventID == id })
}

type errorString string

func (e errorString) Error() string { return string(e) }

// fixedClock is a clock that never moves: every commit is "just now", so
// the server counts as busy for ever, and a company wait never times out
// (it ends when companyBatch records have queued).
func fixedClock() time.Time { return time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC) }

// appendAsync appends a read-only record on a goroutine of its own and
// reports its outcome on the channel returned.
func appendAsync(b *Batcher, id string, readOnly bool) chan error {
	c := make(chan error, 1)
	go func() { c <- b.Append(context.Background(), store.Event{EventID: id, ReadOnly: readOnly}) }()
	return c
}

// makeBusy brings the batcher to a busy period: a first record's commit
// is held in the store while two more read-only records queue, so that
// its commit has company; those two then wait (fixedClock) for company.
// It returns their outcomes, or an error if they did not wait.
func makeBusy(w *Writer, st *oneCommitter) ([]chan error, error) {
	st.gate, st.entered = make(chan struct{}), make(chan struct{})
	gate, entered := st.gate, st.entered
	first := appendAsync(w.b, "first", true)
	<-entered
	waiting := []chan error{first, appendAsync(w.b, "p1", true), appendAsync(w.b, "p2", true)}
	waitQueued(w.b, 2, false)
	close(gate)
	<-first
	if !waitQueued(w.b, 2, true) { // p1 and p2 wait for company
		return nil, errorString("the records queued beside a commit were committed without waiting for company")
	}
	return waiting[1:], nil
}

// waitQueued returns true once n records are queued and, when idle is
// set, the flush goroutine waits (for company); false when, idle set, it
// waits with nothing queued (it committed them without waiting).
func waitQueued(b *Batcher, n int, idle bool) bool {
	for {
		b.mu.Lock()
		ok := len(b.queue) == n && (!idle || b.idle)
		gone := idle && b.idle && len(b.queue) == 0
		b.mu.Unlock()
		if ok || gone {
			return ok
		}
		runtime.Gosched()
	}
}

// In a busy period, the records of concurrent read-only calls share one
// commit: the batch waits until companyBatch have queued, and each
// Append returns once its record is stored.
func TestReadOnlyRecordsShareACommitWhenBusy(t *testing.T) {
	st := &oneCommitter{}
	sink := &memSink{}
	w := NewWriter(st, nil, sink)
	w.b.clock = fixedClock
	waiting, err := makeBusy(w, st)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, companyBatch)
	for i := range companyBatch - 2 {
		wg.Go(func() {
			id := "r" + strconv.Itoa(i)
			if err := w.b.Append(context.Background(), store.Event{EventID: id, ReadOnly: true}); err != nil {
				errs <- err
				return
			}
			if !st.stored(id) {
				errs <- errorString("Append of " + id + " returned before its record was stored")
			}
		})
	}
	wg.Wait()
	for _, c := range waiting {
		if err := <-c; err != nil {
			t.Error(err)
		}
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	w.DrainSinks()
	if o := st.overlaps.Load(); o != 0 {
		t.Errorf("%d commits ran beside another", o)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if !slices.Equal(st.unsynced, []int{1, companyBatch}) || len(st.synced) != 0 {
		t.Fatalf("unsynced batches %v, synced %v; want [1 %d] and none", st.unsynced, st.synced, companyBatch)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if !slices.Equal(sink.ids, st.order) {
		t.Fatalf("the sink got %v, the store committed %v", sink.ids, st.order)
	}
}

// No record waits for company that will not come, and none that must be
// durable ever does: a lone caller's records, however quickly they
// follow each other, are committed at once, as are a write's; a write's
// record queued behind waiting read-only records ends their wait, and
// they are committed together, durably.
func TestCompanyWaitSparesLoneAndDurable(t *testing.T) {
	// A clock an hour further on at every reading: the last commit is
	// always long ago.
	quiet := func() func() time.Time {
		var mu sync.Mutex
		at := fixedClock()
		return func() time.Time {
			mu.Lock()
			defer mu.Unlock()
			at = at.Add(time.Hour)
			return at
		}
	}
	for _, tc := range []struct {
		name         string
		clock        func() time.Time
		busy         bool   // makeBusy first
		readOnly     []bool // appended one after the other
		wantUnsynced []int
		wantSynced   []int
	}{
		{name: "a lone caller, commits just before", clock: fixedClock, readOnly: []bool{true, true, true, true}, wantUnsynced: []int{1, 1, 1, 1}},
		{name: "a lone caller, commits long before", clock: quiet(), readOnly: []bool{true, true, true}, wantUnsynced: []int{1, 1, 1}},
		{name: "a lone caller's writes", clock: fixedClock, readOnly: []bool{true, false, false}, wantUnsynced: []int{1}, wantSynced: []int{1, 1}},
		{name: "busy, a write behind waiting read-only records", clock: fixedClock, busy: true, readOnly: []bool{false},
			wantUnsynced: []int{1}, wantSynced: []int{3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &oneCommitter{}
			w := NewWriter(st, nil)
			w.b.clock = tc.clock
			withinGuard(t, "a record waited for company it should not have waited for", func() error {
				var waiting []chan error
				if tc.busy {
					var err error
					if waiting, err = makeBusy(w, st); err != nil {
						return err
					}
				}
				for i, ro := range tc.readOnly {
					if err := w.b.Append(context.Background(), store.Event{EventID: "e" + strconv.Itoa(i), ReadOnly: ro}); err != nil {
						return err
					}
				}
				for _, c := range waiting {
					if err := <-c; err != nil {
						return err
					}
				}
				return nil
			})
			st.mu.Lock()
			defer st.mu.Unlock()
			if !slices.Equal(st.unsynced, tc.wantUnsynced) || !slices.Equal(st.synced, tc.wantSynced) {
				t.Fatalf("unsynced batches %v, synced %v; want %v and %v", st.unsynced, st.synced, tc.wantUnsynced, tc.wantSynced)
			}
		})
	}
}

// withinGuard runs fn on a goroutine of its own and fails the test with
// its error, or with hung when fn has not returned within a minute (a
// guard against a hang, not a measurement).
func withinGuard(t *testing.T, hung string, fn func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal(hung)
	}
}
