package webterm

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// r2Stdin is a stdin whose writes take everything, except the write
// numbered block (from 1), which blocks until release is closed and then
// fails as x/crypto/ssh fails a write blocked for window when the
// connection closes.
type r2Stdin struct {
	block   int
	entered chan struct{} // closed when the blocking write begins
	release chan struct{}

	mu     sync.Mutex
	writes int
}

func (f *r2Stdin) Write(p []byte) (int, error) {
	f.mu.Lock()
	f.writes++
	n := f.writes
	f.mu.Unlock()
	if n != f.block {
		return len(p), nil
	}
	close(f.entered)
	<-f.release
	return 0, errors.New("ssh: channel closed")
}

// TestR215RecordingMarksInputInFlightAtEnd: keystrokes are recorded
// before their stdin write; when the session ends (the recording is
// finished) while that write waits for a remote that does not read, the
// write fails only later, when the SSH connection closes, and a finished
// recorder writes nothing. The recording must still say that those bytes
// may not have reached the instance, once, after them; keystrokes whose
// write returned get no marker. Before s15-R2 the recording ended with the
// keystrokes and no marker.
func TestR215RecordingMarksInputInFlightAtEnd(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sent  []string // the page's messages
		block int      // the write that blocks
		fails bool     // it fails before the session ends (one marker, not two)
		want  []string // the recording's input events and markers
	}{
		{"the only write blocks", []string{"hello"}, 1, false, []string{"i hello", "m 5"}},
		{"after keystrokes written", []string{"ls\r", "hello"}, 2, false, []string{"i ls\r", "i hello", "m 5"}},
		{"within a character", []string{"a\xc3"}, 1, false, []string{"i a", "i \uFFFD", "m 2"}},
		{"the write fails before the end", []string{"ls\r", "hello"}, 2, true, []string{"i ls\r", "i hello", "m 5"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprintf("tnl-%020x", 0x215)
			term, rec, s := recordedSession(t, id)
			s.startInput()
			f := &r2Stdin{block: tc.block, entered: make(chan struct{}), release: make(chan struct{})}
			done := make(chan struct{})
			go func() {
				defer close(done)
				s.relayEvents(f, func(int, int) error { return nil }, rec, rec)
			}()
			for _, m := range tc.sent {
				s.queue(termEvent{input: []byte(m)})
			}
			qaWithin(t, f.entered, "blocking stdin write")
			if tc.fails {
				// The write fails (the channel closed) and is marked; the
				// session's end follows.
				close(f.release)
				s.cancel()
				qaWithin(t, done, "end of the relay after the session's end")
				rec.finish()
			} else {
				// The session's order when the page leaves: its context
				// ends, the recording is finished, then the SSH connection
				// closes and the blocked write fails.
				s.cancel()
				rec.finish()
				close(f.release)
				qaWithin(t, done, "end of the relay after the session's end")
			}

			var got []string
			for _, ev := range events(t, filepath.Join(term.dir, id+".cast")) {
				switch ev[1] {
				case "i":
					got = append(got, fmt.Sprint("i ", ev[2]))
				case "m":
					msg := fmt.Sprint(ev[2])
					var n int
					if i := strings.Index(msg, "the last "); i >= 0 {
						fmt.Sscanf(msg[i+len("the last "):], "%d", &n)
					}
					got = append(got, fmt.Sprintf("m %d", n))
				}
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("recorded %q, want %q", got, tc.want)
			}
		})
	}
}
