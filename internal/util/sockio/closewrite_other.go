//go:build !linux

package sockio

import "net"

// CloseWrite half-closes c toward its peer (through its CloseWrite, if it
// has one).
func CloseWrite(c net.Conn) error { return closeWriteOf(c) }
