//go:build unix

package ownerhint_test

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/postern/postern/internal/util/ownerhint"
)

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
	needRoot(t)
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
			base, _, text := dotDotTree(t, tc.link)
			key := giveAway(t, text, other)
			dataDir := filepath.Join(base, tc.link) + "/../data"
			if tc.relative {
				t.Chdir(base)
				dataDir = tc.link + "/../data"
			}
			in := &fs.PathError{Op: "open", Path: filepath.Join(dataDir, "secret.key"), Err: syscall.EACCES}
			msg := ownerhint.Wrap(fmt.Errorf("server: %w", in), serverDir(dataDir)).Error()
			if want := fmt.Sprintf("%s belongs to uid %d", key, other); !strings.Contains(msg, want) {
				t.Fatalf("hint %q; want it to say %q", msg, want)
			}
			pasteChown(t, msg, text, key)
		})
	}
}

// TestR117NoDotDotAsBefore: a directory named with no ".." gets the hint
// it got before QE's change (s17), byte for byte: absolute, relative, a
// trailing "/", "." and "//" in it, a symlinked directory, spaces and
// quotes. The expected text is built here from filepath.Abs, as the
// package did before; the test passes on 33e9098~1 too.
func TestR117NoDotDotAsBefore(t *testing.T) {
	needRoot(t)
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
			key := giveAway(t, dir, other)
			dataDir := strings.Replace(tc.dataDir, "@", base, 1)
			if tc.relative {
				t.Chdir(base)
			}
			in := &fs.PathError{Op: "open", Path: filepath.Join(dataDir, "secret.key"), Err: syscall.EACCES}
			got := ownerhint.Wrap(fmt.Errorf("server: %w", in), serverDir(dataDir)).Error()
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
	needRoot(t)
	const other = 65532
	t.Run("root", func(t *testing.T) {
		base, _, text := dotDotTree(t, "link")
		key := giveAway(t, text, other)
		dataDir := "/../.." + base + "/link/../../data"
		in := &fs.PathError{Op: "open", Path: dataDir + "/secret.key", Err: syscall.EACCES}
		msg := ownerhint.Wrap(in, serverDir(dataDir)).Error()
		if want := fmt.Sprintf("%s belongs to uid %d", key, other); !strings.Contains(msg, want) {
			t.Fatalf("hint %q; want it to say %q", msg, want)
		}
		pasteChown(t, msg, text, key)
	})
	t.Run("to-make", func(t *testing.T) {
		base, _, _ := dotDotTree(t, "link")
		parent := filepath.Join(base, "a") // the kernel's base/link/..
		if err := os.Chown(parent, other, other); err != nil {
			t.Fatal(err)
		}
		t.Chdir(filepath.Join(base, "link"))
		in := &fs.PathError{Op: "mkdir", Path: "../new", Err: syscall.EACCES}
		msg := ownerhint.Wrap(in, serverDir("../new/data")).Error()
		if want := fmt.Sprintf("%s belongs to uid %d", parent, other); !strings.Contains(msg, want) {
			t.Fatalf("hint %q; want it to say %q", msg, want)
		}
		if want := "install -d -o 0 -m 700 " + filepath.Join(parent, "new", "data"); !strings.Contains(msg, want) {
			t.Fatalf("hint %q; want it to say %q", msg, want)
		}
	})
}
