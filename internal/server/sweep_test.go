package server

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/postern/postern/internal/server/config"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/testutil/sqlitetest"
)

// TestSweepDeletesExpiredSessions: the periodic sweep deletes role
// sessions that expired more than sessionKeep ago, and keeps those that
// expired since (their callers still get ExpiredToken) and live ones.
func TestSweepDeletesExpiredSessions(t *testing.T) {
	ctx := t.Context()
	st := sqlitetest.Open(t)
	now := time.Now().UTC().Truncate(time.Second)
	sessions := []struct {
		akid    string
		expires time.Time
		kept    bool
	}{
		{"ASIAOLDOLDOLDOLDOLD1", now.Add(-sessionKeep - time.Minute), false},
		{"ASIAOLDOLDOLDOLDOLD2", now.Add(-30 * 24 * time.Hour), false},
		{"ASIARECENTRECENTREC1", now.Add(-sessionKeep + time.Minute), true},
		{"ASIAJUSTEXPIREDJUST1", now.Add(-time.Second), true},
		{"ASIALIVELIVELIVELIV1", now.Add(time.Hour), true},
	}
	for _, s := range sessions {
		err := st.CreateSession(ctx, store.Session{AccessKeyID: s.akid, SecretSealed: []byte("sealed"), SessionTokenHash: []byte("hash"),
			RoleName: "ops", RoleARN: "arn:aws:iam::123456789012:role/ops", RoleID: "AROAAAAAAAAAAAAAAAAAB", SessionName: "s1",
			SourceUserARN: "arn:aws:iam::123456789012:user/bob", SourceIP: "127.0.0.1", Expiration: s.expires, CreateDate: s.expires.Add(-time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
	}
	srv := &Server{Store: st, logger: slog.New(slog.DiscardHandler)}
	srv.sweepOnce(ctx, now)
	for _, s := range sessions {
		_, err := st.GetSession(ctx, s.akid)
		switch {
		case s.kept && err != nil:
			t.Errorf("session %s (expires %v) was deleted: %v", s.akid, s.expires, err)
		case !s.kept && !errors.Is(err, store.ErrNotFound):
			t.Errorf("session %s (expires %v) was kept: %v", s.akid, s.expires, err)
		}
	}
}

// TestSweepDeletesOldRecordings: the server's sweep applies the console's
// recording retention (the browser terminal's files under data_dir).
func TestSweepDeletesOldRecordings(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.Listen, cfg.Advertise = config.ParseAddrs("127.0.0.1:0"), "localhost:8443"
	off := false
	cfg.Agent.Embedded = &off
	cfg.Console.RecordSessions = true
	cfg.Console.RecordingRetentionDays = 7
	s, err := New(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dir := filepath.Join(cfg.DataDir, cfg.Console.RecordingsDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	files := map[string]time.Time{
		"tnl-0123456789abcdef0": now.Add(-8 * 24 * time.Hour), // past retention
		"tnl-0123456789abcdef1": now.Add(-6 * 24 * time.Hour), // within it
	}
	for id, mtime := range files {
		for _, ext := range []string{".cast", ".json"} {
			p := filepath.Join(dir, id+ext)
			if err := os.WriteFile(p, []byte("{}\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(p, mtime, mtime); err != nil {
				t.Fatal(err)
			}
		}
	}
	s.sweepOnce(t.Context(), now)
	if _, err := os.Stat(filepath.Join(dir, "tnl-0123456789abcdef0.cast")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a recording past retention was kept: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "tnl-0123456789abcdef1.cast")); err != nil {
		t.Errorf("a recording within retention was deleted: %v", err)
	}
}
