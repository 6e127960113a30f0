package webterm

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// qc15Stdin is a stdin that takes its writes as told: results[i] is how
// many bytes of the i-th write it takes; a write it does not take whole
// fails (as x/crypto/ssh fails a channel write part-way when the channel
// closes). It closes failed at its first failure.
type qc15Stdin struct {
	mu      sync.Mutex
	results []int
	got     []string // what each write handed it (the bytes taken)
	failed  chan struct{}
}

func (f *qc15Stdin) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := len(f.got)
	n := len(p)
	if i < len(f.results) {
		n = min(f.results[i], len(p))
	}
	f.got = append(f.got, string(p[:n]))
	if n < len(p) {
		close(f.failed)
		return n, errors.New("ssh: channel closed")
	}
	return n, nil
}

// TestQC15RecordingMarksFailedInput: keystrokes are recorded before they
// are written to stdin; when that write fails, the recording says so, right
// after them (an "m" marker with how many of their bytes did not reach the
// shell), and what the page sends after them is neither written nor
// recorded. Before s15 the failed keystrokes read as typed into the shell.
func TestQC15RecordingMarksFailedInput(t *testing.T) {
	for _, tc := range []struct {
		name    string
		sent    []string // the page's messages
		results []int    // bytes stdin takes of each write
		want    []string // the recording's input events and markers
	}{
		{
			name:    "fails at once",
			sent:    []string{"hello", "after"},
			results: []int{0},
			want:    []string{"i hello", "m 5 of the last 5"},
		},
		{
			name:    "fails part-way",
			sent:    []string{"hello", "after"},
			results: []int{2},
			want:    []string{"i hello", "m 3 of the last 5"},
		},
		{
			name:    "after keystrokes that reached it",
			sent:    []string{"ls\r", "hello", "after"},
			results: []int{3, 1},
			want:    []string{"i ls\r", "i hello", "m 4 of the last 5"},
		},
		{
			// The page may split a character between two messages; its
			// first bytes, held back for the next, are recorded before the
			// marker that is about them.
			name:    "within a character",
			sent:    []string{"a\xc3", "\xa9"},
			results: []int{0},
			want:    []string{"i a", "i \uFFFD", "m 2 of the last 2"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprintf("tnl-%020x", 0xc15)
			term, rec, s := recordedSession(t, id)
			s.startInput()
			for _, m := range tc.sent {
				s.queue(termEvent{input: []byte(m)})
			}
			f := &qc15Stdin{results: tc.results, failed: make(chan struct{})}
			done := make(chan struct{})
			go func() {
				defer close(done)
				s.relayEvents(f, func(int, int) error { return nil }, rec, rec)
			}()
			qaWithin(t, f.failed, "failed stdin write")
			s.cancel()
			qaWithin(t, done, "end of the relay after the session's end")
			rec.finish()

			var got []string
			for _, ev := range events(t, filepath.Join(term.dir, id+".cast")) {
				switch ev[1] {
				case "i":
					got = append(got, fmt.Sprint("i ", ev[2]))
				case "m":
					msg := fmt.Sprint(ev[2])
					if !strings.Contains(msg, "input not delivered") {
						t.Errorf("marker %q does not say the input was not delivered", msg)
					}
					var missed, of int
					if i := strings.Index(msg, "); "); i >= 0 {
						fmt.Sscanf(msg[i+3:], "%d of the last %d", &missed, &of)
					}
					got = append(got, fmt.Sprintf("m %d of the last %d", missed, of))
				}
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("recorded %q, want %q", got, tc.want)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if len(f.got) != len(tc.results) {
				t.Errorf("stdin written %d times (%q), want %d: nothing after the failure", len(f.got), f.got, len(tc.results))
			}
		})
	}
}
