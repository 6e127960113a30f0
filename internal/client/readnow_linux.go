package client

import (
	"syscall"
	"unsafe"
)

// readNow and peekNow are readNoWait's and readableNow's system calls on
// Linux: raw, as internal/util/sockio makes them. An ordinary system
// call (golang.org/x/sys/unix.Read) goes through the runtime's
// entersyscall, which wakes sysmon from its deep sleep; sysmon then polls
// every 20 µs and takes the P of a read that lasts longer (a 256 KiB
// loopback read does), handing it to another thread. In the one-hop
// upload's profile that was 4 % of the client's CPU (sysmon and its
// sleeps) and a third of its context switches. The socket is
// non-blocking: neither call waits.
func readNow(fd uintptr, p []byte) (int, error) {
	var ptr unsafe.Pointer
	if len(p) > 0 {
		ptr = unsafe.Pointer(&p[0])
	}
	r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(ptr), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

func peekNow(fd uintptr, p []byte) error {
	_, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)),
		syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}
