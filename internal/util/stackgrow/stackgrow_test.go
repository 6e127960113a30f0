package stackgrow

import (
	"fmt"
	"testing"

	"github.com/postern/postern/internal/testutil/stackmove"
)

// TestGrowsOnceAtTheStart: after To64K (To16K, To8K, To4K) a fresh
// goroutine's stack has moved (it was copied to a larger one) and work
// that needs a little less than 64 KiB (16, 8, 4 KiB) then runs without moving it
// again (stackmove.GrowsOnce).
func TestGrowsOnceAtTheStart(t *testing.T) {
	for _, tc := range []struct {
		name string
		grow func() byte
		kib  int // work that fits in the grown stack
	}{
		{"To64K", To64K, 40},
		{"To16K", To16K, 10},
		{"To8K", To8K, 5},
		{"To4K", To4K, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stackmove.GrowsOnce(t, tc.name, func() { tc.grow() },
				func() { _ = fmt.Sprint(stackmove.Deep(tc.kib * 2)) }) // 512 B frames: kib*2 of them
		})
	}
}
