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
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a file to another uid")
	}
	if _, err := exec.LookPath("chown"); err != nil {
		t.Skipf("no chown: %v", err)
	}
	const other = 65532
	me := os.Geteuid()
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
			base := t.TempDir()
			reached, text := filepath.Join(base, "a", "data"), filepath.Join(base, "data")
			for _, d := range []string{filepath.Join(base, "a", "b"), reached, text} {
				if err := os.MkdirAll(d, 0o700); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Symlink(filepath.Join(base, "a", "b"), filepath.Join(base, "link")); err != nil {
				t.Fatal(err)
			}
			theirs := text
			if tc.reachedTheirs {
				theirs = reached
			}
			key := filepath.Join(theirs, "secret.key")
			if err := os.WriteFile(key, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{theirs, key} {
				if err := os.Chown(p, other, other); err != nil {
					t.Fatal(err)
				}
			}
			dataDir := filepath.Join(base, "link") + "/../data"
			if tc.relative {
				t.Chdir(filepath.Join(base, "link")) // $PWD is the symlink
				dataDir = "../data"
			}
			failed := dataDir + "/secret.key"
			in := &fs.PathError{Op: "open", Path: failed, Err: syscall.EACCES}
			got := ownerhint.Wrap(fmt.Errorf("server: %w", in), ownerhint.Dir{Path: dataDir, Noun: "data directory", Program: "server", Flag: "--data-dir"})
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
			_, cmd, ok := strings.Cut(msg, "chown -R ")
			if !ok || !strings.HasSuffix(cmd, ")") {
				t.Fatalf("no chown -R … at the end of %q", msg)
			}
			cmd = "chown -R " + strings.TrimSuffix(cmd, ")")
			sh := exec.Command("sh", "-c", cmd)
			sh.Dir = t.TempDir() // pasted elsewhere
			if out, err := sh.CombinedOutput(); err != nil {
				t.Fatalf("the hint's %q failed: %v: %s", cmd, err, out)
			}
			for _, p := range []string{reached, key} {
				fi, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				if uid := int(fi.Sys().(*syscall.Stat_t).Uid); uid != me {
					t.Fatalf("after %q, %s belongs to uid %d; want %d", cmd, p, uid, me)
				}
			}
		})
	}
}

// TestQE17DotDotItCannotFollow: a ".." after a component that is not
// there cannot be followed as the kernel would, so no directory is named
// (before: the text's directory, another uid's, was).
func TestQE17DotDotItCannotFollow(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a file to another uid")
	}
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
	if got := ownerhint.Wrap(in, ownerhint.Dir{Path: dataDir, Noun: "data directory", Program: "server", Flag: "--data-dir"}); got != in {
		t.Fatalf("got %q; want the error unchanged", got)
	}
}
