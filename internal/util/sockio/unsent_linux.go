package sockio

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Unsent returns how many bytes the socket behind rc holds that were not
// yet sent or not yet acknowledged by the peer (SIOCOUTQ); ok is false
// when that cannot be read (a closed connection, or elsewhere than
// Linux). The ioctl(2) is a raw system call, as the package's reads and
// writes are: x/sys/unix's goes through the runtime's entersyscall, which
// wakes the runtime's monitor thread (sysmon) from its deep sleep, and
// sysmon then polls every 20 µs for a millisecond or more (see the
// package comment). linkmux asks this of the link's socket from its
// receive loop for every window update it owes.
func Unsent(rc syscall.RawConn) (n int, ok bool) {
	cerr := rc.Control(func(fd uintptr) {
		var v int32
		_, _, e := syscall.RawSyscall(syscall.SYS_IOCTL, fd, unix.SIOCOUTQ, uintptr(unsafe.Pointer(&v)))
		n, ok = int(v), e == 0
	})
	if cerr != nil {
		return 0, false
	}
	return n, ok
}
