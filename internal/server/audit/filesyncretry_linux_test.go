//go:build linux

package audit

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// A sync the timer made that failed is tried again an interval later,
// with no Write meanwhile, at most maxTimerSyncRetries times in a row;
// a retry that succeeds syncs every line written. The failing file is
// real: fsync of a FIFO fails (EINVAL) as a file on a failing disk does.
func TestFileSinkTimerSyncRetries(t *testing.T) {
	tests := []struct {
		name string
		// path makes the sink's file; syncFails is the error its syncs
		// fail with (injected when inject is set, else the file's own).
		path      func(t *testing.T) string
		inject    bool
		syncFails error
		// failures is how many of the timer's syncs fail (-1: all).
		failures int
	}{
		{"a FIFO: every sync fails", fifo, false, syscall.EINVAL, -1},
		{"a file: one sync fails, the retry succeeds", regular, true, errDisk, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newSyncHarnessAt(t, tt.path(t), 0, 0)
			if tt.inject {
				h.mustWrite("a")
			} else if err := h.write("a"); !errors.Is(err, tt.syncFails) { // the first Write syncs at once
				t.Fatalf("the first Write = %v, want the file's own sync failure %v", err, tt.syncFails)
			}
			h.mustWrite("b") // within the interval: left to the timer
			if tt.inject {
				h.fail = make([]error, tt.failures)
				for i := range h.fail {
					h.fail[i] = errDisk
				}
			}
			fired := 0
			for ft := h.armed(); len(ft) > 0; ft = h.armed() { // bounded by maxTimerSyncRetries
				if len(ft) != 1 {
					t.Fatalf("%d timers armed, want 1", len(ft))
				}
				if fired > maxTimerSyncRetries {
					t.Fatalf("the timer was armed again after %d syncs failed in a row, want at most %d retries", fired, maxTimerSyncRetries)
				}
				h.clock.Advance(ft[0].d)
				ft[0].fire()
				fired++
			}
			if tt.failures < 0 {
				if fired != 1+maxTimerSyncRetries {
					t.Fatalf("the timer synced %d times, want %d (one, then %d retries)", fired, 1+maxTimerSyncRetries, maxTimerSyncRetries)
				}
				// Reported once, by the next Write.
				if err := h.write("c"); !errors.Is(err, tt.syncFails) {
					t.Fatalf("the Write after the failed timer syncs = %v, want %v", err, tt.syncFails)
				}
				return
			}
			if fired != tt.failures+1 {
				t.Fatalf("the timer synced %d times, want %d (the failures, then the retry that succeeded)", fired, tt.failures+1)
			}
			if got, want := h.lastSync().size, fileSize(t, h.s.Path); got != want {
				t.Fatalf("the retry synced %d bytes of %d", got, want)
			}
			if err := h.s.Close(); !errors.Is(err, tt.syncFails) {
				t.Fatalf("Close = %v, want the timer's failure %v, not yet reported", err, tt.syncFails)
			}
		})
	}
}

// fifo makes a FIFO with a reader (so that opening it to write does not
// wait) and returns its path.
func fifo(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "audit.jsonl")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return p
}

func regular(t *testing.T) string { return filepath.Join(t.TempDir(), "audit.jsonl") }
