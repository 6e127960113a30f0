package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/postern/postern/internal/testutil/browser"
)

// TestQH15ConsolePasteMiB pastes 4 MiB into the console's terminal in
// Chromium, against a real sshd, into a program that reads it all (head
// -c N | sha256sum): it arrives whole (its SHA-256 matches) and the
// session stays open. Before s15's flow control the page sent a paste as
// fast as the WebSocket took it, and what did not fit the server's 1 MiB
// backlog of keystrokes was dropped (the input-dropped notice showed and
// head never got all of it); now the page keeps at most 512 KiB that the
// server has not acknowledged (input-taken) and holds the rest itself.
func TestQH15ConsolePasteMiB(t *testing.T) {
	e := startConsoleEnv(t)
	e.run(t, "open the console", 30*time.Second, chromedp.Navigate(e.srv.url+"/"), chromedp.WaitVisible(browser.TestID("signin-form")))
	e.signIn(t, "alice", consolePassword)
	e.signedInAs(t, "alice")
	qc15Connect(t, e)

	// Hex digits, no newline: the raw tty passes them as they are.
	payload := randomHex(t, 2<<20) // 4 MiB of text
	sum := sha256.Sum256([]byte(payload))
	e.run(t, "raw terminal reading", 30*time.Second,
		typeInTerminal(`stty raw -echo opost; echo RE""ADY; head -c `+strconv.Itoa(len(payload))+` | sha256sum | sed 's/^/SUM=/'; stty sane`+"\r"),
		until(`/(^|\n)READY/.test(`+termText+`)`))
	e.run(t, "paste", 30*time.Second, chromedp.Evaluate[chromedp.Void](qc15Paste(strconv.Quote(payload))))
	const dropped = `!!document.querySelector('[data-testid="input-dropped"]')`
	e.run(t, "the paste's checksum, the input-dropped notice or the session's end", 180*time.Second,
		until(`/SUM=[0-9a-f]{64}/.test(`+termText+`) || `+dropped+` || `+qc15Ended))
	if evalIn[bool](t, e, qc15Ended) {
		e.b.Screenshot("qh15-paste-ended")
		t.Fatalf("the session ended after a paste of %d MiB: %s", len(payload)>>20,
			evalIn[string](t, e, `document.querySelector('[data-testid="session-ended"]').innerText`))
	}
	if evalIn[bool](t, e, dropped) {
		e.b.Screenshot("qh15-paste-dropped")
		t.Fatalf("keystrokes were dropped during a paste of %d MiB into a program that reads them all: %s", len(payload)>>20,
			evalIn[string](t, e, `document.querySelector('[data-testid="input-dropped"]').innerText`))
	}
	if text, want := evalIn[string](t, e, termText), "SUM="+hex.EncodeToString(sum[:]); !strings.Contains(text, want) {
		t.Fatalf("the remote read a paste that differs: want %s, the terminal shows:\n%s", want, text)
	}
	e.run(t, "a command after the paste", 30*time.Second,
		typeInTerminal(`echo AL""IVE$((6*7))`+"\r"),
		until(termText+`.includes('ALIVE42')`))
	if state := evalIn[string](t, e, `document.querySelector('[data-testid="terminal"]').dataset.state`); state != "connected" {
		t.Errorf("terminal state %q after the paste, want connected", state)
	}
	e.b.Screenshot("qh15-paste-4mib")
}

// TestQH15RecordingMarkers: a recording cut at its size cap ends with an
// asciicast marker ("m" event); the console's live view (joined from a
// second tab) and its player list it, its label as text, above the
// terminal. Before s15 both played only "o" and "r" events, so a reviewer
// never learnt that the recording stopped.
func TestQH15RecordingMarkers(t *testing.T) {
	e := startConsoleEnv(t, "console:\n  record_sessions: true\n  recording_max_mb: 1\n")
	e.run(t, "open the console", 30*time.Second, chromedp.Navigate(e.srv.url+"/"), chromedp.WaitVisible(browser.TestID("signin-form")))
	e.signIn(t, "alice", consolePassword)
	e.signedInAs(t, "alice")
	qc15Connect(t, e)
	tunnelID := evalIn[string](t, e, textOf("tunnel-id"))
	if tunnelID == "" {
		t.Fatal("no tunnel id shown")
	}
	tab2ctx, tab2cancel := chromedp.NewContext(e.b.Context())
	defer tab2cancel()
	if err := chromedp.Do(tab2ctx); err != nil { // opens the tab (a context with a deadline would close it)
		t.Fatalf("second tab: %v", err)
	}
	tab2 := &tourTab{e: e, ctx: tab2ctx}
	tab2.run(t, "join live", 30*time.Second,
		chromedp.Navigate(e.srv.url+"/console/#/recordings/"+tunnelID+"/live"),
		until(`document.querySelector('[data-testid="terminal"]') && document.querySelector('[data-testid="terminal"]').dataset.state === 'connected'`))

	const want = "Postern stopped recording here: the recording reached its limit of 1 MB"
	markers := `Array.from(document.querySelectorAll('[data-testid="recording-marker"]')).map((li) => li.textContent)`
	wantRe := regexp.MustCompile(`^\d+:\d\d ` + regexp.QuoteMeta(want) + `$`)
	// 1.2 MB of output: past the recording's 1 MB cap.
	e.run(t, "output past the cap", 120*time.Second,
		activate(),
		typeInTerminal(`head -c 1200000 /dev/zero | tr '\0' x | fold -w 2000; echo; echo DO""NE$((6*7))`+"\r"),
		until(termText+`.includes('DONE42')`))
	tab2.run(t, "the live view lists the marker", 60*time.Second,
		until(markers+`.some((s) => s.includes(`+strconv.Quote(want)+`))`))
	if got := evalIn2[[]string](t, tab2, markers); len(got) != 1 || !wantRe.MatchString(got[0]) {
		t.Errorf("the live view lists markers %q, want one: its time then %q", got, want)
	}
	tab2.shot(t, "qh15-live-marker")
	e.run(t, "disconnect", 30*time.Second,
		activate(),
		chromedp.Click(browser.TestID("disconnect")),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="session-ended"][data-reason="closed"]`)))
	e.run(t, "the player lists the marker", 60*time.Second,
		chromedp.Navigate(e.srv.url+"/console/#/recordings/"+tunnelID),
		chromedp.WaitVisible(browser.TestID("player-seek")),
		until(markers+`.some((s) => s.includes(`+strconv.Quote(want)+`))`))
	got := evalIn[[]string](t, e, markers)
	if len(got) != 1 {
		t.Fatalf("markers listed %q, want the one of the size cap", got)
	}
	if !wantRe.MatchString(got[0]) {
		t.Errorf("marker listed as %q, want its time then %q", got[0], want)
	}
	e.b.Screenshot("qh15-recording-marker")
}
