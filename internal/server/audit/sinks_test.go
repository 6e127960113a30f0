package audit

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
)

func events(n int, prefix string) []store.Event {
	out := make([]store.Event, n)
	for i := range out {
		id := prefix + strconv.Itoa(i)
		out[i] = store.Event{EventID: id, Body: `{"eventID":"` + id + `","pad":"` + strings.Repeat("x", 100) + `"}`}
	}
	return out
}

func TestFileSinkRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	s, err := NewFileSink(path, 1000, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := 0; i < 10; i++ {
		if err := s.Write(events(3, "b"+strconv.Itoa(i)+"-")); err != nil {
			t.Fatal(err)
		}
	}
	rotated, _ := filepath.Glob(filepath.Join(dir, "audit-*.jsonl"))
	if len(rotated) != 2 {
		t.Fatalf("%d rotated files kept, want 2: %v", len(rotated), rotated)
	}
	for _, p := range append(rotated, path) {
		f, _ := os.Open(p)
		sc := bufio.NewScanner(f)
		lines := 0
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Fatalf("%s: line %d is not JSON: %v", p, lines, err)
			}
			lines++
		}
		f.Close()
		if st, _ := os.Stat(p); lines == 0 || st.Size() > 1000+int64(3*200) {
			t.Fatalf("%s: %d lines, %d bytes", p, lines, st.Size())
		}
	}
	// The newest batch is in the current file.
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), `"b9-2"`) {
		t.Fatalf("the last batch is not in the current file")
	}
}

func TestWebhookSink(t *testing.T) {
	var mu sync.Mutex
	var got []string
	done := make(chan struct{}, 10)
	fails := 1
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if fails > 0 { // the first delivery fails: it is retried
			fails--
			http.Error(w, "busy", 503)
			return
		}
		b, _ := io.ReadAll(r.Body)
		got = append(got, strings.Split(strings.TrimSpace(string(b)), "\n")...)
		done <- struct{}{}
	}))
	defer srv.Close()
	w := &WebhookSink{URL: srv.URL}
	w.Write(events(3, "w"))
	select {
	case <-done:
	case <-time.After(time.Minute): // a guard against a hang: the retry comes 500 ms after the refusal
		t.Fatal("the webhook got nothing")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 3 || !strings.Contains(got[2], `"w2"`) {
		t.Fatalf("webhook got %v", got)
	}
}

// The batcher commits concurrent events together and copies each once to
// the sinks, in commit order.
type memEvents struct {
	mu   sync.Mutex
	evs  []store.Event
	txns int
}

func (m *memEvents) AppendEvent(ctx context.Context, e store.Event) error {
	return m.AppendEvents(ctx, []store.Event{e})
}
func (m *memEvents) AppendEvents(_ context.Context, evs []store.Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	seen := map[string]bool{}
	for _, x := range m.evs {
		seen[x.EventID] = true
	}
	for _, e := range evs { // a unique key, as the real store has
		if seen[e.EventID] {
			return store.ErrConflict
		}
		seen[e.EventID] = true
	}
	m.evs = append(m.evs, evs...)
	m.txns++
	return nil
}
func (m *memEvents) ListEvents(context.Context, store.EventQuery) ([]store.Event, error) {
	return nil, nil
}

type memSink struct {
	mu  sync.Mutex
	ids []string
}

func (s *memSink) Write(evs []store.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range evs {
		s.ids = append(s.ids, e.EventID)
	}
	return nil
}

func TestBatcher(t *testing.T) {
	st := &memEvents{}
	sink := &memSink{}
	w := NewWriter(st, nil, sink)
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			id := "e" + strconv.Itoa(i%199) // one duplicate id: only that event fails
			errs <- w.b.Append(context.Background(), store.Event{EventID: id})
		}(i)
	}
	wg.Wait()
	close(errs)
	w.DrainSinks()
	sink.mu.Lock()
	defer sink.mu.Unlock()
	failed := 0
	for err := range errs {
		if err != nil {
			failed++
		}
	}
	if failed != 1 || len(st.evs) != 199 || len(sink.ids) != 199 {
		t.Fatalf("failed %d, stored %d, copied %d", failed, len(st.evs), len(sink.ids))
	}
	t.Logf("%d events in %d transactions", len(st.evs), st.txns)
}

