//go:build unix

package ownerhint_test

import (
	"errors"
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

// TestR4HintAdviceWorksWhenPasted: the command a hint gives (chown -R …,
// install -d …) does what it says when pasted into a shell as it is: on a
// path with spaces, quotes and a $; on a data directory that is a symlink
// to the real one (GNU chown -R changes a symlink named on its command
// line, not the directory it points to); with a relative --data-dir, also
// with .. in it (the shell it is pasted in need not share the program's
// working directory). The commands run for real (root: chown to others).
func TestR4HintAdviceWorksWhenPasted(t *testing.T) {
	needRoot(t)
	for _, tool := range []string{"sh", "chown", "install"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s: %v", tool, err)
		}
	}
	const other = 65532
	me := os.Geteuid()
	// theirs makes dir (and dir/secret.key) of the other uid; the real
	// directory, when dir is to be a symlink to it.
	theirs := func(t *testing.T, dir string) {
		t.Helper()
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		giveAway(t, dir, other)
	}
	for _, tc := range []struct {
		name string
		// setup makes the directory in base and returns the --data-dir
		// as given, the failing path and the real directory.
		setup  func(t *testing.T, base string) (dataDir, failed, real string)
		toMake bool
	}{
		{"spaces, quotes and a $ in the path", func(t *testing.T, base string) (string, string, string) {
			dir := filepath.Join(base, `it's a "data" dir $HOME`)
			theirs(t, dir)
			return dir, filepath.Join(dir, "secret.key"), dir
		}, false},
		{"a data directory that is a symlink to another uid's", func(t *testing.T, base string) (string, string, string) {
			real := filepath.Join(base, "real")
			theirs(t, real)
			link := filepath.Join(base, "data")
			if err := os.Symlink(real, link); err != nil {
				t.Fatal(err)
			}
			return link, filepath.Join(link, "secret.key"), real
		}, false},
		{"a relative data directory", func(t *testing.T, base string) (string, string, string) {
			theirs(t, filepath.Join(base, "data"))
			t.Chdir(base)
			return "data", filepath.Join("data", "secret.key"), filepath.Join(base, "data")
		}, false},
		{"a relative data directory with ..", func(t *testing.T, base string) (string, string, string) {
			theirs(t, filepath.Join(base, "data"))
			if err := os.Mkdir(filepath.Join(base, "x"), 0o755); err != nil {
				t.Fatal(err)
			}
			t.Chdir(filepath.Join(base, "x"))
			return "../data", "../data/secret.key", filepath.Join(base, "data")
		}, false},
		{"to be made, with spaces and quotes, in another uid's directory", func(t *testing.T, base string) (string, string, string) {
			parent := filepath.Join(base, "srv")
			if err := os.Mkdir(parent, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(parent, other, other); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(parent, `my 'postern' data`)
			return dir, dir, dir
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			dataDir, failed, real := tc.setup(t, base)
			err := ownerhint.Wrap(fmt.Errorf("server: %w", &fs.PathError{Op: "open", Path: failed, Err: syscall.EACCES}), serverDir(dataDir))
			msg := err.Error()
			var cmd string
			if tc.toMake {
				_, after, ok := strings.Cut(msg, "(install -d ")
				cmd, _, _ = strings.Cut(after, "), or choose another")
				if !ok {
					t.Fatalf("no install -d in %q", msg)
				}
				cmd = "install -d " + cmd
			} else {
				_, after, ok := strings.Cut(msg, "chown -R ")
				if !ok || !strings.HasSuffix(msg, ")") {
					t.Fatalf("no chown -R … at the end of %q", msg)
				}
				cmd = "chown -R " + strings.TrimSuffix(after, ")")
			}
			// Pasted elsewhere: another working directory.
			sh := exec.Command("sh", "-c", cmd)
			sh.Dir = t.TempDir()
			if out, err := sh.CombinedOutput(); err != nil {
				t.Fatalf("the hint's %q failed: %v: %s\n(hint %q)", cmd, err, out, msg)
			}
			if got := uidOf(t, real); got != me {
				t.Fatalf("after %q the directory %s belongs to uid %d, want %d (hint %q)", cmd, real, got, me, msg)
			}
			if !tc.toMake {
				if got := uidOf(t, filepath.Join(real, "secret.key")); got != me {
					t.Fatalf("after %q its file belongs to uid %d, want %d (hint %q)", cmd, got, me, msg)
				}
			}
			var pe *fs.PathError
			if !errors.Is(err, fs.ErrPermission) || !errors.As(err, &pe) {
				t.Fatalf("%v is no longer the permission error it was", err)
			}
		})
	}
}

// TestR4NoHintWhenOwnersAreNotTheCause: a file symlinked out of the
// directory to another uid's file is a file elsewhere (chown -R of the
// directory would not touch it); EPERM is not what file modes deny (an
// immutable file, a read-only mount, root on another uid's file): a hint
// would name an owner that is not the cause.
func TestR4NoHintWhenOwnersAreNotTheCause(t *testing.T) {
	needRoot(t)
	const other = 65532
	base := t.TempDir()
	dir := filepath.Join(base, "data")
	elsewhere := filepath.Join(base, "elsewhere.key")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	theirDir := filepath.Join(base, "theirs")
	if err := os.Mkdir(theirDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(elsewhere, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{elsewhere, theirDir} {
		if err := os.Chown(p, other, other); err != nil {
			t.Fatal(err)
		}
	}
	link := filepath.Join(dir, "secret.key")
	if err := os.Symlink(elsewhere, link); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		dir  string
		err  error
	}{
		{"a file symlinked out of the directory", dir, &fs.PathError{Op: "open", Path: link, Err: syscall.EACCES}},
		{"EPERM on another uid's directory", theirDir,
			fmt.Errorf("x: %w", fmt.Errorf("y: %w", &fs.PathError{Op: "open", Path: filepath.Join(theirDir, "a"), Err: syscall.EPERM}))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ownerhint.Wrap(tc.err, serverDir(tc.dir))
			if got != tc.err {
				t.Fatalf("got %q, want the error unchanged", got)
			}
		})
	}
	// The control: EACCES, wrapped twice, on the same directory is hinted.
	err := fmt.Errorf("x: %w", fmt.Errorf("y: %w", &fs.PathError{Op: "open", Path: filepath.Join(theirDir, "a"), Err: syscall.EACCES}))
	if got := ownerhint.Wrap(err, serverDir(theirDir)); got == err {
		t.Fatalf("EACCES wrapped twice on another uid's directory: no hint")
	}
}
