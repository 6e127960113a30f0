// Package stackmove tells a test whether a goroutine's stack grew: a
// stack that grows is copied to a larger one, so it moves, and the address
// of a local variable tells. It is the one check of the tests of
// internal/util/stackgrow and of its callers (the agent's streams, the
// front door's goroutines): a grow call at a goroutine's start moves the
// stack once, and the work after it does not move it again.
package stackmove

import (
	"testing"
	"unsafe"
)

// Deep uses about n × 0.5 KiB of stack in small frames, as real work
// does (a TLS write, JSON decoding).
//
//go:noinline
func Deep(n int) byte {
	var buf [512]byte
	buf[n%len(buf)] = byte(n) // a real array in the frame, not optimised away
	if n <= 0 {
		return buf[0]
	}
	return Deep(n-1) + buf[n%len(buf)]
}

// Moved reports whether f moved the calling goroutine's stack.
//
//go:noinline
func Moved(f func()) bool {
	var x byte
	p := uintptr(unsafe.Pointer(&x))
	f()
	return p != uintptr(unsafe.Pointer(&x))
}

// OnNewGoroutine runs f on a new goroutine (the runtime's smallest stack)
// and waits for it to return.
func OnNewGoroutine(f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	<-done
}

// SkipUnlessWorkGrows skips the test unless work, run first thing on a
// new goroutine, moves its stack: when the runtime starts goroutines with
// a stack that holds the work, there is nothing to grow first.
func SkipUnlessWorkGrows(tb testing.TB, work func()) {
	tb.Helper()
	var moved bool
	OnNewGoroutine(func() { moved = Moved(work) })
	if !moved {
		tb.Skip("the runtime starts goroutines with a stack that holds the work: nothing to grow")
	}
}

// GrowsOnce checks that grow, called first thing on a new goroutine,
// moves its stack and that work, after it, does not move it again: the
// stack moves exactly once, before the work. It skips the test (as
// SkipUnlessWorkGrows) when the work alone does not move a new
// goroutine's stack. name names grow in the failures.
func GrowsOnce(tb testing.TB, name string, grow, work func()) {
	tb.Helper()
	SkipUnlessWorkGrows(tb, work)
	var grew, moved bool
	OnNewGoroutine(func() {
		grew = Moved(grow)
		moved = Moved(work)
	})
	if !grew {
		tb.Errorf("%s did not grow the stack", name)
	}
	if moved {
		tb.Errorf("the work grew the stack again after %s", name)
	}
}
