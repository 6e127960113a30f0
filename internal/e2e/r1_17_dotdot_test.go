package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestR117DataDirWithDotDotAfterASymlink: the server run as another user
// with --data-dir base/link/../data (link → a/b) makes, as the kernel
// resolves it, base/a/data, but opens its files filepath.Join(dir, name):
// base/data/secret.key, the text's directory. When that key is another
// uid's, the server must still name its owner and the directory to hand
// over (base/data, where the key is). With ownerhint comparing the file
// to the directory the kernel reached (QE, s17) the hint was gone: a bare
// "permission denied".
func TestR117DataDirWithDotDotAfterASymlink(t *testing.T) {
	ou := newOtherUID(t, "r1-17-dotdot-", "server")
	const owner, other = 65532, 1000870000
	base := ou.caseDir(t, "dotdot")
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	reached, text := filepath.Join(base, "a", "data"), filepath.Join(base, "data")
	for _, d := range []string{filepath.Join(base, "a", "b"), reached, text} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mustChown(t, reached, other, 0, 0o700)
	if err := os.Symlink(filepath.Join(base, "a", "b"), filepath.Join(base, "link")); err != nil {
		t.Fatal(err)
	}
	// As TestDataDirOfAnotherUser's first case: a directory its group
	// may write, a key file only its owner reads.
	mustChown(t, text, owner, 0, 0o770)
	key := filepath.Join(text, "secret.key")
	if err := os.WriteFile(key, []byte("not read\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustChown(t, key, owner, owner, 0o600)

	out, err := ou.command(other, "server", "--data-dir", filepath.Join(base, "link")+"/../data", "--listen", "127.0.0.1:0").CombinedOutput()
	if err == nil {
		t.Fatalf("the server ran as uid %d with a key it cannot read:\n%s", other, out)
	}
	for _, want := range []string{fmt.Sprintf("%s belongs to uid %d", key, owner), fmt.Sprintf("runs as uid %d", other),
		fmt.Sprintf("chown -R %d %s)", other, text)} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the server said:\n%s\nwant it to say %q", out, want)
		}
	}
}
