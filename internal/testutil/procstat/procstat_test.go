package procstat

import (
	"os"
	"testing"
	"time"
)

// TestCPUTimeGrows spins this process until its own CPU time, read from
// /proc, moves by at least one clock tick (bounded by a one-minute
// deadline: a guard, not a measure; a process starved by a loaded 2-core
// machine may get less than a tick's CPU in 10 s).
func TestCPUTimeGrows(t *testing.T) {
	pid := os.Getpid()
	start := CPUTime(pid)
	deadline := time.Now().Add(time.Minute)
	x := 0
	for CPUTime(pid) <= start {
		for i := range 1_000_000 {
			x += i
		}
		if time.Now().After(deadline) {
			t.Fatalf("CPU time stayed at %v (x=%d)", start, x)
		}
	}
}

func TestReadings(t *testing.T) {
	tests := []struct {
		name    string
		pid     int
		wantCPU bool // a non-zero CPU time
		wantPSS bool // a PSS reading without error
	}{
		{name: "self", pid: os.Getpid(), wantCPU: true, wantPSS: true},
		{name: "no such process", pid: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.wantCPU {
				// Make sure at least one tick has been spent.
				deadline := time.Now().Add(time.Minute)
				for x := 0; CPUTime(tt.pid) == 0 && time.Now().Before(deadline); x++ {
				}
			}
			if got := CPUTime(tt.pid); (got > 0) != tt.wantCPU {
				t.Errorf("CPUTime = %v, want non-zero %v", got, tt.wantCPU)
			}
			kib, err := PSSKiB(tt.pid)
			if (err == nil) != tt.wantPSS {
				t.Fatalf("PSSKiB = %d, %v; want a reading %v", kib, err, tt.wantPSS)
			}
			if tt.wantPSS && kib <= 0 {
				t.Errorf("PSSKiB = %d, want > 0", kib)
			}
		})
	}
}
