package e2e

import (
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/postern/postern/internal/testutil/browser"
)

// TestR316ConsoleDropCounts checks the counts s16's QJ added to the
// terminal page against pastes whose sizes make them exact: a paste of
// more than 16 MiB made while the page holds nothing keeps 16 MiB (its
// first 1,024 messages of 16 KiB) and drops the rest, whatever the shell
// reads. The shell does not read (it waits for a file, then exits, so the
// session ends from the instance while the page still holds the paste).
//   - "one byte over": 16 MiB + 1 byte pasted drops 1 byte ("1 byte was
//     dropped", not "were"); a paste of 1,000 three-byte characters after
//     the notice adds 3,000 (bytes of UTF-8, not the string's length);
//   - "UTF-8": 18 MiB of UTF-8 in 9,474,048 JavaScript characters drops
//     exactly 2 MiB.
//
// The end banner counts the same dropped bytes among those not sent.
func TestR316ConsoleDropCounts(t *testing.T) {
	e := startConsoleSignedIn(t)
	dir := t.TempDir()
	notice := `document.querySelector('[data-testid="input-dropped"]')`
	unsentRe := regexp.MustCompile(`^([\d,]+) bytes you typed or pasted were not sent \(([\d,]+) bytes? of them dropped when more than 16 MiB waited\)\.$`)
	for i, c := range []struct {
		name        string
		paste       string // a JavaScript expression
		pasteBytes  int    // its length in UTF-8
		wantDropped string // in the notice
		after       string // a paste after the notice ("" for none)
		afterBytes  int
		wantAfter   string // the notice after it
	}{
		{
			name:  "one byte over",
			paste: `('k'.repeat(1023) + '\n').repeat(16384) + 'k'`, pasteBytes: 16<<20 + 1,
			wantDropped: "1 byte was dropped;",
			after:       `'\u65e5'.repeat(1000)`, afterBytes: 3000,
			wantAfter: "3,001 bytes were dropped;",
		},
		{
			name:  "UTF-8", // lines of 510 two-byte characters and 4 bytes: 1 KiB in 514 characters
			paste: `('\u00e9'.repeat(510) + 'kkk\n').repeat(18432)`, pasteBytes: 18 << 20,
			wantDropped: "2,097,152 bytes were dropped;",
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			exitFile := filepath.Join(dir, "exit-"+strconv.Itoa(i))
			e.startNotReading(t, exitFile)
			e.run(t, "paste", 60*time.Second, chromedp.Evaluate[chromedp.Void](pasteJS(c.paste)))
			e.run(t, "the input-dropped notice", time.Minute, until(notice))
			text := evalIn[string](t, e, notice+`.innerText`)
			if !strings.Contains(text, c.wantDropped) {
				t.Errorf("after a paste of %d bytes the notice says %q, want %q", c.pasteBytes, text, c.wantDropped)
			}
			dropped, total := c.pasteBytes-16<<20, c.pasteBytes
			if c.after != "" {
				e.run(t, "paste after the notice", time.Minute, chromedp.Evaluate[chromedp.Void](pasteJS(c.after)))
				dropped += c.afterBytes
				total += c.afterBytes
				if text := evalIn[string](t, e, notice+`.innerText`); !strings.Contains(text, c.wantAfter) {
					t.Errorf("after %d more bytes the notice says %q, want %q", c.afterBytes, text, c.wantAfter)
				}
			}
			e.wantConnected(t, "after the pastes")

			e.endFromInstance(t, exitFile)
			line, m := e.unsentLine(t, unsentRe)
			if got := atoiCommas(t, m[2]); got != dropped {
				t.Errorf("the end banner says %q: %d dropped, want %d", line, got, dropped)
			}
			// Sent: at most the page's 512 KiB window, the SSH channel's
			// window (2 MiB with OpenSSH) and the pty's buffer.
			if got := atoiCommas(t, m[1]); got < total-4<<20 || got > total {
				t.Errorf("the end banner says %q: %d not sent of %d pasted, want %d to %d", line, got, total, total-4<<20, total)
			}
		})
	}

	t.Run("nothing held", func(t *testing.T) {
		// The banner as before s16: no line about bytes not sent. After
		// the cases above, through Reconnect on the same page: the counts
		// of the session before (held and dropped) must not carry over.
		if evalIn[bool](t, e, `!!document.querySelector('[data-testid="reconnect"]')`) {
			e.run(t, "reconnect", 60*time.Second,
				chromedp.Click(browser.TestID("reconnect")),
				until(terminalState+` === 'connected'`))
		} else {
			e.connectTerminal(t)
		}
		e.run(t, "exit", time.Minute, typeInTerminal("exit\r"), until(consoleEnded))
		if evalIn[bool](t, e, `!!`+consoleUnsent) {
			t.Errorf("the end banner counts bytes not sent when the page held none: %q", evalIn[string](t, e, consoleUnsent+`.innerText`))
		}
		if got, want := evalIn[string](t, e, `document.querySelector('[data-testid="session-ended"] .alert-text').innerText`), "Session ended: closed. The session ended."; got != want {
			t.Errorf("the end banner says %q, want %q", got, want)
		}
	})
}

// TestR316ConsolePasteDuringHostKeyPrompt pastes 20 MiB while the page
// asks whether to trust the host key, before the server's connected:
// the server drops keystrokes then (there is no shell), so the page has
// nothing to hold, count or say. Before, it kept 16 MiB of the paste for
// the socket, and its input-dropped notice ("… is waiting to be sent")
// replaced the prompt: the page could no longer trust the key.
func TestR316ConsolePasteDuringHostKeyPrompt(t *testing.T) {
	e := startConsoleSignedIn(t)
	e.openTerminalPage(t, "the host-key prompt", chromedp.WaitVisible(browser.TestID("hostkey-trust")))
	e.run(t, "paste during the prompt", 60*time.Second,
		chromedp.Evaluate[chromedp.Void](pasteJS(`('k'.repeat(1023) + '\n').repeat(20480)`)))
	if evalIn[bool](t, e, `!!document.querySelector('[data-testid="input-dropped"]')`) {
		t.Errorf("a paste before the session connected shows the input-dropped notice: %q",
			evalIn[string](t, e, `document.querySelector('[data-testid="input-dropped"]').innerText`))
	}
	if !evalIn[bool](t, e, `!!document.querySelector('[data-testid="hostkey-trust"]')`) {
		e.b.Screenshot("r3-16-hostkey-prompt-gone")
		t.Fatalf("a paste before the session connected removed the host-key prompt; the banner: %q",
			evalIn[string](t, e, `document.querySelector('[data-testid="terminal-banner"]').innerText`))
	}
	e.run(t, "trust the host key", 60*time.Second,
		chromedp.Click(browser.TestID("hostkey-trust")),
		until(terminalState+` === 'connected'`))
	e.stillRunsCommands(t, "after a paste during the prompt")
	e.run(t, "exit", time.Minute, typeInTerminal("exit\r"), until(consoleEnded))
	if evalIn[bool](t, e, `!!`+consoleUnsent) {
		t.Errorf("the end banner counts a paste made before the session connected: %q",
			evalIn[string](t, e, consoleUnsent+`.innerText`))
	}
}
