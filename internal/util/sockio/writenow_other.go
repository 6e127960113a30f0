//go:build !linux

package sockio

import (
	"errors"
	"syscall"
)

// WriteNowWorks says WriteNow writes here: not outside Linux.
const WriteNowWorks = false

// WriteNow writes nothing outside Linux (errors.ErrUnsupported): callers
// check WriteNowWorks and keep to blocking writes.
func WriteNow(syscall.RawConn, []byte) (int, error) { return 0, errors.ErrUnsupported }
