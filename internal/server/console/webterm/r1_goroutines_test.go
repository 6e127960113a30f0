package webterm_test

import (
	"bytes"
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/postern/postern/internal/server/config"
)

// r1NotReading never reads its stdin (as qcNotReading) and exits at its
// first SIGWINCH: a resize ends the shell while a stdin write is blocked.
const r1NotReading = `exec sh -c 'stty -echo; trap "exit 0" WINCH; echo r1-$((6*7)); i=0; while [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done'` + "\r"

// r1SessionGoroutines returns the stacks of the goroutines that run a
// terminal session's code (the handler, the page's reader, the relay, the
// pumps, the notice).
func r1SessionGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var found []string
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		if bytes.Contains(g, []byte("webterm.(*session)")) || bytes.Contains(g, []byte("webterm.(*Terminal).serveTerminal")) {
			found = append(found, string(g))
		}
	}
	return found
}

// r1WaitGoroutinesEnd waits (30 s at most) until no goroutine runs a
// session's code. They end after the session's answer to the page, so
// this polls.
func r1WaitGoroutinesEnd(t *testing.T, what string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		left := r1SessionGoroutines()
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d goroutines of the session still run 30 s later:\n%s", what, len(left), strings.Join(left, "\n\n"))
		}
		time.Sleep(20 * time.Millisecond) // polling for goroutines that end asynchronously
	}
}

// TestR1TerminalGoroutinesEnd: every goroutine of a console session ends
// (the handler, the page's reader, the keystroke writer blocked on stdin,
// the size applier, the pumps, the input-dropped notice) when the session
// ends while a stdin write is blocked (a remote that does not read): the
// page leaves; the shell exits; the server stops.
func TestR1TerminalGoroutinesEnd(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []string{"page leaves", "shell exits", "server stops"} {
		t.Run(tc, func(t *testing.T) {
			g := f.withConsole(t, config.Console{RecordSessions: true, RecordInput: true})
			r1WaitGoroutinesEnd(t, "before the session") // the sessions of the cases before
			b, id := g.connect(t, "alice", tc != "page leaves")
			b.type_(r1NotReading)
			b.waitOutput("r1-42")
			chunk := []byte(strings.Repeat("k\r", 8<<10)) // 16 KiB
			told := false
			for n := 0; n < 1024 && !told; n++ { // 16 MiB at most
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				err := b.ws.Write(ctx, websocket.MessageBinary, chunk)
				cancel()
				if err != nil {
					t.Fatalf("after %d KiB of keystrokes: %v", n*len(chunk)>>10, err)
				}
				told = qcDrain(b, "input-dropped")
			}
			if !told {
				t.Fatal("no input-dropped notice after 16 MiB of keystrokes")
			}
			if n := len(r1SessionGoroutines()); n < 5 {
				t.Fatalf("%d goroutines of the running session, want at least 5 (is the test still looking for the right names?)", n)
			}
			switch tc {
			case "page leaves":
				go func() { _ = b.ws.Close(websocket.StatusGoingAway, "") }()
			case "shell exits":
				b.sendJSON(map[string]any{"type": "resize", "cols": 100, "rows": 33})
				for m := b.next(); m == nil || m["type"] != "closed"; m = b.next() {
					if m == nil {
						t.Fatalf("the WebSocket ended (%v) without a closed message", b.end)
					}
					if m["type"] != "input-dropped" {
						t.Fatalf("message %v, want closed", m)
					}
				}
			case "server stops":
				_ = g.term.Close()
			}
			g.closeTunnelEvent(t, id)
			r1WaitGoroutinesEnd(t, tc)
		})
	}
}
