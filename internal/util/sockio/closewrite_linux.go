//go:build linux

package sockio

import (
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// CloseWrite half-closes c toward its peer (the peer then reads EOF and
// may still answer); a connection without a half-close is left as it is.
// A TCP connection's shutdown(2) is made as a raw system call inside the
// runtime's poller: it never blocks (the FIN is queued, not awaited), and
// the ordinary system call behind net.TCPConn's CloseWrite woke the
// runtime's monitor thread (sysmon) whenever the process had gone idle
// meanwhile, which then polled every 20 µs for a while — on about four in
// five tunnel opens through a separate agent (uprobes on
// runtime.entersyscallWakeSysmon: shutdown was half of the agent's
// wake-ups). Used by the server's embedded agent (relay) and the endpoint
// agent alike.
func CloseWrite(c net.Conn) error {
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
