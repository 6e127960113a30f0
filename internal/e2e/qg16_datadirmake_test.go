package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestQG16DataDirToMakeInAnotherUsers: a server started as one user with a
// data directory still to be made in another user's directory (a host
// folder of root's, a volume's mount point) exits naming that directory's
// owner and its own uid and saying how to make the data directory for it,
// as the endpoint agent does for its state directory
// (TestQF16AgentStateDirOfAnotherUser), not with a bare "permission
// denied". Before: "postern server: data directory: mkdir …: permission
// denied". Two cases: the data directory itself is to be made; a parent
// of it is too (os.MkdirAll fails higher up).
func TestQG16DataDirToMakeInAnotherUsers(t *testing.T) {
	ou := newOtherUID(t, "qg16-data-owner-", "server")
	const other = 1000870000
	for _, c := range []struct {
		name string
		data []string // the data directory, below root's directory
	}{
		{"data directory to be made", []string{"data"}},
		{"parents to be made too", []string{"srv", "postern", "data"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := ou.caseDir(t, c.name)
			mustChown(t, dir, 0, 0, 0o755)
			data := filepath.Join(append([]string{dir}, c.data...)...)
			cmd := ou.command(other, "server", "--data-dir", data, "--listen", "127.0.0.1:0")
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Run(); err == nil {
				t.Fatalf("the server ran as uid %d with a data directory it cannot make:\n%s", other, stderr.String())
			}
			for _, want := range []string{"permission denied", fmt.Sprintf("%s belongs to uid 0", dir),
				fmt.Sprintf("runs as uid %d", other), fmt.Sprintf("install -d -o %d -m 700 %s", other, data),
				"choose another --data-dir"} {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("the server said:\n%s\nwant it to say %q", stderr.String(), want)
				}
			}
		})
	}
}
