//go:build !unix

package client

import "syscall"

// readableNow says yes where the socket cannot be asked without a read:
// the read that follows waits if need be.
func readableNow(syscall.RawConn) bool { return true }

// readNoWait says that reading would wait where the socket cannot be
// read without waiting: the caller waits for it elsewhere.
func readNoWait(syscall.RawConn, []byte) (int, error, bool) { return 0, nil, true }
