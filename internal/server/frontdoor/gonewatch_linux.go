//go:build linux

package frontdoor

import (
	"io"
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// canWatchGone: waitPeerGone works here.
const canWatchGone = true

// waitPeerGone waits, in the runtime's poller, until the peer of the TCP
// socket raw has closed its side (a FIN: io.EOF) or reset the connection
// (syscall.ECONNRESET), and returns that; it returns nil when the wait
// ends otherwise (the read deadline, which stop sets). It reads nothing:
// poll(2)'s POLLRDHUP tells of the FIN even behind bytes not yet read (a
// TLS client's close_notify comes before its FIN; a readability wait would
// only see those bytes). Each readiness event of the socket (new bytes,
// the FIN, a reset) wakes it once; otherwise it is parked.
func waitPeerGone(raw net.Conn) error {
	sc, ok := raw.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	var gone error
	_ = rc.Read(func(fd uintptr) bool {
		var known bool
		gone, known = pollGone(fd)
		return known
	})
	return gone
}

// peerGone is waitPeerGone without the wait: whether the peer of the TCP
// socket raw has closed its side (io.EOF) or reset the connection
// (syscall.ECONNRESET) by now; nil when not, or when it cannot tell.
func peerGone(raw net.Conn) error {
	sc, ok := raw.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	var gone error
	_ = rc.Control(func(fd uintptr) { gone, _ = pollGone(fd) })
	return gone
}

// pollGone asks the socket fd, without blocking, whether its peer is gone
// (io.EOF: its FIN; syscall.ECONNRESET: a reset). known is false when
// there is nothing to tell yet (no event, or bytes only).
func pollGone(fd uintptr) (gone error, known bool) {
	fds := [1]unix.PollFd{{Fd: int32(fd), Events: unix.POLLRDHUP}}
	var now unix.Timespec // a zero timeout: ppoll(2) never blocks here
	for {
		// A raw system call, as sockio's: an ordinary one would wake
		// the runtime's sysmon on every open (internal/util/sockio).
		n, _, errno := unix.RawSyscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&fds[0])), 1, uintptr(unsafe.Pointer(&now)), 0, 0, 0)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return nil, true // cannot tell: stop watching (not gone)
		}
		switch ev := fds[0].Revents; {
		case n == 0:
			return nil, false // nothing yet: the poller waits for the next event
		case ev&unix.POLLERR != 0:
			return syscall.ECONNRESET, true
		case ev&(unix.POLLRDHUP|unix.POLLHUP) != 0:
			return io.EOF, true
		}
		return nil, false // bytes only: wait for more, or the FIN
	}
}
