package e2e

import (
	"fmt"
	"io"
	"os"
	"os/exec"
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
	if os.Geteuid() != 0 {
		t.Skip("needs root: the files belong to one user, the server runs as another")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("needs setpriv(1) (util-linux) to run the server as another user")
	}
	// Everything under a 0755 directory of its own: the other user must
	// reach the binary and the data directory (t.TempDir's parent is 0700).
	base, err := os.MkdirTemp("", "r4-15-owner-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(base, "postern")
	copyExecutable(t, binPath, bin)
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
			dir := filepath.Join(base, strings.ReplaceAll(c.name, " ", "-"))
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			c.setup(t, dir)
			cmd := exec.Command(setpriv, fmt.Sprintf("--reuid=%d", other), "--regid=0", "--clear-groups",
				bin, "server", "--data-dir", dir, "--listen", "127.0.0.1:0")
			cmd.Env = append(cleanEnv(), "HOME=/")
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

func mustChown(t *testing.T, path string, uid, gid int, mode os.FileMode) {
	t.Helper()
	if err := os.Chown(path, uid, gid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func copyExecutable(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dst, 0o755); err != nil {
		t.Fatal(err)
	}
}
