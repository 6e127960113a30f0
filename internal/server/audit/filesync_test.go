package audit

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/testutil/goroutines"
	"github.com/postern/postern/internal/testutil/testclock"
)

// fakeTimer is a timer of the FileSink's that the test fires.
type fakeTimer struct {
	at time.Time // when it is due (the clock when armed + its delay)
	d  time.Duration
	f  func()

	mu    sync.Mutex
	state int // 0 armed, 1 fired, 2 stopped
}

func (ft *fakeTimer) Stop() bool {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	if ft.state == 0 {
		ft.state = 2
		return true
	}
	return false
}

// expire marks the timer fired, as the runtime does before it starts the
// function's goroutine; it reports whether it was still armed.
func (ft *fakeTimer) expire() bool {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	if ft.state != 0 {
		return false
	}
	ft.state = 1
	return true
}

// fire expires the timer and runs its function.
func (ft *fakeTimer) fire() bool {
	if !ft.expire() {
		return false
	}
	ft.f()
	return true
}

// syncSeen is what the sync hook saw of one sync.
type syncSeen struct {
	at     time.Time
	size   int64 // the file's size at the sync
	atPath bool  // the file synced was still the one at Path
	name   string
}

// syncHarness is a FileSink with a settable clock, timers the test fires
// and a sync hook that records every sync (and fails when told to).
type syncHarness struct {
	t     *testing.T
	s     *FileSink
	clock *testclock.Clock

	mu     sync.Mutex
	timers []*fakeTimer
	syncs  []syncSeen
	fail   []error // the next syncs' results, in order (nil: succeed)
}

var t0 = time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)

func newSyncHarness(t *testing.T, maxBytes int64, keep int) *syncHarness {
	t.Helper()
	return newSyncHarnessAt(t, filepath.Join(t.TempDir(), "audit.jsonl"), maxBytes, keep)
}

// newSyncHarnessAt is newSyncHarness on the file at path.
func newSyncHarnessAt(t *testing.T, path string, maxBytes int64, keep int) *syncHarness {
	t.Helper()
	s, err := NewFileSink(path, maxBytes, keep)
	if err != nil {
		t.Fatal(err)
	}
	h := &syncHarness{t: t, s: s, clock: testclock.New(t0)}
	s.now = h.clock.Now
	s.afterFunc = func(d time.Duration, f func()) stopper {
		h.mu.Lock()
		defer h.mu.Unlock()
		ft := &fakeTimer{at: h.clock.Now().Add(d), d: d, f: f}
		h.timers = append(h.timers, ft)
		return ft
	}
	s.syncFile = func(f *os.File) error {
		st, err := f.Stat()
		if err != nil {
			t.Errorf("stat of the synced file: %v", err)
			return err
		}
		cur, err := os.Stat(s.Path)
		h.mu.Lock()
		defer h.mu.Unlock()
		h.syncs = append(h.syncs, syncSeen{at: h.clock.Now(), size: st.Size(), atPath: err == nil && os.SameFile(st, cur), name: f.Name()})
		if len(h.fail) > 0 {
			err := h.fail[0]
			h.fail = h.fail[1:]
			if err != nil {
				return err
			}
		}
		return f.Sync()
	}
	t.Cleanup(func() { s.Close() })
	return h
}

func (h *syncHarness) write(prefix string) error {
	return h.s.Write(events(2, prefix))
}

func (h *syncHarness) mustWrite(prefix string) {
	h.t.Helper()
	if err := h.write(prefix); err != nil {
		h.t.Fatalf("write %s: %v", prefix, err)
	}
}

func (h *syncHarness) syncCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.syncs)
}

func (h *syncHarness) lastSync() syncSeen {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.syncs) == 0 {
		h.t.Fatal("no sync")
	}
	return h.syncs[len(h.syncs)-1]
}

// armed returns the timers not yet fired or stopped.
func (h *syncHarness) armed() []*fakeTimer {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*fakeTimer
	for _, ft := range h.timers {
		ft.mu.Lock()
		if ft.state == 0 {
			out = append(out, ft)
		}
		ft.mu.Unlock()
	}
	return out
}

