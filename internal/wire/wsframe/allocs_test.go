package wsframe

import (
	"io"
	"testing"
)

// TestWriteDataPartsAllocatesNothing: a server's frames of lent bytes
// (the two-hop download's every 64 KiB) allocate nothing; each frame's
// header used to escape to the heap.
func TestWriteDataPartsAllocatesNothing(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage counters change allocation")
	}
	w := NewWriter(io.Discard, false)
	p := make([]byte, 256<<10)
	cases := []struct {
		name string
		max  int
	}{
		{"64 KiB frames", 65531},
		{"one frame", len(p)},
		{"small frames", 100},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			write := func() {
				if err := w.WriteDataParts(p, tc.max); err != nil {
					t.Fatal(err)
				}
			}
			if got := testing.AllocsPerRun(50, write); got != 0 {
				t.Errorf("%.1f allocations per WriteDataParts, want 0", got)
			}
		})
	}
}
