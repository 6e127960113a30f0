package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCR16ConfigElsewhereGetsNoDataDirHint: a --config file the server
// cannot read, given without --data-dir, is not the data directory's file:
// the error must not explain it as a data directory of another uid (the
// hint's directory was then the working directory, which held the file).
// Before: "… belongs to uid 65532 … a data directory stays with the user
// that wrote it first …".
func TestCR16ConfigElsewhereGetsNoDataDirHint(t *testing.T) {
	ou := newOtherUID(t, "cr16-config-", "server")
	const owner, other = 65532, 1000870000
	dir := ou.caseDir(t, "config elsewhere")
	conf := filepath.Join(dir, "server.yaml")
	if err := os.WriteFile(conf, []byte("{}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustChown(t, conf, owner, owner, 0o600)
	mustChown(t, dir, owner, owner, 0o755)
	cmd := ou.command(other, "server", "--config", conf, "--listen", "127.0.0.1:0")
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err == nil {
		t.Fatalf("the server ran as uid %d with a config it cannot read:\n%s", other, stderr.String())
	}
	if !strings.Contains(stderr.String(), "permission denied") {
		t.Errorf("the server said:\n%s\nwant a permission error", stderr.String())
	}
	if strings.Contains(stderr.String(), "data directory") {
		t.Errorf("the server said:\n%s\nwant no data-directory hint for a --config file given without --data-dir", stderr.String())
	}
}