func fileSize(t *testing.T, p string) int64 {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// Lines written within the interval of the last sync are synced by the
// timer, due no later than the interval after their Write, with no
// further Write; the timer's sync covers every line written.
func TestFileSinkSyncsWithinInterval(t *testing.T) {
	tests := []struct {
		name  string
		after time.Duration // from the first (synced) Write to the second
	}{
		{"same instant", 0},
		{"10ms later", 10 * time.Millisecond},
		{"just inside the interval", FileSyncInterval - time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newSyncHarness(t, 0, 0)
			h.mustWrite("a")
			if n := h.syncCount(); n != 1 {
				t.Fatalf("the first Write (no sync for longer than the interval) made %d syncs, want 1", n)
			}
			h.clock.Advance(tt.after)
			written := h.clock.Now()
			h.mustWrite("b")
			if n := h.syncCount(); n != 1 {
				t.Fatalf("a Write within the interval synced at once (%d syncs)", n)
			}
			armed := h.armed()
			if len(armed) != 1 {
				t.Fatalf("%d timers armed, want 1", len(armed))
			}
			ft := armed[0]
			if ft.d < 0 || ft.at.After(written.Add(FileSyncInterval)) {
				t.Fatalf("timer due %v after the Write (delay %v), want within %v", ft.at.Sub(written), ft.d, FileSyncInterval)
			}
			h.clock.Advance(ft.d)
			ft.fire()
			if n := h.syncCount(); n != 2 {
				t.Fatalf("the timer made %d syncs in all, want 2", n-1)
			}
			if got, want := h.lastSync().size, fileSize(t, h.s.Path); got != want {
				t.Fatalf("the timer synced %d bytes of the file's %d", got, want)
			}
			if a := h.armed(); len(a) != 0 {
				t.Fatalf("%d timers armed with nothing left to sync", len(a))
			}
		})
	}
}

// Writes spread over time: every Write's lines are synced within the
// interval, and there is at most one sync per interval (plus the first).
func TestFileSinkOneSyncPerInterval(t *testing.T) {
	tests := []struct {
		name   string
		writes int
		step   time.Duration // clock advance between writes
	}{
		{"burst at one instant", 200, 0},
		{"every millisecond", 500, time.Millisecond},
		{"every 7ms", 300, 7 * time.Millisecond},
		{"every 60ms", 50, 60 * time.Millisecond},
		{"slower than the interval", 20, 3 * FileSyncInterval / 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newSyncHarness(t, 0, 0)
			var writtenAt []time.Time // per Write
			var sizeAfter []int64     // the file's size after each Write
			// advance moves the clock by d, firing the timers that fall
			// due on the way at their due time.
			advance := func(d time.Duration) {
				end := h.clock.Now().Add(d)
				for range 1000 {
					var due *fakeTimer
					for _, ft := range h.armed() {
						if !ft.at.After(end) && (due == nil || ft.at.Before(due.at)) {
							due = ft
						}
					}
					if due == nil {
						break
					}
					if due.at.After(h.clock.Now()) {
						h.clock.Advance(due.at.Sub(h.clock.Now()))
					}
					due.fire()
				}
				h.clock.Advance(end.Sub(h.clock.Now()))
			}
			for i := range tt.writes {
				h.mustWrite("w" + strconv.Itoa(i) + "-")
				writtenAt = append(writtenAt, h.clock.Now())
				sizeAfter = append(sizeAfter, fileSize(t, h.s.Path))
				advance(tt.step)
			}
			advance(FileSyncInterval) // no more writes: the timer's sync
			h.mu.Lock()
			syncs := append([]syncSeen(nil), h.syncs...)
			h.mu.Unlock()
			for i, at := range writtenAt {
				ok := false
				for _, sy := range syncs {
					if !sy.at.Before(at) && sy.size >= sizeAfter[i] {
						if d := sy.at.Sub(at); d > FileSyncInterval {
							t.Fatalf("write %d synced %v after it, want within %v", i, d, FileSyncInterval)
						}
						ok = true
						break
					}
				}
				if !ok {
					t.Fatalf("write %d was never synced", i)
				}
			}
			span := writtenAt[len(writtenAt)-1].Sub(writtenAt[0])
			if max := int(span/FileSyncInterval) + 2; len(syncs) > max {
				t.Fatalf("%d syncs for %d writes over %v, want at most %d", len(syncs), tt.writes, span, max)
			}
			if tt.step == 0 && len(syncs) != 2 {
				t.Fatalf("a burst at one instant made %d syncs, want 2 (the first Write's and the timer's)", len(syncs))
			}
			if tt.step > FileSyncInterval && len(syncs) != tt.writes {
				t.Fatalf("writes further apart than the interval: %d syncs for %d writes, want one each", len(syncs), tt.writes)
			}
			if a := h.armed(); len(a) != 0 {
				t.Fatalf("%d timers left armed", len(a))
			}
			t.Logf("%d writes over %v: %d syncs", tt.writes, span, len(syncs))
		})
	}
}

