//go:build unix && !linux

package sockio

import (
	"errors"
	"syscall"

	"golang.org/x/sys/unix"
)

// recvNowFD and peekFD: see sockio_linux.go. Elsewhere they are ordinary
// system calls (raw ones are not the platform's interface).
func recvNowFD(fd uintptr, p []byte) (int, syscall.Errno) {
	n, _, err := unix.Recvfrom(int(fd), p, unix.MSG_DONTWAIT)
	if err != nil {
		return 0, errnoOf(err)
	}
	return n, 0
}

func peekFD(fd uintptr, p []byte) syscall.Errno {
	_, _, err := unix.Recvfrom(int(fd), p, unix.MSG_PEEK|unix.MSG_DONTWAIT)
	return errnoOf(err)
}

// errnoOf is err's system error number: x/sys/unix reports a failed
// system call as one (unix.Errno is syscall.Errno); anything else, which
// it does not return, counts as EIO rather than as success.
func errnoOf(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var e syscall.Errno
	if errors.As(err, &e) && e != 0 {
		return e
	}
	return syscall.EIO
}
