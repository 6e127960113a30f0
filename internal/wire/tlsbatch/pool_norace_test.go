//go:build !race

// Under the race detector sync.Pool drops a share of what it is given on
// purpose, so reuse through the pool is measured without it.

package tlsbatch

import (
	"io"
	"runtime"
	"testing"
)

// A bulk transfer's 256 KiB batches reuse their buffer: a batch buffer
// that large is returned to the pool, not allocated (and grown) anew for
// every write.
func TestLargeBatchReusesBuffer(t *testing.T) {
	client, bc, _, server := pair(t)
	go func() { _, _ = io.Copy(io.Discard, server) }()
	msg := make([]byte, 256<<10)
	write := func() error { _, err := client.Write(msg); return err }
	if err := bc.Batch(write); err != nil { // grows the pooled buffer once
		t.Fatal(err)
	}
	var bytesBefore, bytesAfter runtime.MemStats
	runtime.ReadMemStats(&bytesBefore)
	const writes = 20
	for range writes {
		if err := bc.Batch(write); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&bytesAfter)
	// A GC may empty the pool once in a while; a new buffer per write
	// would allocate more than 20 × 256 KiB.
	if got := bytesAfter.TotalAlloc - bytesBefore.TotalAlloc; got > writes*(256<<10)/2 {
		t.Errorf("%d bytes allocated for %d batched 256 KiB writes", got, writes)
	}
}
