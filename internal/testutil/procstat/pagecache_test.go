package procstat

import (
	"os"
	"path/filepath"
	"testing"
)

// TestUnsyncedPages: a write leaves pages unsynced, fsync leaves none, for a
// new file and for a rewrite of a synced one.
func TestUnsyncedPages(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, c := range []struct {
		name string
		off  int64
		n    int
	}{{"new file", 0, 1 << 16}, {"rewrite of a synced page", 100, 2}, {"append", 1 << 16, 4096}} {
		if _, err := f.WriteAt(make([]byte, c.n), c.off); err != nil {
			t.Fatal(err)
		}
		if n := MustUnsyncedPages(t, path); n == 0 {
			t.Errorf("%s: written, not synced: %d unsynced pages, want some", c.name, n)
		}
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		if n := MustUnsyncedPages(t, path); n != 0 {
			t.Errorf("%s: synced: %d unsynced pages, want 0", c.name, n)
		}
	}
	if _, err := UnsyncedPages(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("a missing file: no error")
	}
}
