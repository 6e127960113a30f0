package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/postern/postern/internal/testutil/browser"
)

// The set-up the console terminal's Chromium tests share (s15's QC15, QH15
// and R5_15 each repeated it): a server with a real sshd and the console
// open as alice; the terminal page to the sshd; a paste the remote
// checksums; the checks that the session is still connected.

// Expressions the terminal tests evaluate in the page.
const (
	// consoleEnded is true in the page once the session ended.
	consoleEnded = `!!document.querySelector('[data-testid="session-ended"]')`
	// consoleEndedText is the end banner's text.
	consoleEndedText = `document.querySelector('[data-testid="session-ended"]').innerText`
	// terminalState is the terminal's state (connecting, hostkey,
	// connected, closed, …).
	terminalState = `document.querySelector('[data-testid="terminal"]').dataset.state`
)

// startConsoleSignedIn is startConsoleEnv (extraConfig is appended to the
// server's postern.yaml) with the console open in Chromium and alice
// signed in.
func startConsoleSignedIn(t *testing.T, extraConfig ...string) *consoleEnv {
	t.Helper()
	e := startConsoleEnv(t, extraConfig...)
	e.run(t, "open the console", time.Minute, chromedp.Navigate(e.srv.url+"/"), chromedp.WaitVisible(browser.TestID("signin-form")))
	e.signIn(t, "alice", consolePassword)
	e.signedInAs(t, "alice")
	return e
}

// openTerminalPage opens the terminal page to the test sshd as the OS
// user, from the instances page (so that each call opens a new session),
// then runs wait on it; what names the step in a failure.
func (e *consoleEnv) openTerminalPage(t *testing.T, what string, wait chromedp.Action[chromedp.Void]) {
	t.Helper()
	e.run(t, what, 60*time.Second,
		chromedp.Navigate(e.srv.url+"/console/#/instances"),
		chromedp.WaitVisible(browser.TestID("row-"+e.instance)),
		chromedp.Navigate(e.srv.url+"/console/#/connect/"+e.instance+"?user="+e.osUser+"&port="+strconv.Itoa(e.sshd.Port)),
		wait)
}

// connectTerminal opens the terminal to the test sshd as alice, trusting
// its host key when asked (the first time), and waits until it is
// connected.
func (e *consoleEnv) connectTerminal(t *testing.T) {
	t.Helper()
	e.openTerminalPage(t, "open the terminal",
		until(`document.querySelector('[data-testid="hostkey-trust"]') || (document.querySelector('[data-testid="terminal"]') && `+terminalState+` === 'connected')`))
	if evalIn[bool](t, e, `!!document.querySelector('[data-testid="hostkey-trust"]')`) {
		e.run(t, "trust the host key", time.Minute, chromedp.Click(browser.TestID("hostkey-trust")))
	}
	e.run(t, "connected", time.Minute, until(terminalState+` === 'connected'`))
}

// pasteJS is JavaScript that pastes text (a JavaScript string expression)
// into the page's terminal as the browser's paste does (a paste event
// with the clipboard's text on xterm's input element), so the page sends
// it as it sends any paste.
func pasteJS(text string) string {
	return `(() => {
		const dt = new DataTransfer();
		dt.setData('text/plain', ` + text + `);
		document.querySelector('.xterm-helper-textarea').dispatchEvent(new ClipboardEvent('paste', {clipboardData: dt, bubbles: true, cancelable: true}));
		return true;
	})()`
}

