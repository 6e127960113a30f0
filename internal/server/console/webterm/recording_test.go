package webterm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/server/config"
	"github.com/postern/postern/internal/wire/tunnelproto"
)

// newTestTerminal is a Terminal with only what recordings need.
func newTestTerminal(t *testing.T, c config.Console) *Terminal {
	t.Helper()
	dir := t.TempDir()
	c.RecordingsDir = filepath.Join(dir, "rec")
	return &Terminal{cfg: Config{Console: c, Now: time.Now, Logger: slog.New(slog.DiscardHandler)}, log: slog.New(slog.DiscardHandler),
		dir: c.RecordingsDir, live: map[string]*recorder{}}
}

// events reads a recording's events (after the header).
func events(t *testing.T, path string) [][3]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	var out [][3]any
	for _, l := range lines[1:] {
		var ev [3]any
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("event %q: %v", l, err)
		}
		out = append(out, ev)
	}
	return out
}

func TestRecorderSplitsNoCharacter(t *testing.T) {
	tests := []struct {
		name   string
		chunks []string
		want   []string // the "o" events' data
	}{
		{"ascii", []string{"ab", "cd"}, []string{"ab", "cd"}},
		{"two-byte rune split", []string{"caf\xc3", "\xa9!"}, []string{"caf", "é!"}},
		{"four-byte rune split thrice", []string{"\xf0", "\x9f\x98", "\x80x"}, []string{"😀x"}},
		{"incomplete at the end", []string{"a\xe2\x82"}, []string{"a", "\ufffd"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			term := newTestTerminal(t, config.Console{})
			id := fmt.Sprintf("tnl-%017x", i+1)
			rec, err := term.startRecording(recordingMeta{TunnelID: id, Start: time.Now()}, 80, 24)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range tt.chunks {
				rec.output([]byte(c))
			}
			rec.finish()
			var got []string
			for _, ev := range events(t, filepath.Join(term.dir, id+".cast")) {
				got = append(got, ev[2].(string))
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Fatalf("events %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRecorderSizeCap(t *testing.T) {
	term := newTestTerminal(t, config.Console{RecordingMaxMB: 1})
	id := "tnl-00000000000000001"
	rec, err := term.startRecording(recordingMeta{TunnelID: id, Start: time.Now()}, 80, 24)
	if err != nil {
		t.Fatal(err)
	}
	chunk := []byte(strings.Repeat("x", 64<<10))
	for range 20 { // 1.25 MiB of output
		rec.output(chunk)
	}
	rec.finish()
	path := filepath.Join(term.dir, id+".cast")
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() > 1<<20+4096 {
		t.Fatalf("recording of %d bytes passed the 1 MB cap", st.Size())
	}
	evs := events(t, path)
	last := evs[len(evs)-1]
	if last[1] != "m" || !strings.Contains(last[2].(string), "limit of 1 MB") {
		t.Fatalf("last event %v, want the cap's marker", last)
	}
	m, err := term.readMeta(id)
	if err != nil || !m.Truncated || m.End.IsZero() {
		t.Fatalf("metadata %+v %v", m, err)
	}
}

func TestSweepRecordings(t *testing.T) {
	term := newTestTerminal(t, config.Console{RecordingRetentionDays: 10})
	now := time.Now()
	ids := []string{"tnl-0000000000000000a", "tnl-0000000000000000b", "tnl-0000000000000000c"}
	var live *recorder
	for i, id := range ids {
		rec, err := term.startRecording(recordingMeta{TunnelID: id, Start: now}, 80, 24)
		if err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			live = rec // still running
		} else {
			rec.finish()
		}
	}
	old := now.Add(-11 * 24 * time.Hour)
	for _, id := range []string{ids[0], ids[2]} {
		if err := os.Chtimes(filepath.Join(term.dir, id+".cast"), old, old); err != nil {
			t.Fatal(err)
		}
	}
	n, err := term.SweepRecordings(now)
	if err != nil || n != 1 {
		t.Fatalf("sweep: %d %v, want 1 (the old finished one)", n, err)
	}
	for i, id := range ids {
		_, err := os.Stat(filepath.Join(term.dir, id+".cast"))
		if gone := errors.Is(err, fs.ErrNotExist); gone != (i == 0) {
			t.Errorf("%s: gone %v", id, gone)
		}
	}
	live.finish()
	// Retention 0 keeps everything.
	term.cfg.Console.RecordingRetentionDays = 0
	if n, err := term.SweepRecordings(now.Add(1000 * 24 * time.Hour)); n != 0 || err != nil {
		t.Fatalf("sweep with retention 0: %d %v", n, err)
	}
}

func TestCloseReason(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{nil, ReasonClosed},
		{errors.New("EOF"), ReasonClosed},
		{&client.ClosedError{Code: 1008, Reason: "Access was revoked: the endpoint agent eni-1 was revoked"}, ReasonRevoked},
		{&client.ClosedError{Code: 1008, Reason: "The tunnel was terminated by arn:aws:iam::1:user/a"}, ReasonRevoked},
		// The front door's text, from its one owner: a webterm that kept
		// its own copy would miss a rewording there.
		{&client.ClosedError{Code: 1008, Reason: tunnelproto.MaxDurationCloseReason(60 * time.Second)}, ReasonMaxDuration},
		{&client.ClosedError{Code: 1008, Reason: tunnelproto.MaxDurationCloseReason(604800 * time.Second)}, ReasonMaxDuration},
		{&client.ClosedError{Code: 1011, Reason: "the target reset the connection"}, ReasonTargetReset},
		{&client.ClosedError{Code: 1001, Reason: "The Postern server is shutting down"}, ReasonError},
		{fmt.Errorf("read: %w", &client.ClosedError{Code: 1006}), ReasonError},
	}
	for _, tt := range tests {
		if got, _ := closeReason(tt.err); got != tt.want {
			t.Errorf("closeReason(%v) = %s, want %s", tt.err, got, tt.want)
		}
	}
}

// recordedSession is a session of a new test terminal that records
// sessions and input, with its recording started under id; the session's
// context ends with the test.
func recordedSession(t *testing.T, id string) (*Terminal, *recorder, *session) {
	t.Helper()
	term := newTestTerminal(t, config.Console{RecordSessions: true, RecordInput: true})
	rec, err := term.startRecording(recordingMeta{TunnelID: id, Start: time.Now()}, 80, 24)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return term, rec, &session{t: term, ctx: ctx, cancel: cancel}
}
