package webterm_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/postern/postern/internal/server/config"
	"github.com/postern/postern/internal/server/console/webterm"
)

// TestTerminalResizeBeforeLaterInput: a resize the page sends before it
// sends keystrokes reaches sshd (and the recording) before them, however
// slow the session's own goroutine is. That goroutine is held where it
// waits for the shell's end (where it applied resizes before) until the
// output of `stty size` shows which size the shell ran at, so a resize
// that waits for it certainly reaches sshd after the keystrokes; one case sends the resize while the
// session is held between its pty request and the shell's start (the
// size the pty no longer takes).
func TestTerminalResizeBeforeLaterInput(t *testing.T) {
	f := newFixture(t).withConsole(t, config.Console{RecordSessions: true, RecordInput: true})
	for i, tc := range []struct {
		name string
		// beforeShell sends the resize while the session is held after its
		// pty request (at the open message's 80×24), before the shell runs.
		beforeShell bool
	}{
		{"resize after the shell started", false},
		{"resize between the pty request and the shell", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var (
				mainLoop    = make(chan struct{}) // closed: the session may wait for the shell's end
				ptyHeld     = make(chan struct{}) // closed: the session waits after its pty request
				pty         = make(chan struct{}) // closed: the session may start the shell
				resized     = make(chan struct{}, 1)
				releaseMain = sync.OnceFunc(func() { close(mainLoop) })
				releasePty  = sync.OnceFunc(func() { close(pty) })
				heldPty     = sync.OnceFunc(func() { close(ptyHeld) })
			)
			defer releaseMain()
			defer releasePty()
			webterm.SetQATestHook(t, f.term, func(point string) {
				switch point {
				case "waiting":
					<-mainLoop
				case "pty-requested":
					if tc.beforeShell {
						heldPty()
						<-pty
					}
				case "handled resize":
					select {
					case resized <- struct{}{}:
					default:
					}
				}
			})
			b := f.open(t, "alice", 80, 24)
			hk := b.expect("hostkey")
			if i == 0 {
				b.sendJSON(map[string]any{"type": "trust-host-key", "fingerprint": hk["fingerprint"]})
			}
			if tc.beforeShell {
				webterm.QAWithin(t, ptyHeld, "the session's pty request")
				b.sendJSON(map[string]any{"type": "resize", "cols": 100, "rows": 33})
				webterm.QAWithin(t, resized, "the server's read of the resize") // while the shell has not started
				releasePty()
			}
			c := b.expect("connected")
			id, _ := c["tunnelId"].(string)
			if !tc.beforeShell {
				b.sendJSON(map[string]any{"type": "resize", "cols": 100, "rows": 33})
			}
			b.type_("stty size\r")
			got := waitOutputAny(b, "33 100", "24 80")
			releaseMain()
			if got != "33 100" {
				t.Fatalf("stty size ran at %q: the keystrokes reached sshd before the resize; output:\n%s", got, b.out.String())
			}
			b.type_("exit\r")
			if c := b.expect("closed"); c["reason"] != "closed" {
				t.Fatalf("closed %v", c)
			}
			// The recording has the resize before the keystrokes it preceded.
			raw, err := os.ReadFile(filepath.Join(f.recDir, id+".cast"))
			if err != nil {
				t.Fatal(err)
			}
			var kinds []string
			for _, l := range strings.Split(strings.TrimSpace(string(raw)), "\n")[1:] {
				var ev []any
				if err := json.Unmarshal([]byte(l), &ev); err != nil || len(ev) != 3 {
					t.Fatalf("event %s: %v", l, err)
				}
				switch data, _ := ev[2].(string); {
				case ev[1] == "r" && data == "100x33":
					kinds = append(kinds, "resize")
				case ev[1] == "i" && strings.Contains(data, "stty"):
					kinds = append(kinds, "stty")
				}
			}
			if strings.Join(kinds, " ") != "resize stty" {
				t.Fatalf("recorded %v, want the resize then the stty keystrokes:\n%s", kinds, raw)
			}
		})
	}
}

// waitOutputAny reads b's output until it holds one of want, and returns
// that one.
func waitOutputAny(b *browser, want ...string) string {
	b.t.Helper()
	timer := time.NewTimer(30 * time.Second)
	defer timer.Stop()
	for {
		for _, w := range want {
			if strings.Contains(b.out.String(), w) {
				return w
			}
		}
		select {
		case m, ok := <-b.msgs:
			if !ok {
				b.t.Fatalf("the WebSocket ended (%v) before the output showed any of %q:\n%s", b.end, want, b.out.String())
			}
			if m.typ != websocket.MessageBinary {
				b.t.Fatalf("message %s while waiting for %q", m.data, want)
			}
			b.out.Write(m.data)
		case <-timer.C:
			b.t.Fatalf("the output did not show any of %q in 30 s:\n%s", want, b.out.String())
		}
	}
}