// pasteToSHA256 makes the remote read len(payload) bytes from a raw
// terminal and print their SHA-256 (SUM=…), pastes payload, and waits
// until the sum shows, the session ends, or orUntil (a JavaScript
// expression; "false" for none) is true. payload must have no newline,
// so that the raw tty passes it as it is and xterm changes nothing.
func (e *consoleEnv) pasteToSHA256(t *testing.T, payload, orUntil string) {
	t.Helper()
	// The marker is printed once the terminal is raw: what is pasted after
	// it reaches head unchanged. Its command line shows RE""ADY, its
	// output READY.
	e.run(t, "raw terminal reading", time.Minute,
		typeInTerminal(`stty raw -echo opost; echo RE""ADY; head -c `+strconv.Itoa(len(payload))+` | sha256sum | sed 's/^/SUM=/'; stty sane`+"\r"),
		until(`/(^|\n)READY/.test(`+termText+`)`))
	e.run(t, "paste", time.Minute, chromedp.Evaluate[chromedp.Void](pasteJS(strconv.Quote(payload))))
	e.run(t, "the paste's checksum or the session's end", 180*time.Second,
		until(`/SUM=[0-9a-f]{64}/.test(`+termText+`) || `+consoleEnded+` || (`+orUntil+`)`))
}

// wantSHA256 fails t unless the terminal shows payload's SHA-256 as
// pasteToSHA256's remote prints it.
func (e *consoleEnv) wantSHA256(t *testing.T, payload string) {
	t.Helper()
	sum := sha256.Sum256([]byte(payload))
	if text, want := evalIn[string](t, e, termText), "SUM="+hex.EncodeToString(sum[:]); !strings.Contains(text, want) {
		t.Fatalf("the remote read a paste that differs: want %s, the terminal shows:\n%s", want, text)
	}
}

// wantConnected fails t (not at once) unless the terminal's state is
// connected; when says at which point.
func (e *consoleEnv) wantConnected(t *testing.T, when string) {
	t.Helper()
	if state := evalIn[string](t, e, terminalState); state != "connected" {
		t.Errorf("terminal state %q %s, want connected", state, when)
	}
}

// stillRunsCommands types a command and waits for its output, then checks
// that the terminal is still connected; when says after what.
func (e *consoleEnv) stillRunsCommands(t *testing.T, when string) {
	t.Helper()
	e.run(t, "a command "+when, time.Minute,
		typeInTerminal(`echo AL""IVE$((6*7))`+"\r"),
		until(termText+`.includes('ALIVE42')`))
	e.wantConnected(t, when)
}

// startNotReading connects the terminal and runs a shell command that
// waits for exitFile without reading its input, then exits: the session
// ends from the instance when the test says (endFromInstance). Echo off,
// so the page gets no output back; a paste should be made of lines,
// because a tty in canonical mode holds back more than a line's worth
// only when it is made of lines (it throws away the rest of a line).
func (e *consoleEnv) startNotReading(t *testing.T, exitFile string) {
	t.Helper()
	e.connectTerminal(t)
	e.run(t, "a program that does not read", time.Minute,
		typeInTerminal(`stty -echo; echo WA""ITING; while [ ! -e `+exitFile+` ]; do sleep 0.1; done; exit`+"\r"),
		until(`/(^|\n)WAITING/.test(`+termText+`)`))
}

// endFromInstance makes startNotReading's shell exit and waits for the
// page's end banner.
func (e *consoleEnv) endFromInstance(t *testing.T, exitFile string) {
	t.Helper()
	if err := os.WriteFile(exitFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	e.run(t, "the session's end", 60*time.Second, until(consoleEnded))
}

// consoleUnsent is the end banner's line that counts the bytes typed or
// pasted that were not sent.
const consoleUnsent = `document.querySelector('[data-testid="session-ended-unsent"]')`

// unsentLine fails t at once unless the end banner has a line counting
// the bytes not sent that matches re; it returns the line and re's
// submatches.
func (e *consoleEnv) unsentLine(t *testing.T, re *regexp.Regexp) (string, []string) {
	t.Helper()
	if !evalIn[bool](t, e, `!!`+consoleUnsent) {
		t.Fatalf("the end banner does not count the bytes typed or pasted that were not sent: %q", evalIn[string](t, e, consoleEndedText))
	}
	line := evalIn[string](t, e, consoleUnsent+`.innerText`)
	m := re.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("the end banner says %q, want it to match %s", line, re)
	}
	return line, m
}
