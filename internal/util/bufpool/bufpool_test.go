package bufpool

import "testing"

func TestGetFor(t *testing.T) {
	tests := []struct {
		n     int
		chunk int
	}{
		{0, Chunk},
		{1, Chunk},
		{Chunk, Chunk},
		{Chunk + 1, BigChunk},
		{BigChunk, BigChunk},
		{10 << 20, BigChunk},
	}
	for _, tc := range tests {
		b := GetFor(tc.n)
		if got := ChunkOf(b); got != tc.chunk || len(*b) != tc.chunk+Headroom {
			t.Errorf("GetFor(%d): chunk %d, len %d; want chunk %d", tc.n, got, len(*b), tc.chunk)
		}
		*b = (*b)[:3] // Put restores the full length
		Put(b)
	}
	for range 3 {
		if b := Get(); len(*b) != Size {
			t.Fatalf("Get after Put: len %d", len(*b))
		}
		if b := GetBig(); len(*b) != BigSize {
			t.Fatalf("GetBig after Put: len %d", len(*b))
		}
	}
	Put(nil)
	other := make([]byte, 10)
	Put(&other) // a foreign buffer is dropped, never lent
}
