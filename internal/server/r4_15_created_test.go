package server

import (
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"

	"github.com/postern/postern/internal/server/config"
)

// TestCreatedListsTheDatabase: the welcome text's "created:" lines name the
// SQLite database on the start that makes it, and not on a restart. Before,
// the check for the file ran after the store was opened (which creates it),
// so postern.db was never listed.
func TestCreatedListsTheDatabase(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.Listen, cfg.Advertise = config.ParseAddrs("127.0.0.1:0"), "localhost:8443"
	off := false
	cfg.Agent.Embedded = &off
	db := filepath.Join(cfg.DataDir, DatabaseFile)
	for _, c := range []struct {
		name string
		want bool
	}{{"first start", true}, {"restart", false}} {
		s, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got := slices.Contains(s.Created, db)
		if err := s.Close(); err != nil {
			t.Fatalf("%s: close: %v", c.name, err)
		}
		if got != c.want {
			t.Errorf("%s: %s in Created = %v, want %v (Created: %q)", c.name, db, got, c.want, s.Created)
		}
	}
}
