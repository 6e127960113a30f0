//go:build unix

package ownerhint_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postern/postern/internal/util/ownerhint"
)

// TestWrap: a permission error on a file of the directory, on the
// directory or on a parent it was to be made in gains the owner's uid,
// this process's and what to do, only when the owner is another user and
// only once, and stays the error it was (errors.Is, errors.As); other
// errors, and files elsewhere, are left alone. The other user's files are
// made with chown, hence root; the end-to-end cases, the binary run as
// another uid, are internal/e2e's TestDataDirOfAnotherUser,
// TestQG16DataDirToMakeInAnotherUsers and TestQF16AgentStateDirOfAnotherUser.
func TestWrap(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a file to another uid")
	}
	const other = 65532
	me := os.Geteuid()
	base := t.TempDir()
	mineDir := filepath.Join(base, "mine")     // this uid's directory
	theirDir := filepath.Join(base, "theirs")  // another uid's
	theirs := filepath.Join(mineDir, "a.json") // another uid's file in mineDir
	mine := filepath.Join(mineDir, "b.json")
	elsewhere := filepath.Join(base, "elsewhere.pem") // another uid's, not in mineDir
	for _, d := range []string{mineDir, theirDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{theirs, mine, elsewhere} {
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{theirDir, theirs, elsewhere} {
		if err := os.Chown(p, other, other); err != nil {
			t.Fatal(err)
		}
	}
	agent := func(dir string) ownerhint.Dir {
		return ownerhint.Dir{Path: dir, Noun: "state directory", Program: "agent", Flag: "--state-dir"}
	}
	denied := func(op, path string) error {
		return fmt.Errorf("agent: read state: %w", &fs.PathError{Op: op, Path: path, Err: fs.ErrPermission})
	}
	stays := func(path, dir string) []string {
		return []string{fmt.Sprintf("%s belongs to uid %d and this agent runs as uid %d: a state directory stays", path, other, me),
			fmt.Sprintf("run the agent as uid %d, or give the directory and its files to uid %d: chown -R %d %s)", other, me, me, dir)}
	}
	toMake := func(path, dir string) []string {
		return []string{fmt.Sprintf("%s belongs to uid %d and this agent runs as uid %d: make the state directory for uid %d", path, other, me, me),
			fmt.Sprintf("(install -d -o %d -m 700 %s), or choose another --state-dir)", me, dir)}
	}
	for _, tc := range []struct {
		name string
		dir  string
		err  error
		want []string // nil: the error comes back unchanged
	}{
		{"another uid's file", mineDir, denied("open", theirs), stays(theirs, mineDir)},
		{"this uid's file", mineDir, denied("open", mine), nil},
		{"a missing file under another uid's directory", theirDir,
			denied("open", filepath.Join(theirDir, "agent.lock")), stays(theirDir, theirDir)},
		{"a missing file under this uid's directory", mineDir, denied("open", filepath.Join(mineDir, "missing")), nil},
		{"the directory to be made in another uid's", filepath.Join(theirDir, "agent"),
			denied("mkdir", filepath.Join(theirDir, "agent")), toMake(theirDir, filepath.Join(theirDir, "agent"))},
		{"a parent to be made in another uid's", filepath.Join(theirDir, "a", "b", "agent"),
			denied("mkdir", filepath.Join(theirDir, "a")), toMake(theirDir, filepath.Join(theirDir, "a", "b", "agent"))},
		{"another uid's file elsewhere", mineDir, denied("open", elsewhere), nil},
		{"not a permission error", mineDir,
			fmt.Errorf("agent: read state: %w", &fs.PathError{Op: "open", Path: theirs, Err: fs.ErrNotExist}), nil},
		{"a permission error without a path", mineDir, fmt.Errorf("agent: %w", fs.ErrPermission), nil},
		{"told already", mineDir, ownerhint.Wrap(denied("open", theirs), agent(mineDir)), stays(theirs, mineDir)},
		{"no error", mineDir, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ownerhint.Wrap(tc.err, agent(tc.dir))
			if tc.want == nil {
				if got != tc.err {
					t.Fatalf("got %v, want the error unchanged: %v", got, tc.err)
				}
				return
			}
			for _, w := range tc.want {
				if !strings.Contains(got.Error(), w) {
					t.Errorf("got %q, want it to say %q", got, w)
				}
			}
			if n := strings.Count(got.Error(), "belongs to uid"); n != 1 {
				t.Errorf("got %q: the hint %d times, want once", got, n)
			}
			var pe *fs.PathError
			if !errors.Is(got, fs.ErrPermission) || !errors.As(got, &pe) {
				t.Errorf("%v is no longer the permission error (*fs.PathError) it was", got)
			}
		})
	}
}

// TestWrapNamesTheProgram: the server's words, not the agent's, when the
// server asks (one text, two programs).
func TestWrapNamesTheProgram(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a file to another uid")
	}
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 65532, 65532); err != nil {
		t.Fatal(err)
	}
	err := &fs.PathError{Op: "open", Path: filepath.Join(dir, "secret.key"), Err: fs.ErrPermission}
	got := ownerhint.Wrap(err, ownerhint.Dir{Path: dir, Noun: "data directory", Program: "server", Flag: "--data-dir"}).Error()
	for _, w := range []string{"this server runs as uid", "a data directory stays", "run the server as uid 65532"} {
		if !strings.Contains(got, w) {
			t.Errorf("got %q, want it to say %q", got, w)
		}
	}
	if strings.Contains(got, "agent") {
		t.Errorf("got %q: the agent's words in the server's hint", got)
	}
}
