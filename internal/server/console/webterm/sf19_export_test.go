package webterm

import (
	"os"
	"testing"
)

// SF19BreakRecording makes the next writes of the running recording of
// the tunnel id fail, as a full or failing disk does: its file is swapped
// for a read-only descriptor of itself (the recorder then stops, marking
// the recording truncated with the write's error as the reason).
func SF19BreakRecording(tb testing.TB, term *Terminal, id string) {
	tb.Helper()
	rec := term.liveRecorder(id)
	if rec == nil {
		tb.Fatalf("no running recording of %s", id)
	}
	ro, err := os.Open(rec.path)
	if err != nil {
		tb.Fatal(err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.f.Close()
	rec.f = ro
}
