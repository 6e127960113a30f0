//go:build !linux

package transparent

import (
	"errors"
	"runtime"
	"syscall"
)

// Check reports that client IP preservation needs Linux.
func Check() error {
	return &MissingError{Items: []string{"Linux: transparent sockets (IP_TRANSPARENT) do not exist on " + runtime.GOOS}}
}

// Control fails: there are no transparent sockets here.
func Control(_, _ string, _ syscall.RawConn) error {
	return errors.New("transparent sockets need Linux")
}

// Supported reports whether this platform has transparent sockets.
const Supported = false
