package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDataDirOfAnotherUser: a server started as another user on a data
// directory whose files (0600) a first user wrote, as a container volume
// is when a platform runs the image as a new UID, exits naming the owner
// and its own UID and saying what to do, not with a bare "permission
// denied". Before: "sealer: read key file: open …/secret.key: permission
// denied". Two cases: the key file is another user's; the directory is
// (a bind-mounted host folder the server cannot create its files in).
func TestDataDirOfAnotherUser(t *testing.T) {
	ou := newOtherUID(t, "r4-15-owner-", "server")
	const owner, other = 65532, 1000870000
	for _, c := range []struct {
		name  string
		setup func(t *testing.T, dir string)
		owner int
	}{
		{"key file of another uid", func(t *testing.T, dir string) {
			// A directory its group may write (as the image's volumes), a
			// key file only its owner reads.
			mustChown(t, dir, owner, 0, 0o770)
			key := filepath.Join(dir, "secret.key")
			if err := os.WriteFile(key, []byte("not read\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			mustChown(t, key, owner, owner, 0o600)
		}, owner},
		{"directory of another uid", func(t *testing.T, dir string) {
			mustChown(t, dir, 0, 0, 0o755)
		}, 0},
		{"closed directory of another uid", func(t *testing.T, dir string) {
			// Its postern.yaml is the first file the server reads (s16).
			if err := os.WriteFile(filepath.Join(dir, "postern.yaml"), []byte("{}\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			mustChown(t, filepath.Join(dir, "postern.yaml"), owner, owner, 0o600)
			mustChown(t, dir, owner, owner, 0o700)
		}, owner},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := ou.caseDir(t, c.name)
			c.setup(t, dir)
			cmd := ou.command(other, "server", "--data-dir", dir, "--listen", "127.0.0.1:0")
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the server ran as uid %d on a data directory it cannot use:\n%s", other, out)
			}
			for _, want := range []string{fmt.Sprintf("belongs to uid %d", c.owner), fmt.Sprintf("runs as uid %d", other)} {
				if !strings.Contains(string(out), want) {
					t.Errorf("the server said:\n%s\nwant it to say %q", out, want)
				}
			}
		})
	}
}