// Close syncs what was written, stops the timer and leaves no timer
// function running, also when the timer fired just before Close.
func TestFileSinkCloseSyncs(t *testing.T) {
	tests := []struct {
		name       string
		firedFirst bool // the timer fired, its function not yet run, when Close starts
	}{
		{"timer armed", false},
		{"timer fired concurrently", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newSyncHarness(t, 0, 0)
			h.mustWrite("a")
			h.mustWrite("b") // within the interval: left to the timer
			armed := h.armed()
			if h.syncCount() != 1 || len(armed) != 1 {
				t.Fatalf("%d syncs, %d timers armed; want 1, 1", h.syncCount(), len(armed))
			}
			ft := armed[0]
			if tt.firedFirst && !ft.expire() {
				t.Fatal("the timer could not be expired")
			}
			closed := make(chan error, 1)
			go func() { closed <- h.s.Close() }()
			if tt.firedFirst {
				// Close waits for the fired timer's function, which runs
				// before Close (and syncs) or after it (and finds the sink
				// closed): one sync either way.
				ft.f()
			}
			select {
			case err := <-closed:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(time.Minute): // a guard against a hang
				t.Fatal("Close did not return")
			}
			if n := h.syncCount(); n != 2 {
				t.Fatalf("%d syncs after Close, want 2 (the first Write's and Close's)", n)
			}
			if got, want := h.lastSync().size, fileSize(t, h.s.Path); got != want {
				t.Fatalf("Close synced %d bytes of the file's %d", got, want)
			}
			if !tt.firedFirst && ft.fire() {
				t.Fatal("the timer was still armed after Close")
			}
			if err := h.write("c"); err == nil {
				t.Fatal("a Write after Close succeeded")
			}
			if err := h.s.Close(); err != nil {
				t.Fatalf("a second Close: %v", err)
			}
		})
	}
}

