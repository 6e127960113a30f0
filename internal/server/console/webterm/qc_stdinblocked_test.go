package webterm_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/postern/postern/internal/server/config"
)

// qcNotReading is a remote command that never reads its stdin (sh's loop
// and sleep do not), prints its terminal's size on every SIGWINCH, and
// ends by itself after about a minute. Its echo is off so that the flood
// of keystrokes does not come back as output; "qc-42" says it runs (the
// typed line shows "qc-$((6*7))").
const qcNotReading = `exec sh -c 'stty -echo; trap "stty size" WINCH; echo qc-$((6*7)); i=0; while [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done'` + "\r"

// TestQCTerminalStdinNotRead: a shell that does not read its stdin (the
// pty's buffer, then sshd's, then the SSH window fill, and the stdin
// write blocks) does not stall the page: the server keeps reading the
// page's messages, tells the page once that keystrokes are dropped,
// applies a resize at once (the program sees it), and when the page
// leaves it ends the session (the tunnel's CloseTunnel record) with the
// recording finished and holding the resize.
func TestQCTerminalStdinNotRead(t *testing.T) {
	f := newFixture(t).withConsole(t, config.Console{RecordSessions: true, RecordInput: true})
	for i, tc := range []struct {
		name   string
		resize bool // resize while stdin is blocked, before the page leaves
	}{
		{"the page leaves while stdin is blocked", false},
		{"a resize while stdin is blocked, then the page leaves", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := f.open(t, "alice", 80, 24)
			hk := b.expect("hostkey")
			if i == 0 {
				b.sendJSON(map[string]any{"type": "trust-host-key", "fingerprint": hk["fingerprint"]})
			}
			c := b.expect("connected")
			id, _ := c["tunnelId"].(string)
			b.type_(qcNotReading)
			b.waitOutput("qc-42")

			// Type (lines, so that the pty's line discipline keeps them)
			// until the server says it drops keystrokes: the pty (4 KiB),
			// sshd's buffer and the SSH window (2 MB) are full by then.
			chunk := []byte(strings.Repeat("k\r", 8<<10)) // 16 KiB
			const maxChunks = 1024                        // 16 MiB
			told, sent := false, 0
			for n := 0; n < maxChunks && !told; n++ {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				err := b.ws.Write(ctx, websocket.MessageBinary, chunk)
				cancel()
				if err != nil {
					t.Fatalf("after %d KiB of keystrokes the server stopped reading the page's messages: %v", n*len(chunk)>>10, err)
				}
				sent += len(chunk)
				told = qcDrain(b, "input-dropped")
			}
			if !told {
				t.Fatalf("no input-dropped notice after %d MiB of keystrokes", maxChunks*len(chunk)>>20)
			}
			t.Logf("input-dropped after %d KiB of keystrokes", sent>>10)

			if tc.resize {
				b.sendJSON(map[string]any{"type": "resize", "cols": 100, "rows": 33})
				qcWaitOutput(b, "33 100")
			}

			// The page leaves: its close is answered and the session ends,
			// with its CloseTunnel record and its recording finished.
			closed := make(chan struct{})
			go func() {
				defer close(closed)
				_ = b.ws.Close(websocket.StatusGoingAway, "")
			}()
			f.closeTunnelEvent(t, id)
			qcWithin(t, closed, "answer to the page's close")
			status, body := f.get(t, "alice", "/console/api/recordings")
			var list struct {
				Recordings []struct {
					TunnelID string
					Live     bool
				}
			}
			if err := json.Unmarshal(body, &list); err != nil {
				t.Fatalf("recordings: %d %s (%v)", status, body, err)
			}
			found := false
			for _, r := range list.Recordings {
				if r.TunnelID == id {
					found = true
					if r.Live {
						t.Fatalf("the recording of %s is live after its CloseTunnel record: %s", id, body)
					}
				}
			}
			if !found {
				t.Fatalf("no recording of %s: %s", id, body)
			}
			if !tc.resize {
				return
			}
			raw, err := os.ReadFile(filepath.Join(f.recDir, id+".cast"))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(raw), `"r","100x33"]`) {
				t.Fatalf("the recording has no resize to 100x33:\n%.2000s", raw)
			}
		})
	}
}

// qcDrain takes the messages that came so far (output to b.out) and
// reports whether a text message of type typ was among them.
func qcDrain(b *browser, typ string) bool {
	b.t.Helper()
	seen := false
	for {
		select {
		case m, ok := <-b.msgs:
			if !ok {
				b.t.Fatalf("the WebSocket ended (%v); output:\n%s", b.end, b.out.String())
			}
			if m.typ == websocket.MessageBinary {
				b.out.Write(m.data)
				continue
			}
			var v map[string]any
			if err := json.Unmarshal(m.data, &v); err != nil {
				b.t.Fatalf("text message %q: %v", m.data, err)
			}
			if v["type"] == typ {
				seen = true
			} else {
				b.t.Fatalf("message %s, want output or %q", m.data, typ)
			}
		default:
			return seen
		}
	}
}

// qcWaitOutput reads until the terminal output holds s, letting
// input-dropped notices pass.
func qcWaitOutput(b *browser, s string) {
	b.t.Helper()
	timer := time.NewTimer(30 * time.Second)
	defer timer.Stop()
	for !strings.Contains(b.out.String(), s) {
		select {
		case m, ok := <-b.msgs:
			if !ok {
				b.t.Fatalf("the WebSocket ended (%v) before the output showed %q:\n%s", b.end, s, b.out.String())
			}
			if m.typ == websocket.MessageBinary {
				b.out.Write(m.data)
			} else if !strings.Contains(string(m.data), `"input-dropped"`) {
				b.t.Fatalf("message %s while waiting for %q", m.data, s)
			}
		case <-timer.C:
			b.t.Fatalf("the output did not show %q in 30 s (a resize waiting behind the blocked stdin?):\n%s", s, b.out.String())
		}
	}
}

// qcWithin waits for ch to close, failing the test after 30 s.
func qcWithin(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	timer := time.NewTimer(30 * time.Second)
	defer timer.Stop()
	select {
	case <-ch:
	case <-timer.C:
		t.Fatalf("no %s in 30 s", what)
	}
}
