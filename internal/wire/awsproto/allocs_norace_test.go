//go:build !race

// Under the race detector sync.Pool drops a share of what it is given on
// purpose (the pooled random buffers), so allocations are counted
// without it.

package awsproto

import "testing"

// TestNewRequestIDAllocations: a request id allocates its string only
// (uuid.NewString allocated the UUID too, and read the system's
// generator each time).
func TestNewRequestIDAllocations(t *testing.T) {
	NewRequestID() // a buffer in the pool
	if got := testing.AllocsPerRun(500, func() { _ = NewRequestID() }); got > 1 {
		t.Errorf("NewRequestID allocates %.2f times, want 1", got)
	}
}