// With the real clock and timers: the timer syncs lines with no further
// Write, and no timer goroutine is left after Close.
func TestFileSinkRealTimer(t *testing.T) {
	s, err := NewFileSink(filepath.Join(t.TempDir(), "audit.jsonl"), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	synced := make(chan int64, 16)
	s.syncFile = func(f *os.File) error {
		st, err := f.Stat()
		if err != nil {
			return err
		}
		synced <- st.Size()
		return f.Sync()
	}
	// The clock stands still until the first timer is armed (the two
	// Writes at one instant: the second is left to the timer), then runs.
	var armedAt atomic.Pointer[time.Time]
	base := time.Now()
	s.now = func() time.Time {
		if a := armedAt.Load(); a != nil {
			return base.Add(time.Since(*a))
		}
		return base
	}
	s.afterFunc = func(d time.Duration, f func()) stopper {
		now := time.Now()
		armedAt.CompareAndSwap(nil, &now)
		return time.AfterFunc(d, f)
	}
	for i, prefix := range []string{"a", "b"} {
		if err := s.Write(events(2, prefix)); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			<-synced // the first Write's own sync
		}
	}
	select {
	case n := <-synced:
		if want := fileSize(t, s.Path); n != want {
			t.Fatalf("the timer synced %d bytes of %d", n, want)
		}
	case <-time.After(time.Minute): // a guard against a hang, not a measurement
		t.Fatal("the lines were never synced")
	}
	// One more Write left to a timer, then Close: it stops the timer.
	if err := s.Write(events(1, "c")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := <-synced; n != fileSize(t, s.Path) {
		t.Fatalf("Close synced %d bytes of %d", n, fileSize(t, s.Path))
	}
	if !goroutines.Eventually(func() bool { return len(goroutines.Running(t, "(*FileSink).syncLater")) == 0 }) {
		t.Fatalf("a timer function still runs after Close: %v", goroutines.Running(t, "(*FileSink).syncLater"))
	}
	select {
	case n := <-synced:
		t.Fatalf("a sync (%d bytes) after Close", n)
	default:
	}
}

// Rotation keeps Keep files, and syncs each full file, whole, while it is
// still at Path, before renaming it.
func TestFileSinkRotationSyncsBeforeRename(t *testing.T) {
	tests := []struct {
		name string
		keep int
	}{
		{"keep 2", 2},
		{"keep 1", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newSyncHarness(t, 1000, tt.keep)
			var rotations int
			for i := range 12 {
				evs := events(2, "r"+strconv.Itoa(i)+"-")
				var n int64
				for _, e := range evs {
					n += int64(len(e.Body)) + 1
				}
				before := h.syncCount()
				h.s.mu.Lock()
				name, size := h.s.f.Name(), h.s.size
				full := size > 0 && size+n > h.s.MaxBytes
				h.s.mu.Unlock()
				// The clock stands still: after the first Write, only a
				// rotation syncs.
				if err := h.s.Write(evs); err != nil {
					t.Fatal(err)
				}
				if !full {
					continue
				}
				rotations++
				if h.syncCount() != before+1 {
					t.Fatalf("write %d rotated with %d syncs, want 1", i, h.syncCount()-before)
				}
				sy := h.lastSync()
				if !sy.atPath || sy.name != name || sy.size != size {
					t.Fatalf("rotation synced %s (%d bytes, still at Path: %v), want %s, %d bytes, before its rename", sy.name, sy.size, sy.atPath, name, size)
				}
			}
			if rotations < tt.keep+1 {
				t.Fatalf("%d rotations, want more than %d", rotations, tt.keep)
			}
			rotated, _ := filepath.Glob(filepath.Join(filepath.Dir(h.s.Path), "audit-*.jsonl"))
			if len(rotated) != tt.keep {
				t.Fatalf("%d rotated files kept, want %d", len(rotated), tt.keep)
			}
			if err := h.s.Close(); err != nil {
				t.Fatal(err)
			}
			if got, want := h.lastSync().size, fileSize(t, h.s.Path); got != want {
				t.Fatalf("Close synced %d bytes of the current file's %d", got, want)
			}
		})
	}
}

var errDisk = errors.New("disk on fire")

