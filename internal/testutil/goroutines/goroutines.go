// Package goroutines looks at the test process's goroutines: which ones
// are running a function, and waiting, bounded, until a condition on them
// (or on anything else that settles on its own) holds.
package goroutines

import (
	"bytes"
	"runtime/pprof"
	"strings"
	"testing"
	"time"
)

// Running returns the stacks of the goroutines with fn in a frame of
// their stack (a goroutine that fn only created does not count).
func Running(tb testing.TB, fn string) []string {
	tb.Helper()
	var b bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&b, 2); err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, g := range strings.Split(b.String(), "\n\n") {
		for _, line := range strings.Split(g, "\n") {
			if strings.Contains(line, fn) && !strings.HasPrefix(strings.TrimSpace(line), "created by ") {
				out = append(out, g)
				break
			}
		}
	}
	return out
}

// Eventually checks cond every 10 ms for up to 10 s and returns whether
// it held: a bounded wait for state that settles on its own (goroutines
// parking, buffers given back), never a measure of how long it took.
func Eventually(cond func() bool) bool {
	deadline := time.After(10 * time.Second)
	for range 1000 {
		if cond() {
			return true
		}
		select {
		case <-deadline:
			return cond()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return cond()
}
