//go:build linux && !race

// Under the race detector sync.Pool drops a share of what it is given on
// purpose, so allocations are counted without it.

package sockio

import "testing"

// TestCallsAllocateNothing: a read, a borrowed read (with and without a
// wait for the peer's bytes), a write, a no-wait write and a readiness
// wait allocate nothing. Each used to allocate its callback and the
// variables it captured (2–3 allocations per system call, two thirds of
// a bulk transfer's allocations).
func TestCallsAllocateNothing(t *testing.T) {
	a, b := tcpPair(t, false)
	sa, sb := Of(a), Of(b)
	rc, err := a.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	msg := make([]byte, 512)
	buf := make([]byte, 512)
	borrow := func() []byte { return buf }
	giveBack := func() {}
	// readAll reads len(msg) bytes at b with read (a Read may return part).
	readAll := func(read func() (int, error)) {
		for got := 0; got < len(msg); {
			n, err := read()
			if err != nil {
				t.Fatal(err)
			}
			got += n
		}
	}
	cases := []struct {
		name string
		call func()
	}{
		{"Write then Read", func() {
			if _, err := sa.Write(msg); err != nil {
				t.Fatal(err)
			}
			readAll(func() (int, error) { return sb.Read(buf) })
		}},
		{"Write then Wait and ReadBorrowed", func() {
			if _, err := sa.Write(msg); err != nil {
				t.Fatal(err)
			}
			if err := sb.Wait(); err != nil {
				t.Fatal(err)
			}
			readAll(func() (int, error) { return sb.ReadBorrowed(borrow, giveBack) })
		}},
		{"WriteNow then Read", func() {
			if n, err := WriteNow(rc, msg); err != nil || n != len(msg) {
				t.Fatalf("WriteNow: %d, %v", n, err)
			}
			readAll(func() (int, error) { return sb.Read(buf) })
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.call() // the pool's first op
			if got := testing.AllocsPerRun(200, tc.call); got != 0 {
				t.Errorf("%.1f allocations per call, want 0", got)
			}
		})
	}
}
