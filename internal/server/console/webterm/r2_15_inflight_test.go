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

// TestR215PageLeavesWithStdinBlocked: a real sshd session whose remote
// command never reads its stdin; the page types until the server drops
// keystrokes (the SSH window is full and a stdin write is blocked), then
// leaves. The blocked write fails only when the SSH connection closes,
// after the recording is finished, so the recording must mark the
// keystrokes recorded last as possibly not delivered: after the last "i"
// event comes an "m" marker. Before s15-R2 it ended with the keystrokes.
func TestR215PageLeavesWithStdinBlocked(t *testing.T) {
	f := newFixture(t).withConsole(t, config.Console{RecordSessions: true, RecordInput: true})
	b := f.open(t, "alice", 80, 24)
	hk := b.expect("hostkey")
	b.sendJSON(map[string]any{"type": "trust-host-key", "fingerprint": hk["fingerprint"]})
	c := b.expect("connected")
	id, _ := c["tunnelId"].(string)
	b.type_(qcNotReading)
	b.waitOutput("qc-42")

	chunk := []byte(strings.Repeat("k\r", 8<<10)) // 16 KiB, the page's largest message
	const maxChunks = 1024                        // 16 MiB
	// The notice alone does not mean the stdin write is blocked: the
	// backlog (1 MiB) can overflow while the writer still makes progress
	// into the SSH window (sshd's 2 MiB). So the page goes on typing past
	// the notice, to 8 MiB in all: by then the writer has had the bytes
	// to fill the window and the remote's pty, and its write is blocked
	// (CI once saw the page leave with sshd at 953 KB, no write in flight
	// and so, rightly, no marker).
	const minChunks = 512 // 8 MiB
	told := false
	for n := 0; n < maxChunks && (!told || n < minChunks); n++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := b.ws.Write(ctx, websocket.MessageBinary, chunk)
		cancel()
		if err != nil {
			t.Fatalf("after %d KiB of keystrokes the server stopped reading: %v", n*len(chunk)>>10, err)
		}
		told = qcDrain(b, "input-dropped") || told
	}
	if !told {
		t.Fatalf("no input-dropped notice after %d MiB of keystrokes", maxChunks*len(chunk)>>20)
	}

	closed := make(chan struct{})
	go func() {
		defer close(closed)
		_ = b.ws.Close(websocket.StatusGoingAway, "")
	}()
	f.closeTunnelEvent(t, id)
	qcWithin(t, closed, "answer to the page's close")

	raw, err := os.ReadFile(filepath.Join(f.recDir, id+".cast"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
	lastInput, marker, markers := -1, -1, 0
	for i, l := range lines[1:] {
		var ev [3]any
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("event %q: %v", l, err)
		}
		switch ev[1] {
		case "i":
			lastInput = i
		case "m":
			// The marker comes from the session's end (the write still
			// blocked) or from the write's failure, whichever is first:
			// sess.Close, before the recording is finished, may have the
			// remote's close answered first.
			marker = i
			markers++
			t.Logf("marker: %v", ev[2])
		}
	}
	if lastInput < 0 {
		t.Fatalf("no keystrokes in the recording (record_input is on)")
	}
	if marker < lastInput {
		t.Fatalf("the recording's keystrokes (the last is event %d of %d) are followed by no marker that they may not have reached the instance",
			lastInput, len(lines)-1)
	}
	if markers != 1 {
		t.Fatalf("%d markers, want one: the keystrokes are marked once", markers)
	}
}
