package audit

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/postern/postern/internal/testutil/procstat"
)

// A failed sync is not repeated by the next one: on Linux the pages whose
// writeback failed are marked clean, and the next fsync returns 0 though
// they never reached the disk. The injected failure here does what the
// kernel does — the file is synced (its pages clean) and the sync
// reports an error — and the sync that follows must still find the lines
// to write (dirty pages: written again in place), whichever sync failed:
// the timer's (then its retry), a Write's own (then the timer's), Close's
// (then Close syncs once more) or a rotation's (then the rotation syncs
// once more, before the rename). The file's content is what was written,
// each line once.
func TestSD18FileSinkRewritesLinesAfterAFailedSync(t *testing.T) {
	tests := []struct {
		name string
		// run writes "a" (synced at once) and "b", failing the sync meant
		// for "b" (h.failNext), and makes the next sync happen.
		run func(t *testing.T, h *sd18Harness)
	}{
		{"the timer's sync, then its retry", func(t *testing.T, h *sd18Harness) {
			h.mustWrite("a")
			h.mustWrite("b") // left to the timer
			h.failNext()
			for range 2 { // the failed sync, then its retry
				ft := h.armed()
				if len(ft) != 1 {
					t.Fatalf("%d timers armed, want 1", len(ft))
				}
				h.clock.Advance(ft[0].d)
				ft[0].fire()
			}
		}},
		{"a Write's own sync, then the timer's", func(t *testing.T, h *sd18Harness) {
			h.mustWrite("a")
			h.clock.Advance(FileSyncInterval)
			h.failNext()
			if err := h.write("b"); !errors.Is(err, errDisk) {
				t.Fatalf("Write = %v, want %v", err, errDisk)
			}
			ft := h.armed()
			if len(ft) != 1 {
				t.Fatalf("%d timers armed, want 1", len(ft))
			}
			h.clock.Advance(ft[0].d)
			ft[0].fire()
		}},
		{"Close's sync", func(t *testing.T, h *sd18Harness) {
			h.mustWrite("a")
			h.mustWrite("b")
			h.failNext()
			if err := h.s.Close(); !errors.Is(err, errDisk) {
				t.Fatalf("Close = %v, want %v", err, errDisk)
			}
		}},
		{"a rotation's sync", func(t *testing.T, h *sd18Harness) {
			h.s.MaxBytes = 600 // two Writes of ~250 bytes fit, not three
			h.mustWrite("a")
			h.mustWrite("b") // left to the timer
			h.failNext()
			if err := h.write("c"); !errors.Is(err, errDisk) {
				t.Fatalf("Write = %v, want %v", err, errDisk)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newSD18Harness(t)
			tt.run(t, h)
			h.mu.Lock()
			seen := append([]sd18Sync(nil), h.seen...)
			h.mu.Unlock()
			failed := -1
			for i, s := range seen {
				if s.failed {
					failed = i
				}
			}
			if failed < 0 {
				t.Fatalf("no sync failed: %+v", seen)
			}
			if failed+1 >= len(seen) {
				t.Fatalf("no sync after the failed one (%+v): the lines it was meant to cover are not on the disk", seen)
			}
			if next := seen[failed+1]; next.dirty == 0 || next.failed {
				t.Errorf("the sync after the failed one found %d unsynced pages of %s (failed: %v), want some: the lines whose sync failed, "+
					"dropped from the dirty pages by the kernel, were not written again, and this sync counted them as on the disk", next.dirty, next.file, next.failed)
			}
			// Every line once (written in place, not appended again).
			var all string
			for _, p := range append(rotated(t, h.s.Path), h.s.Path) {
				b, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				all += string(b)
			}
			for _, id := range []string{"a0", "a1", "b0", "b1"} {
				if n := strings.Count(all, `{"eventID":"`+id+`"`); n != 1 {
					t.Errorf("line %s is %d times in the files, want 1", id, n)
				}
			}
		})
	}
}

// sd18Sync is what the failing sync hook saw of one sync.
type sd18Sync struct {
	file   string
	dirty  int // the file's unsynced pages when the sync began
	failed bool
}

// sd18Harness is a syncHarness whose failed sync is the kernel's: the
// pages are written back (clean), then the error is reported.
type sd18Harness struct {
	*syncHarness
	fail bool // under syncHarness.mu
	seen []sd18Sync
}

func newSD18Harness(t *testing.T) *sd18Harness {
	h := &sd18Harness{syncHarness: newSyncHarness(t, 0, 0)}
	inner := h.s.syncFile
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	h.s.syncFile = func(f *os.File) error {
		fd := fmt.Sprintf("/proc/self/fd/%d", f.Fd()) // the open file, whatever its name now
		dirty := procstat.MustUnsyncedPages(t, fd)
		h.mu.Lock()
		fail := h.fail
		h.fail = false
		h.seen = append(h.seen, sd18Sync{file: f.Name(), dirty: dirty, failed: fail})
		h.mu.Unlock()
		if fail {
			if err := f.Sync(); err != nil {
				t.Errorf("sync: %v", err)
			}
			return errDisk
		}
		return inner(f)
	}
	return h
}

// failNext makes the next sync fail as the kernel's does.
func (h *sd18Harness) failNext() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fail = true
}

// rotated lists the rotated files of the sink at path.
func rotated(t *testing.T, path string) []string {
	t.Helper()
	ext := ".jsonl"
	m, err := os.ReadDir(strings.TrimSuffix(path, "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range m {
		if n := e.Name(); strings.HasPrefix(n, "audit-") && strings.HasSuffix(n, ext) {
			out = append(out, strings.TrimSuffix(path, "audit.jsonl")+n)
		}
	}
	return out
}
