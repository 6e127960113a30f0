//go:build linux

package textpages

import (
	"bytes"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// smapsNow reads /proc/self/smaps into buf with bare system calls: the
// less code a reading runs, the fewer pages of the executable it maps
// again right after a release.
func smapsNow(t *testing.T, buf []byte) []byte {
	t.Helper()
	fd, err := syscall.Open("/proc/self/smaps", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	n := 0
	for n < len(buf) {
		m, err := syscall.Read(fd, buf[n:])
		if err != nil {
			t.Fatal(err)
		}
		if m == 0 {
			return buf[:n]
		}
		n += m
	}
	t.Fatalf("/proc/self/smaps is longer than %d bytes", len(buf))
	return nil
}

// exeResidentKiB sums the resident memory (Rss) of the read-only
// mappings of this process's executable in smaps, found by path (not as
// Release finds them).
func exeResidentKiB(t *testing.T, smaps []byte) int64 {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		t.Fatal(err)
	}
	ms, err := parseSmaps(bytes.NewReader(smaps))
	if err != nil {
		t.Fatal(err)
	}
	var kib int64
	i := -1
	for line := range strings.Lines(string(smaps)) {
		f := strings.Fields(line)
		if len(f) >= 5 && !strings.HasSuffix(f[0], ":") {
			i++
			if len(f) >= 6 && strings.Join(f[5:], " ") == exe && !strings.Contains(f[1], "w") {
				kib += ms[i].rss
			}
		}
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
	before := exeResidentKiB(t, smapsNow(t, buf))
	released, err := Release()
	after := exeResidentKiB(t, smapsNow(t, buf))
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