// A failed sync is reported: the Write's own at once; the timer's by the
// next Write (once) or by Close; the lines stay due for a sync.
func TestFileSinkSyncErrorReported(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, h *syncHarness)
	}{
		{"the Write's own sync", func(t *testing.T, h *syncHarness) {
			h.fail = []error{errDisk}
			if err := h.write("a"); !errors.Is(err, errDisk) {
				t.Fatalf("Write = %v, want %v", err, errDisk)
			}
			// Still due: the next Write past the interval syncs them.
			h.clock.Advance(FileSyncInterval)
			h.mustWrite("b")
			if got, want := h.lastSync().size, fileSize(t, h.s.Path); got != want {
				t.Fatalf("synced %d bytes of %d", got, want)
			}
		}},
		{"the timer's sync, next Write", func(t *testing.T, h *syncHarness) {
			h.mustWrite("a")
			h.mustWrite("b")
			h.fail = []error{errDisk}
			h.clock.Advance(FileSyncInterval)
			h.armed()[0].fire()
			h.clock.Advance(time.Millisecond)
			if err := h.write("c"); !errors.Is(err, errDisk) {
				t.Fatalf("the Write after a failed timer sync = %v, want %v", err, errDisk)
			}
			if err := h.write("d"); err != nil {
				t.Fatalf("the failure was reported twice: %v", err)
			}
			ft := h.armed()
			if len(ft) != 1 {
				t.Fatalf("%d timers armed for lines whose sync failed, want 1", len(ft))
			}
			h.clock.Advance(ft[0].d)
			ft[0].fire()
			if got, want := h.lastSync().size, fileSize(t, h.s.Path); got != want {
				t.Fatalf("synced %d bytes of %d", got, want)
			}
		}},
		{"the timer's sync, Close", func(t *testing.T, h *syncHarness) {
			h.mustWrite("a")
			h.mustWrite("b")
			h.fail = []error{errDisk}
			h.clock.Advance(FileSyncInterval)
			h.armed()[0].fire()
			if err := h.s.Close(); !errors.Is(err, errDisk) {
				t.Fatalf("Close after a failed timer sync = %v, want %v", err, errDisk)
			}
			if got, want := h.lastSync().size, fileSize(t, h.s.Path); got != want {
				t.Fatalf("Close synced %d bytes of %d", got, want)
			}
		}},
		{"Close's own sync", func(t *testing.T, h *syncHarness) {
			h.mustWrite("a")
			h.mustWrite("b")
			h.fail = []error{errDisk}
			if err := h.s.Close(); !errors.Is(err, errDisk) {
				t.Fatalf("Close = %v, want %v", err, errDisk)
			}
		}},
		{"rotation's sync", func(t *testing.T, h *syncHarness) {
			h.s.MaxBytes = 600 // two Writes of ~250 bytes fit, not three
			h.mustWrite("a")
			h.mustWrite("b") // left to the timer
			h.fail = []error{errDisk}
			if err := h.write("c"); !errors.Is(err, errDisk) {
				t.Fatalf("a Write whose rotation failed to sync = %v, want %v", err, errDisk)
			}
			// The rotation went on and the batch is in the new file.
			if rotated, _ := filepath.Glob(filepath.Join(filepath.Dir(h.s.Path), "audit-*.jsonl")); len(rotated) != 1 {
				t.Fatalf("rotated files %v, want 1", rotated)
			}
			if b, _ := os.ReadFile(h.s.Path); !strings.Contains(string(b), `"c1"`) {
				t.Fatalf("the batch of the failed rotation's Write is not in the new file: %q", b)
			}
		}},
		{"rotation's sync, then its rename fails", func(t *testing.T, h *syncHarness) {
			h.s.MaxBytes = 600
			h.mustWrite("a")
			h.mustWrite("b") // left to the timer
			h.fail = []error{errDisk}
			if err := os.Remove(h.s.Path); err != nil { // the rename finds no file
				t.Fatal(err)
			}
			if err := h.write("c"); !errors.Is(err, errDisk) {
				t.Fatalf("a Write whose rotation failed to sync, then to rename = %v, want %v too", err, errDisk)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, newSyncHarness(t, 0, 0)) })
	}
}

// Through the audit Writer: a failed timer sync reaches onSinkError with
// the next batch, and every committed event is in the file.
func TestFileSinkSyncErrorToOnSinkError(t *testing.T) {
	h := newSyncHarness(t, 0, 0)
	var mu sync.Mutex
	var reported []error
	w := NewWriter(&memEvents{}, func(err error) {
		mu.Lock()
		defer mu.Unlock()
		reported = append(reported, err)
	}, h.s)
	appendOne := func(id string) {
		t.Helper()
		if err := w.b.Append(context.Background(), store.Event{EventID: id, Body: `{"eventID":"` + id + `"}`}); err != nil {
			t.Fatal(err)
		}
		w.DrainSinks()
	}
	appendOne("e0") // synced at once
	appendOne("e1") // left to the timer
	h.fail = []error{errDisk}
	h.clock.Advance(FileSyncInterval)
	h.armed()[0].fire()
	h.clock.Advance(time.Millisecond)
	appendOne("e2")
	mu.Lock()
	got := append([]error(nil), reported...)
	mu.Unlock()
	if len(got) != 1 || !errors.Is(got[0], errDisk) {
		t.Fatalf("onSinkError heard %v, want one %v", got, errDisk)
	}
	if err := h.s.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(h.s.Path)
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(string(b), "\n"); lines != 3 {
		t.Fatalf("%d lines in the file, want 3", lines)
	}
}

