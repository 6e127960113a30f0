package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigLogLevel: the config file's log_level sets the server's log
// level, and --log-level on the command line wins over it (the key was
// once read, validated and then ignored).
func TestConfigLogLevel(t *testing.T) {
	tests := []struct {
		name     string
		yaml     string   // postern.yaml, "" for none
		flags    []string // extra server flags
		wantInfo bool     // whether INFO lines are logged
	}{
		{"no config file: info", "", nil, true},
		{"log_level: warn", "version: 1\nlog_level: warn\n", nil, false},
		{"log_level: warn, --log-level info", "version: 1\nlog_level: warn\n", []string{"--log-level", "info"}, true},
		{"log_level: info, --log-level error", "version: 1\nlog_level: info\n", []string{"--log-level", "error"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.yaml != "" {
				if err := os.WriteFile(filepath.Join(dir, "postern.yaml"), []byte(tt.yaml), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			p := startServer(t, dir, tt.flags...)
			if err := p.stop(); err != nil {
				t.Fatalf("stop: %v\n%s", err, p.output())
			}
			out := p.output()
			if got := strings.Contains(out, "level=INFO"); got != tt.wantInfo {
				t.Errorf("INFO lines logged: %v, want %v:\n%s", got, tt.wantInfo, out)
			}
		})
	}
}

// TestSecondServerOnOneDatabaseRefused: a second server on a data
// directory whose SQLite database a running server has open exits at once,
// naming the first one's process (the caches of each would miss the
// other's writes); once the first stops, the database is free.
func TestSecondServerOnOneDatabaseRefused(t *testing.T) {
	dir := t.TempDir()
	first := startServer(t, dir)
	cmd := exec.Command(binPath, "server", "--data-dir", dir, "--listen", "127.0.0.1:0")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("a second server on the same database ran:\n%s", out)
	}
	want := fmt.Sprintf("in use by another Postern server (pid %d)", first.cmd.Process.Pid)
	if !strings.Contains(string(out), want) {
		t.Errorf("the second server said:\n%s\nwant it to name the first (%q)", out, want)
	}
	if err := first.stop(); err != nil {
		t.Fatal(err)
	}
	again := startServer(t, dir)
	if err := again.stop(); err != nil {
		t.Fatal(err)
	}
}
