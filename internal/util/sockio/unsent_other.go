//go:build !linux

package sockio

import "syscall"

// Unsent reports ok false outside Linux, where the socket's send queue is
// not read (see unsent_linux.go).
func Unsent(syscall.RawConn) (n int, ok bool) { return 0, false }
