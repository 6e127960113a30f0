package e2e

import (
	"os"
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
