//go:build unix

package ownerhint

import (
	"errors"
	"os"
	"syscall"
)

// ownerOf is the uid that owns path, when this process may look at it.
func ownerOf(path string) (int, bool) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}

// notModes reports an error a file's mode does not cause (EPERM: an
// immutable file, a read-only mount, a sandbox): its owner is no cause.
func notModes(err error) bool { return errors.Is(err, syscall.EPERM) }
