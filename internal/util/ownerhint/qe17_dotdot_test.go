//go:build unix

package ownerhint_test

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/postern/postern/internal/util/ownerhint"
)

// TestQE17DotDotAfterASymlink: a directory named with ".." after a
// symlinked component is where the kernel goes (the parent of the link's
// target), not where cleaning the text goes (the parent of the link). In
// base, link → a/b; base/link/../data is base/a/data to the kernel and
// base/data as text. The hint must speak of the directory the kernel
// reached, and its chown -R, pasted elsewhere, must hand that directory
// over. Before (cleaned as text): no hint when the reached directory is
// another uid's (base/data, the text's, is this uid's), a hint naming
// base/data when it is the other way round, and the same two with a
// relative "../data" from a working directory that is the symlink.
func TestQE17DotDotAfterASymlink(t *testing.T) {
	needRoot(t)
	if _, err := exec.LookPath("chown"); err != nil {
		t.Skipf("no chown: %v", err)
	}
	const other = 65532
	for _, tc := range []struct {
		name string
		// reachedTheirs: the directory the kernel reaches is the other
		// uid's (else the directory the text names is).
		reachedTheirs bool
		relative      bool
	}{
		{"the reached directory is another uid's", true, false},
		{"the text's directory is another uid's", false, false},
		{"relative, from a symlinked working directory: the reached one is another uid's", true, true},
		{"relative, from a symlinked working directory: the text's one is another uid's", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base, reached, text := dotDotTree(t, "link")
			theirs := text
			if tc.reachedTheirs {
				theirs = reached
			}
			key := giveAway(t, theirs, other)
			dataDir := filepath.Join(base, "link") + "/../data"
			if tc.relative {
				t.Chdir(filepath.Join(base, "link")) // $PWD is the symlink
				dataDir = "../data"
			}
			failed := dataDir + "/secret.key"
			in := &fs.PathError{Op: "open", Path: failed, Err: syscall.EACCES}
			got := ownerhint.Wrap(fmt.Errorf("server: %w", in), serverDir(dataDir))
			msg := got.Error()
			if !tc.reachedTheirs {
				if strings.Contains(msg, "belongs to uid") {
					t.Fatalf("hinted %q; the directory the kernel reached (%s) is this uid's", msg, reached)
				}
				return
			}
			if want := fmt.Sprintf("%s belongs to uid %d", key, other); !strings.Contains(msg, want) {
				t.Fatalf("hint %q; want it to say %q", msg, want)
			}
			pasteChown(t, msg, reached, key)
		})
	}
}

// TestQE17DotDotItCannotFollow: a ".." after a component that is not
// there cannot be followed as the kernel would, so no directory is named
// (before: the text's directory, another uid's, was).
func TestQE17DotDotItCannotFollow(t *testing.T) {
	needRoot(t)
	base := t.TempDir()
	theirs := filepath.Join(base, "data")
	if err := os.Mkdir(theirs, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(theirs, 65532, 65532); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(base, "gone") + "/../data"
	in := fmt.Errorf("server: %w", &fs.PathError{Op: "open", Path: dataDir + "/secret.key", Err: syscall.EACCES})
	if got := ownerhint.Wrap(in, serverDir(dataDir)); got != in {
		t.Fatalf("got %q; want the error unchanged", got)
	}
}
