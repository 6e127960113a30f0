//go:build !linux

package procstat

import (
	"errors"
	"fmt"
	"testing"
)

// UnsyncedPages needs cachestat(2), Linux's: elsewhere it says
// errors.ErrUnsupported.
func UnsyncedPages(path string) (int, error) {
	return 0, fmt.Errorf("procstat: cachestat %s: %w", path, errors.ErrUnsupported)
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
