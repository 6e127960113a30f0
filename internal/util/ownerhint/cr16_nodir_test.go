package ownerhint

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestCR16NoDirectoryNoHint: with no directory named, Wrap explains
// nothing, even for a file of another uid under the working directory
// (an empty path would otherwise be taken for it).
func TestCR16NoDirectoryNoHint(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a file to another uid")
	}
	dir := t.TempDir()
	t.Chdir(dir)
	f := filepath.Join(dir, "server.yaml")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(f, 65532, 65532); err != nil {
		t.Fatal(err)
	}
	err := &fs.PathError{Op: "open", Path: f, Err: syscall.EACCES}
	if got := Wrap(err, Dir{Noun: "data directory", Program: "server", Flag: "--data-dir"}); got != error(err) {
		t.Errorf("Wrap with no directory = %v, want the error as it was", got)
	}
}
