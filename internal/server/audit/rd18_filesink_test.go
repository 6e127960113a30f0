package audit

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// After a failed sync the FileSink writes its unsynced lines again at the
// offsets it counts (size - len(copy)). Those offsets are the sink's own
// count: when the file at the path changed under it between its lines
// (logrotate's copytruncate emptied it, another process appended a line),
// the rewrite must not write there: it would put NUL bytes up to the old
// length and the lines twice, or write over another writer's line. A file
// renamed away and replaced is not written either.
func TestRD18FileSinkRewriteOnlyOverItsOwnLines(t *testing.T) {
	tests := []struct {
		name string
		// change alters the file behind the sink, before the failed sync.
		change func(t *testing.T, path string)
		// want checks the file's content after the rewrite.
		want func(t *testing.T, before, after []byte)
	}{
		{"unchanged", func(*testing.T, string) {}, func(t *testing.T, before, after []byte) {
			if !bytes.Equal(before, after) {
				t.Errorf("the rewrite changed the file:\n%q\nwant\n%q", after, before)
			}
		}},
		{"emptied (copytruncate)", func(t *testing.T, path string) {
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T, before, after []byte) {
			if !bytes.Equal(after, before) {
				t.Errorf("the rewrite after a copytruncate wrote at the old offsets (%d NUL bytes):\n%q\nwant\n%q",
					bytes.Count(after, []byte{0}), after, before)
			}
		}},
		{"renamed away, another file in its place", func(t *testing.T, path string) {
			if err := os.Rename(path, path+".old"); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte("{\"new\":\"file\"}\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T, _, after []byte) {
			if string(after) != "{\"new\":\"file\"}\n" {
				t.Errorf("the rewrite wrote into the file now at the path: %q", after)
			}
		}},
		{"another writer appended", func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteString("{\"other\":\"writer\"}\n"); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T, before, after []byte) {
			if !bytes.Equal(after, before) {
				t.Errorf("the rewrite wrote over another writer's line (the sink's lines are not where it counts them):\n%q\nwant\n%q", after, before)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newSyncHarness(t, 0, 0)
			h.mustWrite("a")
			tt.change(t, h.s.Path)
			h.mustWrite("b") // left to the timer
			before, err := os.ReadFile(h.s.Path)
			if err != nil {
				t.Fatal(err)
			}
			h.mu.Lock()
			h.fail = []error{errDisk}
			h.mu.Unlock()
			ft := h.armed()
			if len(ft) != 1 {
				t.Fatalf("%d timers armed, want 1", len(ft))
			}
			h.clock.Advance(ft[0].d)
			ft[0].fire() // the sync fails; the lines are written again
			after, err := os.ReadFile(h.s.Path)
			if err != nil {
				t.Fatal(err)
			}
			tt.want(t, before, after)
		})
	}
}

// A file that cannot be synced at all (a character device such as
// /dev/null or /dev/stdout: fsync gives EINVAL) drops nothing when its sync
// fails: nothing is written again (the device is not reopened and written
// to), and the failure is reported as the sync's alone, without a second
// error for a rewrite.
func TestRD18FileSinkUnsyncableFileNotRewritten(t *testing.T) {
	h := newSyncHarnessAt(t, "/dev/null", 0, 0)
	inner := h.s.syncFile
	rewrites := 0
	h.s.mu.Lock()
	h.s.syncFile = func(f *os.File) error {
		rewrites = h.s.rewrites
		return inner(f)
	}
	h.s.mu.Unlock()
	var errs []error
	for _, p := range []string{"a", "b", "c"} {
		h.clock.Advance(FileSyncInterval) // each Write syncs
		if err := h.write(p); err != nil {
			errs = append(errs, err)
		}
	}
	for range 3 {
		ft := h.armed()
		if len(ft) == 0 {
			break
		}
		h.clock.Advance(ft[len(ft)-1].d)
		ft[len(ft)-1].fire()
	}
	cerr := h.s.Close()
	t.Logf("writes: %v; close: %v", errs, cerr)
	for _, err := range append(errs, cerr) {
		if err != nil && strings.Contains(err.Error(), "again") {
			t.Errorf("%v: a rewrite error for a file that cannot be synced", err)
		}
	}
	if rewrites != 0 || h.s.rewrites != 0 {
		t.Errorf("%d rewrites of /dev/null, want none", h.s.rewrites)
	}
}
