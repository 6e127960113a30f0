package e2e

import (
	"regexp"
	"strconv"
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
	e := startConsoleSignedIn(t)
	e.connectTerminal(t)

	// Hex digits, no newline: the raw tty passes them as they are.
	payload := randomHex(t, 2<<20) // 4 MiB of text
	const dropped = `!!document.querySelector('[data-testid="input-dropped"]')`
	e.pasteToSHA256(t, payload, dropped)
	if evalIn[bool](t, e, consoleEnded) {
		e.b.Screenshot("qh15-paste-ended")
		t.Fatalf("the session ended after a paste of %d MiB: %s", len(payload)>>20, evalIn[string](t, e, consoleEndedText))
	}
	if evalIn[bool](t, e, dropped) {
		e.b.Screenshot("qh15-paste-dropped")
		t.Fatalf("keystrokes were dropped during a paste of %d MiB into a program that reads them all: %s", len(payload)>>20,
			evalIn[string](t, e, `document.querySelector('[data-testid="input-dropped"]').innerText`))
	}
	e.wantSHA256(t, payload)
	e.stillRunsCommands(t, "after the paste")
	e.b.Screenshot("qh15-paste-4mib")
}

// TestQH15RecordingMarkers: a recording cut at its size cap ends with an
// asciicast marker ("m" event); the console's live view (joined from a
// second tab) and its player list it, its label as text, above the
// terminal. Before s15 both played only "o" and "r" events, so a reviewer
// never learnt that the recording stopped.
func TestQH15RecordingMarkers(t *testing.T) {
	e := startConsoleSignedIn(t, "console:\n  record_sessions: true\n  recording_max_mb: 1\n")
	e.connectTerminal(t)
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
	tab2.run(t, "join live", time.Minute,
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
	e.run(t, "disconnect", time.Minute,
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
