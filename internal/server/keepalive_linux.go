//go:build linux

package server

import (
	"fmt"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// Keepalive of the connections a listener accepts: the probes Go's
// default gives every accepted TCP connection (net.ListenConfig with a
// zero KeepAlive): the first after 15 s of silence, then every 15 s, and
// the connection is dropped after 9 unanswered.
const (
	keepAliveIdle     = 15 // seconds
	keepAliveInterval = 15 // seconds
	keepAliveCount    = 9
)

// listenConfig returns the ListenConfig of the server's listeners. Linux
// copies a listening socket's options to each connection it accepts, so
// keepalive is set once on the listener, and Go's own setting of it on
// every accepted connection (four setsockopt calls per connection, for
// every tunnel and every API connection) is turned off.
func listenConfig() net.ListenConfig {
	return net.ListenConfig{
		KeepAlive: -1, // the accepted connections inherit the listener's (Control)
		Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			if err := c.Control(func(fd uintptr) { serr = setKeepAlive(int(fd)) }); err != nil {
				return err
			}
			return serr
		},
	}
}

// setKeepAlive turns keepalive on for the socket fd.
func setKeepAlive(fd int) error {
	for _, o := range []struct {
		level, opt, value int
		name              string
	}{
		{unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1, "SO_KEEPALIVE"},
		{unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, keepAliveIdle, "TCP_KEEPIDLE"},
		{unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, keepAliveInterval, "TCP_KEEPINTVL"},
		{unix.IPPROTO_TCP, unix.TCP_KEEPCNT, keepAliveCount, "TCP_KEEPCNT"},
	} {
		if err := unix.SetsockoptInt(fd, o.level, o.opt, o.value); err != nil {
			return fmt.Errorf("server: listener keepalive (%s): %w", o.name, err)
		}
	}
	return nil
}
