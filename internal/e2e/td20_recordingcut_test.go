package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/postern/postern/internal/testutil/browser"
)

// TestTD20RecordingCutByAServerKill: the server (the real binary) is
// killed with SIGKILL while a console terminal session to a real sshd is
// being recorded. Restarted on the same data directory, its console lists
// the recording truncated, with the reason as visible text beside the
// badge (the server stopped before the recording ended), and its player
// plays it up to where it ends (the output shown before the kill). Before
// s20 the list showed it untruncated, its length growing as if it were
// still running, and the page did not show a reason at all.
func TestTD20RecordingCutByAServerKill(t *testing.T) {
	e := startConsoleSignedIn(t, "console:\n  record_sessions: true\n")
	e.connectTerminal(t)
	tunnelID := evalIn[string](t, e, textOf("tunnel-id"))
	if !strings.HasPrefix(tunnelID, "tnl-") {
		t.Fatalf("tunnel id shown: %q", tunnelID)
	}
	// The server records output before it sends it to the page: once the
	// page shows it, it is in the recording's file.
	mark := "cut" + randomHex(t, 6)
	e.run(t, "output before the kill", 60*time.Second,
		typeInTerminal(`echo `+mark+`-$((6*7))`+"\r"),
		until(termText+`.includes('`+mark+`-42')`))

	if err := e.srv.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-e.srv.done
	// Beside it, a recording whose metadata (as a failed write leaves it)
	// has a reason with markup and a bidirectional override: the page
	// shows it as text, without the override.
	hostile := td20HostileRecording(t, filepath.Join(e.srv.dataDir, "recordings"), tunnelID)
	e.srv = startServer(t, e.srv.dataDir)

	e.run(t, "open the restarted console", 60*time.Second,
		chromedp.Navigate(e.srv.url+"/console/#/recordings"),
		until(`!!document.querySelector('[data-testid="signin-form"]') || !!document.querySelector('[data-testid="nav"]')`))
	if evalIn[bool](t, e, `!!document.querySelector('[data-testid="signin-form"]')`) {
		e.signIn(t, "alice", consolePassword)
		e.signedInAs(t, "alice")
		e.run(t, "recordings page", 30*time.Second, chromedp.Navigate(e.srv.url+"/console/#/recordings"))
	}
	const want = "the server stopped before the recording ended"
	row := `((document.querySelector('[data-testid="row-` + tunnelID + `"]') || {}).innerText || '')`
	e.run(t, "the recording is listed", 60*time.Second, chromedp.WaitVisible(browser.TestID("row-"+tunnelID)))
	if got := evalIn[string](t, e, row); !strings.Contains(got, "truncated") || !strings.Contains(got, want) {
		e.b.Screenshot("td20-recording-cut-listed")
		t.Errorf("the recording cut by the kill is listed as %q, want the truncated badge and beside it %q", got, want)
	}
	if got := evalIn[string](t, e, textOf("incomplete-"+tunnelID)); got != want {
		t.Errorf("the reason shown: %q, want %q", got, want)
	}
	e.b.Screenshot("td20-recording-cut-listed")
	const hostileWant = "a write failed: <img src=x onerror=alert(1)><b>disk</b> evil"
	if got := evalIn[string](t, e, textOf("incomplete-"+hostile)); got != hostileWant {
		t.Errorf("a reason with markup and a bidirectional override is shown as %q, want the text %q", got, hostileWant)
	}
	if n := evalIn[int](t, e, `document.querySelectorAll('[data-testid="incomplete-`+hostile+`"] *').length`); n != 0 {
		t.Errorf("a reason with markup became %d elements in the page, want text only", n)
	}

	e.run(t, "the player plays it to its end", 60*time.Second,
		chromedp.Navigate(e.srv.url+"/console/#/recordings/"+tunnelID),
		chromedp.WaitVisible(browser.TestID("player-seek")),
		chromedp.Evaluate[chromedp.Void](`(() => { const s = document.querySelector('[data-testid="player-seek"]'); s.value = s.max; s.dispatchEvent(new Event('input')); })()`),
		until(termText+`.includes('`+mark+`-42')`))
	e.b.Screenshot("td20-recording-cut-played")
}

// td20HostileRecording writes, in the recordings directory dir, a finished
// recording like the one of tunnelID (its endpoint, its user) whose
// metadata says it is truncated for a reason with markup and a
// bidirectional override, and returns its tunnel id.
func td20HostileRecording(t *testing.T, dir, tunnelID string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, tunnelID+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	id := "tnl-" + randomHex(t, 8)
	m["tunnelId"], m["end"], m["truncated"] = id, m["start"], true
	m["incomplete"] = "a write failed: <img src=x onerror=alert(1)><b>disk</b> \u202eevil"
	if b, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, id+".json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	cast := `{"version":2,"width":80,"height":24,"timestamp":1,"env":{"TERM":"xterm-256color"}}` + "\n"
	if err := os.WriteFile(filepath.Join(dir, id+".cast"), []byte(cast), 0o600); err != nil {
		t.Fatal(err)
	}
	return id
}
