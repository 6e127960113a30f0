//go:build !race

package relay

import "testing"

// TestRevokedOfNoErrorAllocatesNothing: a tunnel's send or receive that
// succeeded passes tracked.revoked without an allocation (it runs for
// every chunk of a bulk transfer).
func TestRevokedOfNoErrorAllocatesNothing(t *testing.T) {
	tr := &tracked{}
	if n := testing.AllocsPerRun(100, func() {
		if err := tr.revoked(nil); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("revoked(nil) allocates %v times, want 0", n)
	}
}
