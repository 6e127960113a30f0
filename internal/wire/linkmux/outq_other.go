//go:build !linux

package linkmux

import "syscall"

// sendQueueEmpty reports false where the socket's send queue cannot be
// read: window updates from the receive loop always leave from
// flushWindowUpdates.
func sendQueueEmpty(syscall.RawConn) bool { return false }