// A timer that fired while a Write synced (the Write found the last sync
// older than the interval) does not sync again at once: it leaves the
// lines written since to a timer due an interval after that sync.
func TestFileSinkLateTimerDoesNotSyncTwice(t *testing.T) {
	h := newSyncHarness(t, 0, 0)
	h.mustWrite("a") // sync 1
	h.clock.Advance(10 * time.Millisecond)
	h.mustWrite("b") // left to the timer
	late := h.armed()[0]
	late.expire() // fired; its function waits (for mu, in the real sink)
	h.clock.Advance(FileSyncInterval + 40*time.Millisecond)
	syncedAt := h.clock.Now()
	h.mustWrite("c") // the last sync is older than the interval: sync 2
	h.clock.Advance(time.Millisecond)
	writtenAt := h.clock.Now()
	h.mustWrite("d") // a timer is still set: none armed
	if n := h.syncCount(); n != 2 {
		t.Fatalf("%d syncs, want 2", n)
	}
	h.clock.Advance(time.Millisecond)
	late.f()
	if n := h.syncCount(); n != 2 {
		t.Fatalf("the late timer synced %v after the Write's sync", h.lastSync().at.Sub(syncedAt))
	}
	armed := h.armed()
	if len(armed) != 1 {
		t.Fatalf("%d timers armed for the line written after the sync, want 1", len(armed))
	}
	ft := armed[0]
	if !ft.at.Equal(syncedAt.Add(FileSyncInterval)) || ft.at.After(writtenAt.Add(FileSyncInterval)) {
		t.Fatalf("timer due %v after the sync, want %v", ft.at.Sub(syncedAt), FileSyncInterval)
	}
	h.clock.Advance(ft.d)
	ft.fire()
	if n := h.syncCount(); n != 3 {
		t.Fatalf("%d syncs, want 3", n)
	}
	if got, want := h.lastSync().size, fileSize(t, h.s.Path); got != want {
		t.Fatalf("synced %d bytes of %d", got, want)
	}
}

// The Writer's CloseSinks, which the server calls as it exits, writes
// every committed record to the file, syncs it and closes the file.
func TestWriterCloseSinksSyncsAndClosesTheFile(t *testing.T) {
	h := newSyncHarness(t, 0, 0)
	var mu sync.Mutex
	var reported []error
	w := NewWriter(&memEvents{}, func(err error) {
		mu.Lock()
		defer mu.Unlock()
		reported = append(reported, err)
	}, h.s)
	for _, id := range []string{"e0", "e1"} { // e0 synced at once, e1 left to the timer
		if err := w.b.Append(context.Background(), store.Event{EventID: id, Body: `{"eventID":"` + id + `"}`}); err != nil {
			t.Fatal(err)
		}
	}
	w.CloseSinks()
	h.mu.Lock()
	syncs := append([]syncSeen(nil), h.syncs...)
	h.mu.Unlock()
	b, err := os.ReadFile(h.s.Path)
	if err != nil {
		t.Fatal(err)
	}
	if len(syncs) == 0 || syncs[len(syncs)-1].size != int64(len(b)) {
		t.Fatalf("syncs %+v; the file has %d bytes: the last lines were not synced", syncs, len(b))
	}
	if lines := strings.Count(string(b), "\n"); lines != 2 {
		t.Fatalf("%d lines in the file, want 2", lines)
	}
	if err := h.s.Write([]store.Event{{EventID: "e2", Body: "{}"}}); err == nil {
		t.Fatal("the file sink still takes writes after CloseSinks")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reported) != 0 {
		t.Fatalf("onSinkError heard %v", reported)
	}
}
