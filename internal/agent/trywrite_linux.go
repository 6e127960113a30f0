//go:build linux

package agent

import (
	"os"
	"syscall"
	"unsafe"
)

// directWrites: tryWrite works here.
const directWrites = true

// tryWrite writes as much of p to the non-blocking socket as it takes at
// once and returns how much; it never waits for room (a full socket is
// n < len(p) and no error).
func tryWrite(rc syscall.RawConn, p []byte) (n int, err error) {
	var errno syscall.Errno
	cerr := rc.Write(func(fd uintptr) bool {
		for n < len(p) {
			r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&p[n])), uintptr(len(p)-n))
			switch e {
			case 0:
				n += int(r)
			case syscall.EINTR:
			case syscall.EAGAIN:
				return true // full: do not wait
			default:
				errno = e
				return true
			}
		}
		return true
	})
	switch {
	case cerr != nil:
		return n, cerr // closed
	case errno != 0:
		return n, os.NewSyscallError("write", errno)
	}
	return n, nil
}
