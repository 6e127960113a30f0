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

// r1Tree is base with link → a/b, so that base/link/../data is base/a/data
// to the kernel and base/data as text; both directories exist, this uid's.
func r1Tree(t *testing.T, linkName string) (base, reached, text string) {
	t.Helper()
	base = t.TempDir()
	reached, text = filepath.Join(base, "a", "data"), filepath.Join(base, "data")
	for _, d := range []string{filepath.Join(base, "a", "b"), reached, text} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(base, "a", "b"), filepath.Join(base, linkName)); err != nil {
		t.Fatal(err)
	}
	return base, reached, text
}

// r1Theirs gives dir and a 0600 secret.key in it to uid other.
func r1Theirs(t *testing.T, dir string, other int) string {
	t.Helper()
	key := filepath.Join(dir, "secret.key")
	if err := os.WriteFile(key, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, key} {
		if err := os.Chown(p, other, other); err != nil {
			t.Fatal(err)
		}
	}
	return key
}

// r1PasteChown runs the hint's chown -R in another directory and checks
// that it handed want (and the files in it) to this uid.
func r1PasteChown(t *testing.T, msg string, want ...string) {
	t.Helper()
	_, cmd, ok := strings.Cut(msg, "chown -R ")
	if !ok || !strings.HasSuffix(cmd, ")") {
		t.Fatalf("no chown -R … at the end of %q", msg)
	}
	cmd = "chown -R " + strings.TrimSuffix(cmd, ")")
	sh := exec.Command("sh", "-c", cmd)
	sh.Dir = t.TempDir()
	if out, err := sh.CombinedOutput(); err != nil {
		t.Fatalf("the hint's %q failed: %v: %s", cmd, err, out)
	}
	for _, p := range want {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if uid := int(fi.Sys().(*syscall.Stat_t).Uid); uid != os.Geteuid() {
			t.Fatalf("after %q, %s belongs to uid %d; want %d", cmd, p, uid, os.Geteuid())
		}
	}
}

// TestR117FileJoinedAsTheProgramsDo: the server and the agent name their
// files filepath.Join(dir, name) (server.go: the key, the database, the
// config; agent identity.go, lock.go), which cleans a ".." as text: with
// --data-dir base/link/../data the server makes (MkdirAll) base/a/data but
// opens base/data/secret.key. A permission error on that file is one on
// the directory the text names, and the hint must still come and name it
// (before QE's change it did; after it, the file was "elsewhere" than the
// resolved directory and the hint was gone). The same for a path with
// spaces and a quote, and a relative one.
func TestR117FileJoinedAsTheProgramsDo(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a file to another uid")
	}
	const other = 65532
	for _, tc := range []struct {
		name, link string
		relative   bool
	}{
		{"absolute", "link", false},
		{"spaces and a quote", "it's a link", false},
		{"relative, from the base", "link", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base, _, text := r1Tree(t, tc.link)
			key := r1Theirs(t, text, other)
			dataDir := filepath.Join(base, tc.link) + "/../data"
			if tc.relative {
				t.Chdir(base)
				dataDir = tc.link + "/../data"
			}
			in := &fs.PathError{Op: "open", Path: filepath.Join(dataDir, "secret.key"), Err: syscall.EACCES}
			msg := ownerhint.Wrap(fmt.Errorf("server: %w", in), ownerhint.Dir{Path: dataDir, Noun: "data directory", Program: "server", Flag: "--data-dir"}).Error()
			if want := fmt.Sprintf("%s belongs to uid %d", key, other); !strings.Contains(msg, want) {
				t.Fatalf("hint %q; want it to say %q", msg, want)
			}
			r1PasteChown(t, msg, text, key)
		})
	}
}

