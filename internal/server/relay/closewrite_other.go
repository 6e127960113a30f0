//go:build !linux

package relay

import "net"

// closeWrite half-closes c toward its peer.
func closeWrite(c net.Conn) error { return closeWriteOf(c) }
