package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/postern/postern/internal/testutil/browser"
)

// TestQC15ConsoleInput drives the console's terminal in Chromium against a
// real sshd with input a person's paste makes large:
//   - "large paste": 200 KiB pasted into a program that reads it all
//     arrives whole (its SHA-256 matches) and the session stays open.
//     Before s15 the page sent a paste as one WebSocket message, and one
//     over the server's 64 KiB limit ended the session.
//   - "input dropped": pastes into a program that does not read its
//     input, past what the page holds for it (16 MiB once the server's
//     acknowledgements stop; s15 QH), make the page show the
//     input-dropped notice while the session stays connected; Dismiss
//     removes the notice.
func TestQC15ConsoleInput(t *testing.T) {
	e := startConsoleSignedIn(t)

	t.Run("large paste", func(t *testing.T) {
		e.connectTerminal(t)
		// 200 KiB of hex digits: no newline, so the tty's line
		// discipline passes it as it is (raw), and xterm changes nothing.
		payload := randomHex(t, 100<<10)
		e.pasteToSHA256(t, payload, "false")
		if evalIn[bool](t, e, consoleEnded) {
			e.b.Screenshot("qc15-paste-ended")
			t.Fatalf("the session ended after a paste of %d KiB: %s", len(payload)>>10, evalIn[string](t, e, consoleEndedText))
		}
		e.wantSHA256(t, payload)
		// Still open: a command typed now runs.
		e.stillRunsCommands(t, "after the paste")
		e.b.Screenshot("qc15-large-paste")
	})

	t.Run("input dropped", func(t *testing.T) {
		e.connectTerminal(t)
		// sleep does not read its input: the pty, sshd, the SSH window and
		// then the server's backlog fill. Echo off, so the page gets no
		// output back; lines, because a tty in canonical mode takes more
		// than one line's worth only when it is made of lines.
		e.run(t, "a program that does not read", time.Minute,
			typeInTerminal(`stty -echo; echo SLE""EPING; sleep 600`+"\r"),
			until(`/(^|\n)SLEEPING/.test(`+termText+`)`))
		// Pastes of 32 KiB (each under the server's message limit, with
		// or without the page splitting them) until the notice shows,
		// bounded at 64 MiB; the notice came after 2–6 MiB in s14's runs
		// (the server's backlog), after about 19 MiB with s15's flow
		// control (the page's own bound).
		const flood = `(async () => {
			const ta = document.querySelector('.xterm-helper-textarea');
			const text = ('k'.repeat(1023) + '\n').repeat(32);
			const shown = () => document.querySelector('[data-testid="input-dropped"]') || document.querySelector('[data-testid="session-ended"]');
			let sent = 0;
			while (sent < (64 << 20) && !shown()) {
				const dt = new DataTransfer();
				dt.setData('text/plain', text);
				ta.dispatchEvent(new ClipboardEvent('paste', {clipboardData: dt, bubbles: true, cancelable: true}));
				sent += text.length;
				await new Promise((r) => setTimeout(r, 5));
			}
			return sent;
		})()`
		ctx, cancel := context.WithTimeout(e.b.Context(), 180*time.Second)
		sent, err := chromedp.Run(ctx, chromedp.Evaluate[int](flood, chromedp.EvalAwaitPromise))
		cancel()
		if err != nil {
			t.Fatalf("pasting: %v", err)
		}
		e.run(t, "the notice or the session's end", 60*time.Second,
			until(`document.querySelector('[data-testid="input-dropped"]') || `+consoleEnded))
		e.b.Screenshot("qc15-input-dropped")
		if evalIn[bool](t, e, consoleEnded) {
			t.Fatalf("the session ended after %d KiB of pastes: %s", sent>>10, evalIn[string](t, e, consoleEndedText))
		}
		t.Logf("the notice showed after %d KiB of pastes: %q", sent>>10,
			evalIn[string](t, e, `document.querySelector('[data-testid="input-dropped"]').innerText`))
		e.wantConnected(t, "with the notice shown")
		e.run(t, "dismiss the notice", time.Minute,
			chromedp.Click(browser.TestID("input-dropped-dismiss")),
			until(`!document.querySelector('[data-testid="input-dropped"]')`))
		e.wantConnected(t, "after Dismiss")
	})
}
