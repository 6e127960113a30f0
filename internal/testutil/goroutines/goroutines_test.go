package goroutines

import (
	"sync/atomic"
	"testing"
)

//go:noinline
func parkedHere(stop chan struct{}) { <-stop }

func TestRunning(t *testing.T) {
	stop := make(chan struct{})
	for range 2 {
		go parkedHere(stop)
	}
	if !Eventually(func() bool { return len(Running(t, "goroutines.parkedHere")) == 2 }) {
		t.Fatalf("parkedHere: %d goroutines, want 2", len(Running(t, "goroutines.parkedHere")))
	}
	close(stop)
	if !Eventually(func() bool { return len(Running(t, "goroutines.parkedHere")) == 0 }) {
		t.Errorf("parkedHere: %d goroutines after they ended", len(Running(t, "goroutines.parkedHere")))
	}
}

func TestEventually(t *testing.T) {
	var n atomic.Int32
	if !Eventually(func() bool { return n.Add(1) >= 3 }) {
		t.Error("a condition that comes true was not seen")
	}
	if Eventually(func() bool { return false }) {
		t.Error("a condition that never holds was reported as held")
	}
}
