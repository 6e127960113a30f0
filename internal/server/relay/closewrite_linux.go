//go:build linux

package relay

import (
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// closeWrite half-closes c toward its peer (the target then reads EOF
// and may still answer). A TCP connection's shutdown(2) is made as a raw
// system call inside the runtime's poller: it never blocks (the FIN is
// queued, not awaited), and an ordinary system call woke the runtime's
// sysmon when the process had been idle, which then polled every 20 µs
// for a while (as internal/util/sockio says of reads and writes).
func closeWrite(c net.Conn) error {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return closeWriteOf(c)
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		if _, _, e := unix.RawSyscall(unix.SYS_SHUTDOWN, fd, unix.SHUT_WR, 0); e != 0 {
			serr = e
		}
	}); err != nil {
		return err // the connection is closed
	}
	if serr != nil {
		return &net.OpError{Op: "close", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError("shutdown", serr)}
	}
	return nil
}
