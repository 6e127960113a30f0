package sockio

import "net"

// closeWriteOf half-closes c through its CloseWrite, if it has one.
func closeWriteOf(c net.Conn) error {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
