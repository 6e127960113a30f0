package webterm_test

import (
	"encoding/json"
	"sync"
	"testing"

	"github.com/coder/websocket"

	"github.com/postern/postern/internal/server/console/webterm"
)

// TestTerminalRecordingEndsBeforeCloseTunnel: when the page goes, the
// session's recording is finished (no longer live) by the time the
// tunnel's CloseTunnel record exists, however slow the session is to
// return after closing the tunnel: the session is held right after it
// closed the tunnel until the test has read the recordings list.
func TestTerminalRecordingEndsBeforeCloseTunnel(t *testing.T) {
	f := newFixture(t)
	closed := make(chan struct{})
	release := sync.OnceFunc(func() { close(closed) })
	defer release()
	webterm.SetQATestHook(t, f.term, func(point string) {
		if point == "tunnel-closed" {
			<-closed
		}
	})
	b, id := f.connect(t, "alice", false)
	b.echo(marker())
	b.ws.Close(websocket.StatusGoingAway, "")
	f.closeTunnelEvent(t, id)
	status, body := f.get(t, "alice", "/console/api/recordings")
	release()
	var list struct {
		Recordings []struct {
			TunnelID string
			Live     bool
		}
	}
	if err := json.Unmarshal(body, &list); err != nil || len(list.Recordings) != 1 || list.Recordings[0].TunnelID != id {
		t.Fatalf("recordings: %d %s (%v)", status, body, err)
	}
	if list.Recordings[0].Live {
		t.Fatalf("the recording of %s is live after its CloseTunnel record: %s", id, body)
	}
}