// TestR117NoDotDotAsBefore: a directory named with no ".." gets the hint
// it got before QE's change (s17), byte for byte: absolute, relative, a
// trailing "/", "." and "//" in it, a symlinked directory, spaces and
// quotes. The expected text is built here from filepath.Abs, as the
// package did before; the test passes on 33e9098~1 too.
func TestR117NoDotDotAsBefore(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a file to another uid")
	}
	const other = 65532
	me := os.Geteuid()
	for _, tc := range []struct {
		name, sub, dataDir string // dataDir relative to base; "@" is base itself
		relative           bool
	}{
		{"absolute", "data", "@/data", false},
		{"trailing slash", "data", "@/data/", false},
		{"dot and double slash", "data", "@/./data//", false},
		{"spaces and quotes", `it's "the" data`, `@/it's "the" data`, false},
		{"relative", "data", "data", true},
		{"relative with a dot", "data", "./data", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			dir := filepath.Join(base, tc.sub)
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			key := r1Theirs(t, dir, other)
			dataDir := strings.Replace(tc.dataDir, "@", base, 1)
			if tc.relative {
				t.Chdir(base)
			}
			in := &fs.PathError{Op: "open", Path: filepath.Join(dataDir, "secret.key"), Err: syscall.EACCES}
			got := ownerhint.Wrap(fmt.Errorf("server: %w", in), ownerhint.Dir{Path: dataDir, Noun: "data directory", Program: "server", Flag: "--data-dir"}).Error()
			abs, err := filepath.Abs(dataDir)
			if err != nil {
				t.Fatal(err)
			}
			arg := abs // quoted as a POSIX shell word, as before
			const safe = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+=:@,%"
			if strings.Trim(arg, safe) != "" {
				arg = "'" + strings.ReplaceAll(arg, "'", `'\''`) + "'"
			}
			want := fmt.Sprintf("server: %v (%s belongs to uid %d and this server runs as uid %d: a data directory stays with the user "+
				"that wrote it first; run the server as uid %d, or give the directory and its files to uid %d: chown -R %d %s)",
				in, key, other, me, other, me, me, arg)
			if got != want {
				t.Fatalf("hint\n%q\nwant (as before)\n%q", got, want)
			}
		})
	}
}

// TestR117DotDotCases: the cases QE's change is for, and its edges. "..
// at the root" is the root; a directory still to be made below a ".."
// after a symlinked working directory is made in the link's target's
// parent (another uid's), and the hint says so (os.MkdirAll's error names
// "../new", the part it failed on).
func TestR117DotDotCases(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a file to another uid")
	}
	const other = 65532
	t.Run("root", func(t *testing.T) {
		base, _, text := r1Tree(t, "link")
		key := r1Theirs(t, text, other)
		dataDir := "/../.." + base + "/link/../../data"
		in := &fs.PathError{Op: "open", Path: dataDir + "/secret.key", Err: syscall.EACCES}
		msg := ownerhint.Wrap(in, ownerhint.Dir{Path: dataDir, Noun: "data directory", Program: "server", Flag: "--data-dir"}).Error()
		if want := fmt.Sprintf("%s belongs to uid %d", key, other); !strings.Contains(msg, want) {
			t.Fatalf("hint %q; want it to say %q", msg, want)
		}
		r1PasteChown(t, msg, text, key)
	})
	t.Run("to-make", func(t *testing.T) {
		base, _, _ := r1Tree(t, "link")
		parent := filepath.Join(base, "a") // the kernel's base/link/..
		if err := os.Chown(parent, other, other); err != nil {
			t.Fatal(err)
		}
		t.Chdir(filepath.Join(base, "link"))
		in := &fs.PathError{Op: "mkdir", Path: "../new", Err: syscall.EACCES}
		msg := ownerhint.Wrap(in, ownerhint.Dir{Path: "../new/data", Noun: "data directory", Program: "server", Flag: "--data-dir"}).Error()
		if want := fmt.Sprintf("%s belongs to uid %d", parent, other); !strings.Contains(msg, want) {
			t.Fatalf("hint %q; want it to say %q", msg, want)
		}
		if want := "install -d -o 0 -m 700 " + filepath.Join(parent, "new", "data"); !strings.Contains(msg, want) {
			t.Fatalf("hint %q; want it to say %q", msg, want)
		}
	})
}
