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

// otherUID runs the binary as another user, for the tests of what the
// server and the agent say about a directory of a uid not theirs
// (TestDataDirOfAnotherUser, TestQF16AgentStateDirOfAnotherUser,
// TestQG16DataDirToMakeInAnotherUsers).
type otherUID struct {
	setpriv string
	// base is a 0755 directory of the test's own: the other user must
	// reach the binary and the directories below it (t.TempDir's parent
	// is 0700).
	base string
	// bin is the binary copied into base.
	bin string
}

// newOtherUID skips the test unless it runs as root with setpriv(1) at
// hand (files belong to one user, the binary runs as another), and copies
// the binary into a 0755 directory named from prefix. who ("server",
// "agent") names what runs, in the skip messages.
func newOtherUID(t *testing.T, prefix, who string) *otherUID {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("needs root: the files belong to one user, the %s runs as another", who)
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skipf("needs setpriv(1) (util-linux) to run the %s as another user", who)
	}
	base, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(base, "postern")
	copyExecutable(t, binPath, bin)
	return &otherUID{setpriv: setpriv, base: base, bin: bin}
}

// caseDir makes a 0700 directory of root's in base for a subtest, named
// from its case name.
func (o *otherUID) caseDir(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join(o.base, strings.ReplaceAll(name, " ", "-"))
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}

// command is the binary run with args as uid (group 0, no supplementary
// groups), in a clean environment whose HOME is /.
func (o *otherUID) command(uid int, args ...string) *exec.Cmd {
	cmd := exec.Command(o.setpriv, append([]string{fmt.Sprintf("--reuid=%d", uid), "--regid=0", "--clear-groups",
		o.bin}, args...)...)
	cmd.Env = append(cleanEnv(), "HOME=/")
	return cmd
}

// mustChown gives path to uid:gid with mode.
func mustChown(t *testing.T, path string, uid, gid int, mode os.FileMode) {
	t.Helper()
	if err := os.Chown(path, uid, gid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// copyExecutable copies the binary at src to a new executable file dst.
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
