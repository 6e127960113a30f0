package agent_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postern/postern/internal/agent"
)

// TestQF16StateDirOwnerHint: a permission error on a file of the state
// directory gains its owner's uid, this process's and what to do only
// when the owner is another user, once, and stays a permission error
// (errors.Is); other errors are left alone. The other user's files are
// made with chown, hence root; the end-to-end case, an agent run as
// another uid, is internal/e2e's TestQF16AgentStateDirOfAnotherUser.
func TestQF16StateDirOwnerHint(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a file to another uid")
	}
	const other = 65532
	dir := t.TempDir()
	theirs := filepath.Join(dir, "agent.json")
	mine := filepath.Join(dir, "agent-key.pem")
	for _, p := range []string{theirs, mine} {
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(theirs, other, other); err != nil {
		t.Fatal(err)
	}
	denied := func(path string) error {
		return fmt.Errorf("agent: read state: %w", &fs.PathError{Op: "open", Path: path, Err: fs.ErrPermission})
	}
	hinted := fmt.Sprintf("belongs to uid %d and this agent runs as uid %d", other, os.Geteuid())
	for _, tc := range []struct {
		name string
		err  error
		want string // "" for the error unchanged
	}{
		{"another uid's file", denied(theirs), hinted},
		{"a missing file in a directory of this uid", denied(filepath.Join(dir, "missing")), ""},
		{"this uid's file", denied(mine), ""},
		{"not a permission error", fmt.Errorf("agent: read state: %w", &fs.PathError{Op: "open", Path: theirs, Err: fs.ErrNotExist}), ""},
		{"told already", agent.StateDirOwnerHint(denied(theirs), dir), hinted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := agent.StateDirOwnerHint(tc.err, dir)
			if tc.want == "" {
				if got != tc.err {
					t.Fatalf("got %v, want the error unchanged: %v", got, tc.err)
				}
				return
			}
			if !strings.Contains(got.Error(), tc.want) || strings.Count(got.Error(), "belongs to uid") != 1 {
				t.Errorf("got %q, want it to say %q once", got, tc.want)
			}
			if !errors.Is(got, fs.ErrPermission) {
				t.Errorf("%v is no longer a permission error", got)
			}
		})
	}
}
