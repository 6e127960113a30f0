//go:build linux

package textpages

import (
	"bytes"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// resident is the executable's resident memory, in KiB, in its
// read-only mappings (Resident: found by path, not as Release finds them;
// smaps read into buf).
func resident(t *testing.T, buf []byte) int64 {
	t.Helper()
	kib, err := Resident(buf)
	if err != nil {
		t.Fatal(err)
	}
	return kib
}

// What Release must not touch: written data (initialized and zeroed
// package variables), the heap.
var (
	initialized = [512]int64{1, 2, 3}
	zeroed      [512]int64
)

// TestRelease: Release takes the executable's pages out of the process's
// resident memory (at least a quarter of them: what runs on at once
// comes back, with the rest of its page-cache piece), and the process goes on as it was: its code runs, the values it
// wrote before are read back the same, and a second release works too.
func TestRelease(t *testing.T) {
	heap := bytes.Repeat([]byte("textpages"), 1<<17)
	sum := sha256.Sum256(heap)
	initialized[100], zeroed[200] = 41, 42

	buf := make([]byte, 1<<20)
	before := resident(t, buf)
	released, err := Release()
	after := resident(t, buf)
	t.Logf("the executable's resident pages: %d KiB before, %d after; Release says %d KiB", before, after, released)
	if err != nil {
		t.Fatalf("Release: %v", err)
	}
	if before < 256 {
		t.Fatalf("the executable has %d KiB resident before the release: is it found?", before)
	}
	if after > before*3/4 {
		t.Errorf("the executable's resident pages went from %d KiB to %d, want at most three quarters", before, after)
	}
	if released < before/2 {
		t.Errorf("Release says it released %d KiB of %d", released, before)
	}

	if got := sha256.Sum256(heap); got != sum || initialized[0] != 1 || initialized[2] != 3 || initialized[100] != 41 || zeroed[200] != 42 {
		t.Errorf("after the release: the heap's hash %x (was %x), initialized %v, zeroed[200] %d", got, sum, initialized[:3], zeroed[200])
	}
	if _, err := Release(); err != nil {
		t.Errorf("a second Release: %v", err)
	}
}

// The kernel behaviour Release relies on: MADV_DONTNEED on a private,
// read-only file mapping brings the file's bytes back at the next read
// (it does not zero the pages); on a page the process wrote, the write is
// lost (why droppable leaves out mappings holding written pages).
func TestDontneedOnPrivateFileMapping(t *testing.T) {
	page := os.Getpagesize()
	content := bytes.Repeat([]byte("code"), page/4*2)
	path := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mapped := func(prot int) []byte {
		b, err := unix.Mmap(int(f.Fd()), 0, len(content), prot, unix.MAP_PRIVATE)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = unix.Munmap(b) })
		return b
	}

	ro := mapped(unix.PROT_READ)
	if !bytes.Equal(ro, content) {
		t.Fatal("the mapping does not read as the file")
	}
	if err := unix.Madvise(ro, advice); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ro, content) {
		t.Errorf("a read-only private mapping reads %q… after MADV_DONTNEED, want the file's %q…", ro[:8], content[:8])
	}

	// Writable, although the file is open read-only: a private mapping's
	// writes never reach the file.
	rw := mapped(unix.PROT_READ | unix.PROT_WRITE)
	copy(rw, "written")
	if err := unix.Madvise(rw, advice); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(rw, content) {
		t.Errorf("a written private page reads %q… after MADV_DONTNEED, want the file's %q… (the write discarded)", rw[:8], content[:8])
	}
}

// Resident fails, rather than count part of the executable, when smaps
// does not fit in its buffer, and counts a resident executable otherwise.
func TestResident(t *testing.T) {
	if _, err := Resident(make([]byte, 64)); err == nil {
		t.Error("Resident with a 64-byte buffer: no error")
	}
	if kib, err := Resident(make([]byte, 1<<20)); err != nil || kib < 256 {
		t.Errorf("Resident: %d KiB, %v; want 256 or more, no error", kib, err)
	}
}