// gateSink blocks every Write until gate is closed, then records the ids.
type gateSink struct {
	gate    chan struct{}
	entered chan struct{} // closed at the first Write
	once    sync.Once
	memSink
}

func (s *gateSink) Write(evs []store.Event) error {
	s.once.Do(func() { close(s.entered) })
	<-s.gate
	return s.memSink.Write(evs)
}

// A commit's callers do not wait for the sinks (the file sink syncs to
// disk): Append returns while a sink is stuck, and the sinks still get
// every event, in commit order, by the time DrainSinks returns.
func TestSinksDoNotHoldCommits(t *testing.T) {
	st := &memEvents{}
	sink := &gateSink{gate: make(chan struct{}), entered: make(chan struct{})}
	w := NewWriter(st, nil, sink)
	const n = 5
	done := make(chan error, 1)
	go func() {
		for i := range n {
			if err := w.b.Append(context.Background(), store.Event{EventID: "e" + strconv.Itoa(i)}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute): // a guard against a hang, not a measurement
		close(sink.gate)
		t.Fatal("Append waited for a stuck sink")
	}
	<-sink.entered
	close(sink.gate)
	w.DrainSinks()
	sink.mu.Lock()
	defer sink.mu.Unlock()
	want := []string{"e0", "e1", "e2", "e3", "e4"}
	if strings.Join(sink.ids, ",") != strings.Join(want, ",") {
		t.Fatalf("the sink got %v, want %v", sink.ids, want)
	}
}

// unsyncedEvents is memEvents that also commits without waiting for the
// disk, counting which way each batch went.
type unsyncedEvents struct {
	memEvents
	synced, unsynced []int // batch sizes
}

func (u *unsyncedEvents) AppendEvents(ctx context.Context, evs []store.Event) error {
	u.mu.Lock()
	u.synced = append(u.synced, len(evs))
	u.mu.Unlock()
	return u.memEvents.AppendEvents(ctx, evs)
}

func (u *unsyncedEvents) AppendEventsUnsynced(ctx context.Context, evs []store.Event) error {
	u.mu.Lock()
	u.unsynced = append(u.unsynced, len(evs))
	u.mu.Unlock()
	return u.memEvents.AppendEvents(ctx, evs)
}

// The records of read-only calls are committed without waiting for the
// disk when the store can; a batch with any other record waits.
func TestBatcherReadOnlyUnsynced(t *testing.T) {
	tests := []struct {
		name                   string
		readOnly               []bool
		wantSynced, wantUnsync int
	}{
		{"read-only", []bool{true}, 0, 1},
		{"a write", []bool{false}, 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := &unsyncedEvents{}
			w := NewWriter(st, nil)
			for i, ro := range tc.readOnly {
				if err := w.b.Append(context.Background(), store.Event{EventID: "e" + strconv.Itoa(i), ReadOnly: ro}); err != nil {
					t.Fatal(err)
				}
			}
			st.mu.Lock()
			defer st.mu.Unlock()
			if len(st.synced) != tc.wantSynced || len(st.unsynced) != tc.wantUnsync || len(st.evs) != len(tc.readOnly) {
				t.Fatalf("synced batches %v, unsynced %v, stored %d", st.synced, st.unsynced, len(st.evs))
			}
		})
	}
}

