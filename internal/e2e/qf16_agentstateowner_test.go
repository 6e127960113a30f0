package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestQF16AgentStateDirOfAnotherUser: an endpoint agent started as another
// user on a state directory a first user wrote (the agent writes its files
// 0600 in a directory it makes 0700: a first `sudo postern endpoint-agent`,
// then a systemd unit with User=; an image run as a new UID) exits naming
// the owner and its own UID and saying what to do, as the server does for
// its data directory (TestDataDirOfAnotherUser), not with a bare
// "permission denied". Before: "postern endpoint-agent: agent: read state:
// open …/agent.json: permission denied" and "… agent: lock the state
// directory: filelock: open …/agent.lock: permission denied".
func TestQF16AgentStateDirOfAnotherUser(t *testing.T) {
	ou := newOtherUID(t, "qf16-agent-owner-", "agent")
	const owner, other = 65532, 1000870000
	for _, c := range []struct {
		name     string
		setup    func(t *testing.T, dir string)
		stateDir func(dir string) string
		owner    int
		todo     string
	}{
		{"identity of another uid", func(t *testing.T, dir string) {
			// A directory its group may write (the lock file is made),
			// an identity only its owner reads.
			mustChown(t, dir, owner, 0, 0o770)
			state := filepath.Join(dir, "agent.json")
			if err := os.WriteFile(state, []byte("{}\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			mustChown(t, state, owner, owner, 0o600)
		}, func(dir string) string { return dir }, owner, fmt.Sprintf("chown -R %d ", other)},
		{"directory of another uid", func(t *testing.T, dir string) {
			mustChown(t, dir, owner, owner, 0o700)
		}, func(dir string) string { return dir }, owner, fmt.Sprintf("run the agent as uid %d", owner)},
		{"directory to be made in another uid's", func(t *testing.T, dir string) {
			mustChown(t, dir, 0, 0, 0o755)
		}, func(dir string) string { return filepath.Join(dir, "agent") }, 0, fmt.Sprintf("install -d -o %d -m 700 ", other)},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := ou.caseDir(t, c.name)
			c.setup(t, dir)
			cmd := ou.command(other, "endpoint-agent", "--state-dir", c.stateDir(dir))
			var stderr strings.Builder
			cmd.Stderr = &stderr
			err := cmd.Run()
			if err == nil {
				t.Fatalf("the agent ran as uid %d on a state directory it cannot use:\n%s", other, stderr.String())
			}
			for _, want := range []string{"permission denied", fmt.Sprintf("belongs to uid %d", c.owner),
				fmt.Sprintf("runs as uid %d", other), c.todo} {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("the agent said:\n%s\nwant it to say %q", stderr.String(), want)
				}
			}
		})
	}
}
