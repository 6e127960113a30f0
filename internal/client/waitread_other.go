//go:build !unix

package client

import "syscall"

// waitReadable does not wait here: the Read that follows blocks with its
// buffer.
func waitReadable(syscall.Conn) {}
