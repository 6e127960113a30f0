//go:build linux

package procstat

import (
	"errors"
	"fmt"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// UnsyncedPages tells whether what was written to a file is on the disk:
// how many of its pages the kernel's page cache holds dirty (written, not
// yet on the disk) or under writeback (cachestat(2), Linux 6.5 or later;
// errors.ErrUnsupported before). A file whose every write was followed by
// fsync has none; one written since its last sync has some until the
// kernel's own writeback (tens of seconds later).
func UnsyncedPages(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("procstat: %w", err)
	}
	defer f.Close()
	var st unix.Cachestat_t
	// Len 0: from Off to the end of the file.
	if err := unix.Cachestat(uint(f.Fd()), &unix.CachestatRange{}, &st, 0); err != nil {
		if errors.Is(err, unix.ENOSYS) {
			err = errors.Join(errors.ErrUnsupported, err)
		}
		return 0, fmt.Errorf("procstat: cachestat %s: %w", path, err)
	}
	return int(st.Dirty + st.Writeback), nil
}

// MustUnsyncedPages is UnsyncedPages, failing t on an error.
func MustUnsyncedPages(t testing.TB, path string) int {
	t.Helper()
	n, err := UnsyncedPages(path)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
