package e2e

import (
	"regexp"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/postern/postern/internal/testutil/browser"
)

// TestR515PasteBeforeConnected pastes 768 KiB into the console's terminal
// in Chromium while it shows the host-key prompt (a real sshd, its first
// connection), before any shell runs: the server drops keystrokes that
// come before the shell, so none of the paste may reach the shell once the
// person trusts the key. Each line of the paste counts itself in a shell
// variable; a command typed after connecting prints the count.
//
// Before s15 R5 the page's flow control (s15 QH) applied from the
// WebSocket's open: it sent the paste's first 512 KiB (which the server
// dropped) and held the rest until the server's first input-taken, which
// comes once the shell runs: the paste's tail, cut mid-line, was typed
// into the shell (about 21,000 lines of it ran). Now the page holds
// keystrokes only once the server's connected message confirms it sends
// input-taken.
func TestR515PasteBeforeConnected(t *testing.T) {
	e := startConsoleSignedIn(t)
	e.openTerminalPage(t, "the host-key prompt", chromedp.WaitVisible(browser.TestID("hostkey-trust")))
	// 65,536 lines of 12 bytes: 768 KiB, more than the page's window
	// (512 KiB), each line a complete command if it ever reached a shell.
	e.run(t, "paste during the prompt", time.Minute, chromedp.Evaluate[chromedp.Void](pasteJS(`'L=$((L+1))\n'.repeat(65536)`)))
	e.run(t, "trust the host key", 60*time.Second,
		chromedp.Click(browser.TestID("hostkey-trust")),
		until(terminalState+` === 'connected'`))
	leaks := regexp.MustCompile(`LEAKS=(\d+)`)
	e.run(t, "count what reached the shell", 180*time.Second,
		typeInTerminal(`echo LE""AKS=$((L+0))`+"\r"),
		until(`/LEAKS=\d+/.test(`+termText+`) || `+consoleEnded))
	text := evalIn[string](t, e, termText)
	m := leaks.FindStringSubmatch(text)
	if m == nil {
		e.b.Screenshot("r5-15-paste-before-connected")
		t.Fatalf("no count shown (the session ended?); the terminal shows:\n%s", text)
	}
	if m[1] != "0" {
		e.b.Screenshot("r5-15-paste-before-connected")
		t.Fatalf("%s lines of a paste made before the shell ran were typed into it, want none", m[1])
	}
	e.wantConnected(t, "after the count")
}
