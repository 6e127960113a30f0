//go:build unix

package webterm_test

import (
	"encoding/json"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/postern/postern/internal/server/console/webterm"
	"github.com/postern/postern/internal/server/identity"
)

// td20Entry is an entry of GET /console/api/recordings.
type td20Entry struct {
	TunnelID   string
	Live       bool
	Truncated  bool
	Duration   float64
	Incomplete *string `json:"incomplete"`
}

// td20List lists the recordings of f's terminal as dave (who may replay
// every recording), by tunnel id.
func td20List(t *testing.T, f *fixture) map[string]td20Entry {
	t.Helper()
	status, body := f.get(t, "dave", "/console/api/recordings")
	var l struct{ Recordings []td20Entry }
	if err := json.Unmarshal(body, &l); err != nil || status != 200 {
		t.Fatalf("recordings: %d %s (%v)", status, body, err)
	}
	out := map[string]td20Entry{}
	for _, e := range l.Recordings {
		out[e.TunnelID] = e
	}
	return out
}

// td20Beside is f with a second Terminal (as a second server sharing the
// recordings directory runs one) on f's recordings directory.
func td20Beside(t *testing.T, f *fixture) *fixture {
	t.Helper()
	g := *f
	term, err := webterm.New(webterm.Config{
		Resolve:    f.resolve,
		CheckCSRF:  func(*http.Request, string) bool { return false },
		Loop:       f.loop,
		Region:     f.env.Region,
		Host:       f.env.DNSName(),
		Authorizer: identity.NewAuthorizer(f.env.Server.Store, nil),
		Store:      f.env.Server.Store,
		Console:    f.console,
		DataDir:    filepath.Dir(f.recDir),
		Logger:     slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	term.Register(mux)
	g.term, g.web = term, httptest.NewTLSServer(mux)
	t.Cleanup(func() {
		g.web.Close()
		term.Close()
	})
	return &g
}

// TestTD20RecordingsListSaysARecordingWasCutShort: a recording whose
// server stopped while it was written (its metadata has no end, no process
// holds its file) is listed truncated, with the reason that the server
// stopped before it ended, its length up to its file's last write; its
// file is served as it is (the player plays up to its torn last line).
// Before, it was listed untruncated, without a reason, its length growing
// with the clock, as if still running. A recording that another server
// sharing the directory is writing, and one finished, are not listed as
// cut short.
func TestTD20RecordingsListSaysARecordingWasCutShort(t *testing.T) {
	f := newFixture(t)
	b, whole := f.connect(t, "alice", false)
	b.echo(marker())
	b.ws.Close(websocket.StatusNormalClosure, "")
	f.closeTunnelEvent(t, whole) // the recording is finished before the record (qa_recordingend_test.go)

	// A recording as a server killed during it leaves it: its metadata
	// (as written when the session started) without an end; its file
	// with the header, events, and a last line torn mid-write.
	mb, err := os.ReadFile(filepath.Join(f.recDir, whole+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var meta map[string]any
	if err := json.Unmarshal(mb, &meta); err != nil {
		t.Fatal(err)
	}
	cut := "tnl-0123456789abcdef0"
	start := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	meta["tunnelId"], meta["start"] = cut, start
	delete(meta, "end")
	delete(meta, "truncated")
	delete(meta, "incomplete")
	mb, _ = json.Marshal(meta)
	if err := os.WriteFile(filepath.Join(f.recDir, cut+".json"), mb, 0o600); err != nil {
		t.Fatal(err)
	}
	cast := `{"version":2,"width":80,"height":24,"timestamp":1,"env":{"TERM":"xterm-256color"}}` + "\n" +
		`[0.5,"o","$ "]` + "\n" + `[1.25,"o","echo hi\r\n"]` + "\n" + `[2.5,"o","h`
	castPath := filepath.Join(f.recDir, cut+".cast")
	if err := os.WriteFile(castPath, []byte(cast), 0o600); err != nil {
		t.Fatal(err)
	}
	lastWrite := start.Add(7 * time.Second)
	if err := os.Chtimes(castPath, lastWrite, lastWrite); err != nil {
		t.Fatal(err)
	}

	// A running session, which a second server on the same directory
	// lists too.
	b2, running := f.connect(t, "alice", true)
	b2.echo(marker())
	g := td20Beside(t, f)

	for _, c := range []struct {
		name string
		f    *fixture
	}{{"the server that recorded", f}, {"a second server", g}} {
		got := td20List(t, c.f)
		if e, ok := got[whole]; !ok || e.Truncated || e.Incomplete != nil {
			t.Errorf("%s: the finished recording is listed as %+v, want it untruncated, without a reason", c.name, e)
		}
		e, ok := got[cut]
		if !ok || !e.Truncated || e.Incomplete == nil || *e.Incomplete != "the server stopped before the recording ended" {
			t.Errorf("%s: the recording cut by the server's end is listed as %+v (reason %v), want it truncated, "+
				"with the reason that the server stopped before the recording ended", c.name, e, e.Incomplete)
		}
		if math.Abs(e.Duration-7) > 0.001 {
			t.Errorf("%s: the recording cut short is listed %.3f s long, want 7 s: from its start to its file's last write", c.name, e.Duration)
		}
		if e, ok := got[running]; !ok || e.Truncated || e.Incomplete != nil || e.Live != (c.f == f) {
			t.Errorf("%s: the running session's recording is listed as %+v, want it untruncated, without a reason, live on its own server", c.name, e)
		}
	}
	status, body := f.get(t, "dave", "/console/api/recordings/"+cut)
	if status != 200 || string(body) != cast {
		t.Errorf("the recording cut short is served as %d %q, want 200 and its file as it is", status, body)
	}

	b2.ws.Close(websocket.StatusNormalClosure, "")
	f.closeTunnelEvent(t, running)
	if e := td20List(t, g)[running]; e.Truncated || e.Incomplete != nil || e.Live {
		t.Errorf("once ended, the second server lists the recording as %+v, want it finished, untruncated", e)
	}
}
