package server

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

// TestDataDirDotDotAfterASymlinkIsOneDirectory: a --data-dir (read by
// resolveConfig, as `postern server` reads it) with a ".."
// after a symlink (base/link/../data, link → a/b) names one directory for
// the server, the one its files are opened in (filepath.Join cleans ".."
// as text: base/data). Before, the directory was made where the kernel
// goes (base/a/data) and the server then failed to open base/data's files.
func TestDataDirDotDotAfterASymlinkIsOneDirectory(t *testing.T) {
	base := t.TempDir()
	if err := os.MkdirAll(filepath.Join(base, "a", "b"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("a", "b"), filepath.Join(base, "link")); err != nil {
		t.Fatal(err)
	}
	cfg, err := resolveConfig(Options{DataDir: base + "/link/../data", Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Advertise = "localhost:8443"
	off := false
	cfg.Agent.Embedded = &off
	s, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("start with --data-dir base/link/../data: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{DatabaseFile, SecretKeyFile} {
		if _, err := os.Stat(filepath.Join(base, "data", name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(base, "a", "data")); !os.IsNotExist(err) {
		t.Errorf("a second directory was made where the kernel goes (base/a/data): %v", err)
	}
}
