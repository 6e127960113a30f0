package e2e

import (
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestQJ16ConsoleUnsentInput drives the console's terminal in Chromium
// against a real sshd: a paste into a program that does not read it,
// then the session ends from the instance (the program exits) while the
// page still holds keystrokes for flow control.
//   - "held at the end": 8 MiB pasted: the page holds what the server has
//     not taken; the end banner says how many bytes typed or pasted were
//     not sent. Before s16 they were dropped without a word.
//   - "dropped past 16 MiB": 20 MiB pasted at once: the page holds 16 MiB
//     and drops the rest; its notice counts the dropped bytes and does not
//     claim the instance is not reading (before s16 it did, even for a
//     paste larger than 16 MiB into a program that reads it all); the end
//     banner counts them among the bytes not sent.
func TestQJ16ConsoleUnsentInput(t *testing.T) {
	e := startConsoleSignedIn(t)
	dir := t.TempDir()
	notice := `document.querySelector('[data-testid="input-dropped"]')`
	unsentRe := regexp.MustCompile(`^([\d,]+) bytes you typed or pasted were not sent(?: \(([\d,]+) bytes of them dropped when more than 16 MiB waited\))?\.$`)
	droppedRe := regexp.MustCompile(`([\d,]+) bytes were dropped`)
	for i, c := range []struct {
		name    string
		mib     int  // the paste, in MiB of 1 KiB lines
		dropped bool // the page drops part of it (more than 16 MiB held)
	}{
		{"held at the end", 8, false},
		{"dropped past 16 MiB", 20, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			exitFile := filepath.Join(dir, "exit-"+strconv.Itoa(i))
			e.startNotReading(t, exitFile)
			size := c.mib << 20
			e.run(t, "paste", 60*time.Second, chromedp.Evaluate[chromedp.Void](pasteJS(`('k'.repeat(1023) + '\n').repeat(`+strconv.Itoa(size>>10)+`)`)))
			var dropped int
			if c.dropped {
				e.run(t, "the input-dropped notice", time.Minute, until(notice))
				text := evalIn[string](t, e, notice+`.innerText`)
				t.Logf("the notice: %q", text)
				if strings.Contains(text, "not reading") {
					t.Errorf("the page's notice says the instance is not reading, which it cannot know: %q", text)
				}
				for _, want := range []string{"More than 16 MiB", "reads slower than you paste, or not at all"} {
					if !strings.Contains(text, want) {
						t.Errorf("the notice %q does not say %q", text, want)
					}
				}
				m := droppedRe.FindStringSubmatch(text)
				if m == nil {
					t.Fatalf("the notice %q does not count the bytes dropped", text)
				}
				dropped = atoiCommas(t, m[1])
				// The page holds 16 MiB: of a 20 MiB paste it drops 4.
				if dropped <= 0 || dropped > size-16<<20 {
					t.Errorf("the notice counts %d bytes dropped of a %d MiB paste, want 1 to %d", dropped, c.mib, size-16<<20)
				}
				e.b.Screenshot("qj16-input-dropped")
			} else if evalIn[bool](t, e, `!!`+notice) {
				t.Fatalf("the page dropped part of a %d MiB paste: %s", c.mib, evalIn[string](t, e, notice+`.innerText`))
			}
			e.wantConnected(t, "after the paste")

			e.endFromInstance(t, exitFile)
			e.b.Screenshot("qj16-unsent-" + strconv.Itoa(i))
			t.Logf("the end banner: %q", evalIn[string](t, e, consoleEndedText))
			text, m := e.unsentLine(t, unsentRe)
			// Of the paste, the SSH channel's window (2 MiB with OpenSSH),
			// the pty's buffer and the page's 512 KiB in flight left the page:
			// the rest it held or dropped.
			total := atoiCommas(t, m[1])
			if total < size-4<<20 || total > size {
				t.Errorf("the end banner counts %d bytes not sent of a %d MiB paste, want %d to %d", total, c.mib, size-4<<20, size)
			}
			switch {
			case c.dropped && (m[2] == "" || atoiCommas(t, m[2]) != dropped):
				t.Errorf("the end banner says %q, want the %d bytes the notice counted as dropped among them", text, dropped)
			case !c.dropped && m[2] != "":
				t.Errorf("the end banner says %q: nothing was dropped", text)
			}
		})
	}
}

// atoiCommas reads a count the page shows with thousands separators.
func atoiCommas(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(strings.ReplaceAll(s, ",", ""))
	if err != nil {
		t.Fatalf("count %q: %v", s, err)
	}
	return n
}
