package webterm

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// qaShell is the shell's side of relayEvents: it notes each keystroke
// write and window-change in the order they come.
type qaShell struct {
	got      []string
	complete chan struct{} // closed at the keystroke qaEndMark
	stdinErr error
}

// qaEndMark is the keystroke a test sends last: the relay applied all
// before it once the shell sees it.
const qaEndMark = ".end"

func (f *qaShell) note(s string) {
	if s == "type "+qaEndMark {
		close(f.complete)
		return
	}
	f.got = append(f.got, s)
}

func (f *qaShell) Write(p []byte) (int, error) {
	if f.stdinErr != nil {
		return 0, f.stdinErr
	}
	f.note("type " + string(p))
	return len(p), nil
}

func (f *qaShell) windowChange(rows, cols int) error {
	f.note(fmt.Sprintf("size %dx%d", cols, rows))
	return nil
}

// qaStep is one step of the page (or of the session): "type x" and
// "size CxR" are the page's messages, "pty" takes the size for the pty
// request (takeSize), "shell" starts the shell (startInput).
func (s *session) qaStep(t *testing.T, step string) (pty string) {
	t.Helper()
	switch kind, arg, _ := strings.Cut(step, " "); kind {
	case "type":
		if s.queue(termEvent{input: []byte(arg)}) {
			t.Fatalf("%s: dropped for a full backlog", step)
		}
	case "size":
		var c, r int
		if _, err := fmt.Sscanf(arg, "%dx%d", &c, &r); err != nil {
			t.Fatal(err)
		}
		s.queue(termEvent{cols: c, rows: r})
	case "pty":
		if c, r, took := s.takeSize(); took {
			return fmt.Sprintf("%dx%d", c, r)
		}
		return "open"
	case "shell":
		s.startInput()
		return ""
	default:
		t.Fatalf("step %q", step)
	}
	return ""
}

// TestQARelayInputOrder: the page's keystrokes reach the shell, and the
// recording, in the order the page sent them, one message at a time, each
// after the sizes the page sent before it; sizes not yet applied are
// coalesced (the latest wins, ahead of keystrokes still waiting: since
// s14 QC a resize does not wait behind keystrokes, input.go), keystrokes
// before the shell runs are dropped, the latest size sent before the
// pty's request sizes the pty and one sent after it goes before any
// keystroke.
func TestQARelayInputOrder(t *testing.T) {
	for i, tc := range []struct {
		name    string
		steps   []string
		wantPty string   // the size takeSize gave the pty ("open": the open message's)
		want    []string // what the shell sees, in order
	}{
		{"no resize", []string{"pty", "shell", "type a", "type b"}, "open", []string{"type a", "type b"}},
		{"keystrokes wait for the sizes before them; sizes not applied yet coalesce",
			[]string{"pty", "shell", "size 100x33", "type a", "size 90x30", "size 120x40", "type b", "size 1x1"}, "open",
			[]string{"size 1x1", "type a", "type b"}},
		{"before the shell: keystrokes dropped, the latest size sizes the pty",
			[]string{"type x", "size 100x33", "size 90x30", "pty", "shell", "type a"}, "90x30",
			[]string{"type a"}},
		{"a size after the pty's request goes first",
			[]string{"size 100x33", "pty", "type x", "size 90x30", "size 120x40", "shell", "type a", "size 1x1"}, "100x33",
			[]string{"size 1x1", "type a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprintf("tnl-%017x", i+1)
			term, rec, s := recordedSession(t, id)
			pty := ""
			for _, step := range tc.steps {
				if p := s.qaStep(t, step); p != "" {
					pty = p
				}
			}
			if pty != tc.wantPty {
				t.Errorf("pty size %s, want %s", pty, tc.wantPty)
			}
			// Every event is queued before the relay starts: what it
			// coalesces does not depend on timing.
			s.qaStep(t, "type "+qaEndMark)
			f := &qaShell{complete: make(chan struct{})}
			done := make(chan struct{})
			go func() {
				defer close(done)
				s.relayEvents(f, f.windowChange, rec, rec)
			}()
			qaWithin(t, f.complete, "end mark at the shell")
			s.cancel()
			qaWithin(t, done, "end of the relay after the session's end")
			rec.finish()
			if strings.Join(f.got, "|") != strings.Join(tc.want, "|") {
				t.Fatalf("the shell saw %q, want %q", f.got, tc.want)
			}
			var recorded []string
			for _, ev := range events(t, filepath.Join(term.dir, id+".cast")) {
				switch ev[1] {
				case "i":
					if ev[2] != qaEndMark {
						recorded = append(recorded, fmt.Sprint("type ", ev[2]))
					}
				case "r":
					recorded = append(recorded, fmt.Sprint("size ", ev[2]))
				}
			}
			if strings.Join(recorded, "|") != strings.Join(tc.want, "|") {
				t.Fatalf("recorded %q, want %q", recorded, tc.want)
			}
		})
	}
}

// qaWithin waits for ch (a value or its close), failing the test after 30 s.
func qaWithin(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	timer := time.NewTimer(30 * time.Second)
	defer timer.Stop()
	select {
	case <-ch:
	case <-timer.C:
		t.Fatalf("no %s in 30 s", what)
	}
}
