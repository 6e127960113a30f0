package webterm_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/postern/postern/internal/server/console/webterm"
)

// TestSF19RecordingsListSaysWhyARecordingIsIncomplete: a recording whose
// write failed is listed truncated with the reason (its metadata's
// incomplete), so that the operator reading the list learns why it does
// not hold the whole session; the reason does not name the server's
// recordings directory. A whole recording is listed without a reason.
func TestSF19RecordingsListSaysWhyARecordingIsIncomplete(t *testing.T) {
	f := newFixture(t)
	type entry struct {
		TunnelID   string
		Truncated  bool
		Incomplete *string `json:"incomplete"`
	}
	list := func() map[string]entry {
		t.Helper()
		status, body := f.get(t, "dave", "/console/api/recordings")
		var l struct{ Recordings []entry }
		if err := json.Unmarshal(body, &l); err != nil || status != 200 {
			t.Fatalf("recordings: %d %s (%v)", status, body, err)
		}
		out := map[string]entry{}
		for _, e := range l.Recordings {
			out[e.TunnelID] = e
		}
		return out
	}
	session := func(broken bool) string {
		t.Helper()
		b, id := f.connect(t, "alice", broken) // the first session (whole) accepts the host key
		b.echo(marker())
		if broken {
			webterm.SF19BreakRecording(t, f.term, id)
			b.echo(marker()) // its output's write fails
		}
		b.ws.Close(websocket.StatusNormalClosure, "")
		f.closeTunnelEvent(t, id) // the recording is finished before the record (qa_recordingend_test.go)
		return id
	}
	whole, broken := session(false), session(true)
	got := list()
	if e, ok := got[whole]; !ok || e.Truncated || e.Incomplete != nil {
		t.Errorf("the whole recording is listed as %+v, want it untruncated, without a reason", e)
	}
	e, ok := got[broken]
	if !ok || !e.Truncated || e.Incomplete == nil {
		t.Fatalf("the recording whose write failed is listed as %+v (of %d): want it truncated, with the reason its metadata holds", e, len(got))
	}
	if !strings.Contains(*e.Incomplete, "a write failed") || !strings.Contains(*e.Incomplete, broken+".cast") {
		t.Errorf("the reason listed: %q, want the write's failure, naming the recording's file", *e.Incomplete)
	}
	if strings.Contains(*e.Incomplete, f.recDir) {
		t.Errorf("the reason listed names the server's recordings directory %s: %q", f.recDir, *e.Incomplete)
	}
}
