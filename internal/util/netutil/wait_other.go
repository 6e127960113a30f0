//go:build !unix

package netutil

import "syscall"

func waitReadable(syscall.RawConn) error { return nil }
