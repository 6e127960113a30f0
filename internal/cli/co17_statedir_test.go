//go:build !postern_client

package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAgentStateDirDotDotAfterASymlinkIsOneDirectory: `postern
// endpoint-agent --state-dir base/link/../state` (link → a/b) locks and
// keeps its files in one directory, the one filepath.Join names them in
// (base/state). Before, the directory was made where the kernel goes
// (base/a/state) and the lock file then opened in base/state, which did
// not exist: the agent failed with "no such file or directory".
func TestAgentStateDirDotDotAfterASymlinkIsOneDirectory(t *testing.T) {
	base := t.TempDir()
	if err := os.MkdirAll(filepath.Join(base, "a", "b"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("a", "b"), filepath.Join(base, "link")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("POSTERN_JOIN_TOKEN", "")
	// No join token and no identity: the agent stops after its lock,
	// asking for a token.
	code, _, stderr := runCLI("endpoint-agent", "--state-dir", base+"/link/../state")
	if code == 0 || !strings.Contains(stderr, "join-token") {
		t.Fatalf("exit %d, stderr %q; want the request for a join token", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(base, "state", "agent.lock")); err != nil {
		t.Errorf("lock file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(base, "a", "state")); !os.IsNotExist(err) {
		t.Errorf("a second directory was made where the kernel goes (base/a/state): %v", err)
	}
}
