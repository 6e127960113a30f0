package stackgrow

import (
	"fmt"
	"testing"
	"unsafe"
)

// deep uses about n KiB of stack in small frames, as real work does.
//
//go:noinline
func deep(n int) byte {
	var buf [512]byte
	buf[index] = byte(n)
	if n <= 0 {
		return buf[index]
	}
	return deep(n-1) + buf[index]
}

// TestGrowsOnceAtTheStart: after To16K (To8K, To4K) a fresh goroutine's
// stack has moved (it was copied to a larger one) and work that needs a
// little less than 16 KiB (8 KiB, 4 KiB) then runs without moving it
// again. A stack that is copied moves: the address of a local variable
// tells.
func TestGrowsOnceAtTheStart(t *testing.T) {
	for _, tc := range []struct {
		name string
		grow func() byte
		kib  int // work that fits in the grown stack
	}{
		{"To16K", To16K, 10},
		{"To8K", To8K, 5},
		{"To4K", To4K, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Control: the work alone grows a fresh goroutine's stack.
			if _, moved := run(nil, tc.kib); !moved {
				t.Skip("the runtime starts goroutines with a stack that holds the work: nothing to grow")
			}
			grew, moved := run(tc.grow, tc.kib)
			if !grew {
				t.Errorf("%s did not grow the stack", tc.name)
			}
			if moved {
				t.Errorf("the work grew the stack again after %s", tc.name)
			}
		})
	}
}

// run does the work on a fresh goroutine, after grow when it is set, and
// reports whether grow and the work moved the stack.
func run(grow func() byte, kib int) (grew, moved bool) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		var x byte
		p0 := uintptr(unsafe.Pointer(&x))
		if grow != nil {
			grow()
		}
		p1 := uintptr(unsafe.Pointer(&x))
		_ = fmt.Sprint(deep(kib * 2)) // 512 B frames: kib*2 of them
		p2 := uintptr(unsafe.Pointer(&x))
		grew, moved = p0 != p1, p1 != p2
	}()
	<-done
	return grew, moved
}
