package manpage

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestWriteManPages: a page per command, the same bytes on every run (the
// release checksums them), dated as asked, and nothing in them that
// depends on who generated them (the agent's default state directory).
func TestWriteManPages(t *testing.T) {
	date := time.Date(2023, 11, 14, 0, 0, 0, 0, time.UTC)
	a, b := t.TempDir(), t.TempDir()
	for _, dir := range []string{a, b} {
		if err := WriteManPages(dir, date); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := os.ReadDir(a)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, e := range entries {
		got[e.Name()] = true
	}
	for _, want := range []string{"postern.1", "postern-server.1", "postern-endpoint-agent.1", "postern-ec2-create-vpc.1", "postern-completion-bash.1"} {
		if !got[want] {
			t.Errorf("no %s among %d pages", want, len(got))
		}
	}
	home, _ := os.UserHomeDir()
	for name := range got {
		pa, err := os.ReadFile(filepath.Join(a, name))
		if err != nil {
			t.Fatal(err)
		}
		pb, err := os.ReadFile(filepath.Join(b, name))
		if err != nil {
			t.Fatalf("second run lacks %s: %v", name, err)
		}
		if !bytes.Equal(pa, pb) {
			t.Errorf("%s differs between two runs", name)
		}
		if !strings.Contains(string(pa), `"Nov 2023"`) {
			t.Errorf("%s is not dated Nov 2023:\n%.300s", name, pa)
		}
		if home != "" && home != "/" && strings.Contains(string(pa), home+"/") {
			t.Errorf("%s names the generating user's home %s", name, home)
		}
	}
}
