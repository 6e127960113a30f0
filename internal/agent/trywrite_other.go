//go:build !linux

package agent

import "syscall"

// directWrites: no non-blocking write here; the tunnel's goroutine
// writes every byte.
const directWrites = false

func tryWrite(syscall.RawConn, []byte) (int, error) { return 0, nil }
