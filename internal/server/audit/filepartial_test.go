//go:build linux

package audit

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// partialChildEnv makes TestFileSinkPartialWriteSyncs run its cases in a
// child process: a file size limit (RLIMIT_FSIZE) applies to the whole
// process, and the kernel then writes the part of a Write below the limit
// and refuses the rest (EFBIG), as a full disk does.
const partialChildEnv = "POSTERN_AUDIT_PARTIAL_WRITE_CHILD"

// Lines of a Write that failed part-way are on disk within
// FileSyncInterval of that Write, as any others: at once when the
// interval since the last sync has passed, or by a timer armed then —
// not at the next Write or at Close.
func TestFileSinkPartialWriteSyncs(t *testing.T) {
	if os.Getenv(partialChildEnv) == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestFileSinkPartialWriteSyncs$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), partialChildEnv+"=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		t.Logf("child:\n%s", out)
		return
	}
	for _, tc := range []struct {
		name  string
		after time.Duration // since the last sync, when the partial write comes
		timer bool          // the sync is left to a timer (else at once)
	}{
		{"within the interval", 10 * time.Millisecond, true},
		{"interval passed", FileSyncInterval, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newSyncHarness(t, 0, 0)
			h.mustWrite("a") // the first sync
			if n := h.syncCount(); n != 1 {
				t.Fatalf("%d syncs after the first write, want 1", n)
			}
			h.clock.Advance(tc.after)
			limit := fileSize(t, h.s.Path) + 50 // part of the next line fits
			var old syscall.Rlimit
			if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
				t.Fatal(err)
			}
			if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: uint64(limit), Max: old.Max}); err != nil {
				t.Fatal(err)
			}
			err := h.write("b")
			if rerr := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); rerr != nil {
				t.Fatal(rerr)
			}
			if !errors.Is(err, syscall.EFBIG) {
				t.Fatalf("write past the limit: %v, want EFBIG", err)
			}
			if got := fileSize(t, h.s.Path); got != limit {
				t.Fatalf("file has %d bytes, want %d (the part below the limit)", got, limit)
			}
			if tc.timer {
				if n := h.syncCount(); n != 1 {
					t.Fatalf("%d syncs right after the partial write, want 1 (the rest is the timer's)", n)
				}
				armed := h.armed()
				if len(armed) != 1 {
					t.Fatalf("%d timers armed after the partial write, want 1", len(armed))
				}
				if due := armed[0].at.Sub(h.lastSync().at); due != FileSyncInterval {
					t.Fatalf("timer due %v after the last sync, want %v", due, FileSyncInterval)
				}
				h.clock.Advance(FileSyncInterval - tc.after)
				armed[0].fire()
			}
			if n := h.syncCount(); n != 2 {
				t.Fatalf("%d syncs, want 2: the partial lines were not synced", n)
			}
			if s := h.lastSync(); s.size != limit {
				t.Fatalf("the sync saw %d bytes, want %d", s.size, limit)
			}
		})
	}
}

// A Write that failed part-way leaves the file within a line: the next
// Write ends that line first, so the records it writes are whole lines of
// their own (a reader of the file loses the torn record, not the next).
func TestFileSinkPartialWriteEndsItsLine(t *testing.T) {
	if os.Getenv(partialChildEnv) == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestFileSinkPartialWriteEndsItsLine$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), partialChildEnv+"=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		return
	}
	h := newSyncHarness(t, 0, 0)
	h.mustWrite("a")
	limit := fileSize(t, h.s.Path) + 50 // part of the next line fits
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: uint64(limit), Max: old.Max}); err != nil {
		t.Fatal(err)
	}
	err := h.write("b")
	if rerr := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); rerr != nil {
		t.Fatal(rerr)
	}
	if !errors.Is(err, syscall.EFBIG) {
		t.Fatalf("write past the limit: %v, want EFBIG", err)
	}
	h.mustWrite("c")
	b, err := os.ReadFile(h.s.Path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	var ids []string
	for _, l := range lines {
		var rec struct {
			EventID string `json:"eventID"`
		}
		if json.Unmarshal([]byte(l), &rec) == nil {
			ids = append(ids, rec.EventID)
		}
	}
	if want := []string{"a0", "a1", "c0", "c1"}; !slices.Equal(ids, want) {
		t.Fatalf("whole records %q, want %q; file:\n%s", ids, want, b)
	}
	if !strings.HasSuffix(string(b), "\n") {
		t.Fatal("the file does not end with a whole line")
	}
}