// One flush goroutine serves batch after batch, idle periods between
// them included (a goroutine per batch regrew its stack for every
// commit), and events still reach the store and the sinks in order.
func TestBatcherKeepsOneFlushGoroutine(t *testing.T) {
	st := &memEvents{}
	sink := &memSink{}
	w := NewWriter(st, nil, sink)
	w.b.linger = time.Hour // no exit during the test, whatever the load
	const n = 50
	var want []string
	for i := range n { // one at a time: the goroutine idles between them
		id := "e" + strconv.Itoa(i)
		want = append(want, id)
		if err := w.b.Append(context.Background(), store.Event{EventID: id}); err != nil {
			t.Fatal(err)
		}
	}
	w.DrainSinks()
	w.b.mu.Lock()
	started := w.b.started
	w.b.mu.Unlock()
	if started != 1 {
		t.Fatalf("%d flush goroutines started for %d sequential events, want 1", started, n)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if strings.Join(sink.ids, ",") != strings.Join(want, ",") || len(st.evs) != n {
		t.Fatalf("stored %d, the sink got %v", len(st.evs), sink.ids)
	}
}

// The flush goroutine exits after lingering idle, and the next Append
// starts another that commits it.
func TestBatcherFlushGoroutineExitsWhenIdle(t *testing.T) {
	tests := []struct {
		name   string
		linger time.Duration
	}{
		{"short linger", time.Millisecond},
		{"no linger", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := &memEvents{}
			w := NewWriter(st, nil)
			exited := make(chan struct{}, 2)
			w.b.linger = tc.linger
			w.b.exitHook = func() { exited <- struct{}{} }
			for i := range 2 {
				if err := w.b.Append(context.Background(), store.Event{EventID: "e" + strconv.Itoa(i)}); err != nil {
					t.Fatal(err)
				}
				select {
				case <-exited:
				case <-time.After(time.Minute): // a guard against a hang, not a measurement
					t.Fatal("the idle flush goroutine did not exit")
				}
			}
			w.b.mu.Lock()
			defer w.b.mu.Unlock()
			if w.b.started != 2 || w.b.running || len(st.evs) != 2 {
				t.Fatalf("started %d, running %v, stored %d; want 2, false, 2", w.b.started, w.b.running, len(st.evs))
			}
		})
	}
}

// Appends racing the flush goroutine's idle exit (a linger of a
// microsecond: it exits and restarts all along) are all committed, once,
// and reach the sink.
func TestBatcherAppendsRacingIdleExit(t *testing.T) {
	st := &memEvents{}
	sink := &memSink{}
	w := NewWriter(st, nil, sink)
	w.b.linger = time.Microsecond
	const writers, each = 16, 40
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for g := range writers {
		wg.Go(func() {
			for i := range each {
				errs <- w.b.Append(context.Background(), store.Event{EventID: "g" + strconv.Itoa(g) + "-" + strconv.Itoa(i)})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	w.DrainSinks()
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(st.evs) != writers*each || len(sink.ids) != writers*each {
		t.Fatalf("stored %d, copied %d, want %d", len(st.evs), len(sink.ids), writers*each)
	}
	w.b.mu.Lock()
	t.Logf("%d flush goroutines started", w.b.started)
	w.b.mu.Unlock()
}

// TestFileSinkKeepsItsBufferAndLines: the file holds each write's records,
// one a line, in order, whatever the sizes of the writes before (the
// buffer kept between writes is reused, or dropped when it grew past
// maxKeptLines); a later write does not grow a new buffer.
func TestFileSinkKeepsItsBufferAndLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	s, err := NewFileSink(path, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	big := []store.Event{{EventID: "big", Body: `{"pad":"` + strings.Repeat("y", maxKeptLines) + `"}`}}
	var want strings.Builder
	for i, batch := range [][]store.Event{events(5, "a"), events(1, "b"), big, events(2, "c"), events(40, "d"), events(1, "e")} {
		if err := s.Write(batch); err != nil {
			t.Fatal(err)
		}
		for _, e := range batch {
			want.WriteString(e.Body + "\n")
		}
		if kept := cap(s.buf); kept > maxKeptLines {
			t.Fatalf("write %d: %d bytes kept, more than %d", i, kept, maxKeptLines)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want.String() {
		t.Fatalf("the file holds %d bytes, want %d: lines lost, reordered or overwritten", len(got), want.Len())
	}
	one := events(3, "f")
	if err := s.Write(one); err != nil { // the kept buffer is large enough now
		t.Fatal(err)
	}
	if allocs := testing.AllocsPerRun(20, func() {
		if err := s.Write(one); err != nil {
			t.Fatal(err)
		}
	}); allocs > 0 {
		t.Errorf("a write allocated %.0f times, want none", allocs)
	}
}
