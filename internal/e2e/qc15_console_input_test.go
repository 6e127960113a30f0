package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/postern/postern/internal/testutil/browser"
)

// qc15Paste is JavaScript that pastes text into the page's terminal as the
// browser's paste does (a paste event with the clipboard's text on xterm's
// input element), so the page sends it as it sends any paste.
func qc15Paste(text string) string {
	return `(() => {
		const dt = new DataTransfer();
		dt.setData('text/plain', ` + text + `);
		document.querySelector('.xterm-helper-textarea').dispatchEvent(new ClipboardEvent('paste', {clipboardData: dt, bubbles: true, cancelable: true}));
		return true;
	})()`
}

// qc15Connect opens the terminal to the test sshd as alice, trusting its
// host key when asked (the first time), and waits until it is connected.
func qc15Connect(t *testing.T, e *consoleEnv) {
	t.Helper()
	// From another page, so that each call opens a new session.
	e.run(t, "open the terminal", 60*time.Second,
		chromedp.Navigate(e.srv.url+"/console/#/instances"),
		chromedp.WaitVisible(browser.TestID("row-"+e.instance)),
		chromedp.Navigate(e.srv.url+"/console/#/connect/"+e.instance+"?user="+e.osUser+"&port="+strconv.Itoa(e.sshd.Port)),
		until(`document.querySelector('[data-testid="hostkey-trust"]') || (document.querySelector('[data-testid="terminal"]') && document.querySelector('[data-testid="terminal"]').dataset.state === 'connected')`))
	if evalIn[bool](t, e, `!!document.querySelector('[data-testid="hostkey-trust"]')`) {
		e.run(t, "trust the host key", 30*time.Second, chromedp.Click(browser.TestID("hostkey-trust")))
	}
	e.run(t, "connected", 30*time.Second,
		until(`document.querySelector('[data-testid="terminal"]').dataset.state === 'connected'`))
}

// qc15Ended is true in the page once the session ended.
const qc15Ended = `!!document.querySelector('[data-testid="session-ended"]')`

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
	e := startConsoleEnv(t)
	e.run(t, "open the console", 30*time.Second, chromedp.Navigate(e.srv.url+"/"), chromedp.WaitVisible(browser.TestID("signin-form")))
	e.signIn(t, "alice", consolePassword)
	e.signedInAs(t, "alice")

	t.Run("large paste", func(t *testing.T) {
		qc15Connect(t, e)
		// 200 KiB of hex digits: no newline, so the tty's line
		// discipline passes it as it is (raw), and xterm changes nothing.
		payload := randomHex(t, 100<<10)
		sum := sha256.Sum256([]byte(payload))
		// The marker is printed once the terminal is raw: what is pasted
		// after it reaches head unchanged. Its command line shows
		// RE""ADY, its output READY.
		e.run(t, "raw terminal reading", 30*time.Second,
			typeInTerminal(`stty raw -echo opost; echo RE""ADY; head -c `+strconv.Itoa(len(payload))+` | sha256sum | sed 's/^/SUM=/'; stty sane`+"\r"),
			until(`/(^|\n)READY/.test(`+termText+`)`))
		e.run(t, "paste", 10*time.Second, chromedp.Evaluate[chromedp.Void](qc15Paste(strconv.Quote(payload))))
		e.run(t, "the paste's checksum or the session's end", 120*time.Second,
			until(`/SUM=[0-9a-f]{64}/.test(`+termText+`) || `+qc15Ended))
		if evalIn[bool](t, e, qc15Ended) {
			e.b.Screenshot("qc15-paste-ended")
			t.Fatalf("the session ended after a paste of %d KiB: %s", len(payload)>>10,
				evalIn[string](t, e, `document.querySelector('[data-testid="session-ended"]').innerText`))
		}
		text := evalIn[string](t, e, termText)
		if want := "SUM=" + hex.EncodeToString(sum[:]); !strings.Contains(text, want) {
			t.Fatalf("the remote read a paste that differs: want %s, the terminal shows:\n%s", want, text)
		}
		// Still open: a command typed now runs.
		e.run(t, "a command after the paste", 30*time.Second,
			typeInTerminal(`echo AL""IVE$((6*7))`+"\r"),
			until(termText+`.includes('ALIVE42')`))
		if state := evalIn[string](t, e, `document.querySelector('[data-testid="terminal"]').dataset.state`); state != "connected" {
			t.Errorf("terminal state %q after the paste, want connected", state)
		}
		e.b.Screenshot("qc15-large-paste")
	})

	t.Run("input dropped", func(t *testing.T) {
		qc15Connect(t, e)
		// sleep does not read its input: the pty, sshd, the SSH window and
		// then the server's backlog fill. Echo off, so the page gets no
		// output back; lines, because a tty in canonical mode takes more
		// than one line's worth only when it is made of lines.
		e.run(t, "a program that does not read", 30*time.Second,
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
			until(`document.querySelector('[data-testid="input-dropped"]') || `+qc15Ended))
		e.b.Screenshot("qc15-input-dropped")
		if evalIn[bool](t, e, qc15Ended) {
			t.Fatalf("the session ended after %d KiB of pastes: %s", sent>>10,
				evalIn[string](t, e, `document.querySelector('[data-testid="session-ended"]').innerText`))
		}
		t.Logf("the notice showed after %d KiB of pastes: %q", sent>>10,
			evalIn[string](t, e, `document.querySelector('[data-testid="input-dropped"]').innerText`))
		if state := evalIn[string](t, e, `document.querySelector('[data-testid="terminal"]').dataset.state`); state != "connected" {
			t.Errorf("terminal state %q with the notice shown, want connected", state)
		}
		e.run(t, "dismiss the notice", 30*time.Second,
			chromedp.Click(browser.TestID("input-dropped-dismiss")),
			until(`!document.querySelector('[data-testid="input-dropped"]')`))
		if state := evalIn[string](t, e, `document.querySelector('[data-testid="terminal"]').dataset.state`); state != "connected" {
			t.Errorf("terminal state %q after Dismiss, want connected", state)
		}
	})
}
