// Package textpages takes out of a process the pages of its own
// executable it mapped once and does not run any more: the code, function
// tables and read-only data that start-up and a one-time task (the AWS
// SDK's look-up calls of a tunnel client) touched. The kernel maps a page
// of the executable into the process at its first touch and leaves it
// there for as long as the process lives, although the page is a clean
// copy of the file, shared with every process of the same file through
// the page cache: an idle client read 15–20 MiB of resident memory, of
// which 4–5 were its own (internal/bench/tunnelbench,
// BenchmarkConcurrentLocalPort).
//
// Release drops those mappings (madvise MADV_DONTNEED, Linux only). The
// pages stay in the page cache: what the process runs again later comes
// back by a minor page fault, without reading the disk. It is meant for
// the moments a process goes idle, not for a loop: each page run again
// costs a fault. It touches nothing the process wrote: writable mappings,
// anonymous memory, and read-only mappings of the executable that hold
// written pages (a position-independent build's relocated read-only data)
// are left as they are, and so are other files' mappings.
package textpages

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// mapping is one mapping of /proc/PID/smaps: its address range, its
// permissions ("r-xp"), the device and inode of its file (inode 0: not a
// file), and its resident and anonymous memory in KiB (Rss, Anonymous).
type mapping struct {
	start, end uintptr
	perms      string
	dev        string
	inode      uint64
	rss, anon  int64
}

// parseSmaps reads /proc/PID/smaps: each mapping's header line
// ("start-end perms offset dev inode [path]") and its Rss and Anonymous
// lines.
func parseSmaps(r io.Reader) ([]mapping, error) {
	var out []mapping
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20) // a path may be long
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if k, ok := strings.CutSuffix(f[0], ":"); ok { // a field of the current mapping
			if len(out) == 0 || len(f) < 2 {
				continue
			}
			var dst *int64
			switch k {
			case "Rss":
				dst = &out[len(out)-1].rss
			case "Anonymous":
				dst = &out[len(out)-1].anon
			default:
				continue
			}
			n, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("smaps: %q: %w", line, err)
			}
			*dst = n
			continue
		}
		if len(f) < 5 {
			return nil, fmt.Errorf("smaps: a mapping's line %q has %d fields, want 5 or more", line, len(f))
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		if !ok {
			return nil, fmt.Errorf("smaps: %q: no address range", line)
		}
		start, err := strconv.ParseUint(lo, 16, 64)
		if err != nil {
			return nil, fmt.Errorf("smaps: %q: %w", line, err)
		}
		end, err := strconv.ParseUint(hi, 16, 64)
		if err != nil {
			return nil, fmt.Errorf("smaps: %q: %w", line, err)
		}
		inode, err := strconv.ParseUint(f[4], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("smaps: %q: %w", line, err)
		}
		out = append(out, mapping{start: uintptr(start), end: uintptr(end), perms: f[1], dev: f[3], inode: inode})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("smaps: %w", err)
	}
	return out, nil
}

// droppable returns the mappings of ms Release may drop: those of the
// file that maps pc (an address of this package's code, so the
// executable's file, whatever its path now: renamed, deleted, replaced),
// readable, not writable, private, and without an anonymous page (a page
// of a private mapping the process wrote, or the dynamic loader did
// before making it read-only: dropping it would bring back the file's
// bytes in its place). Found by device and inode, not path: the path
// /proc shows may be one another file now has.
func droppable(ms []mapping, pc uintptr) []mapping {
	var dev string
	var inode uint64
	for _, m := range ms {
		if m.start <= pc && pc < m.end {
			dev, inode = m.dev, m.inode
			break
		}
	}
	if inode == 0 {
		return nil
	}
	var out []mapping
	for _, m := range ms {
		if m.dev != dev || m.inode != inode || len(m.perms) < 4 {
			continue
		}
		if m.perms[0] != 'r' || m.perms[1] != '-' || m.perms[3] != 'p' || m.anon != 0 {
			continue
		}
		out = append(out, m)
	}
	return out
}

// Resident returns the resident memory (Rss), in KiB, of the read-only
// mappings of this process's executable, found by path in
// /proc/self/smaps: not by device and inode as Release finds them, so
// that tests and measurements check Release a second way. It reads smaps
// into buf first, with bare system calls and without allocating (the less
// code a measurement runs, the fewer of the executable's pages it maps
// back right after a release), and fails if smaps does not fit in buf.
func Resident(buf []byte) (int64, error) {
	fd, err := syscall.Open("/proc/self/smaps", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("smaps: %w", err)
	}
	n := 0
	for n < len(buf) {
		m, err := syscall.Read(fd, buf[n:])
		if err != nil {
			syscall.Close(fd)
			return 0, fmt.Errorf("smaps: %w", err)
		}
		if m == 0 {
			break
		}
		n += m
	}
	syscall.Close(fd)
	if n == len(buf) {
		return 0, fmt.Errorf("smaps: longer than %d bytes", len(buf))
	}
	exe, err := os.Executable()
	if err == nil {
		exe, err = filepath.EvalSymlinks(exe)
	}
	if err != nil {
		return 0, fmt.Errorf("the executable's path: %w", err)
	}
	var kib int64
	in := false // in a mapping of exe's that is not writable
	for line := range strings.Lines(string(buf[:n])) {
		f := strings.Fields(line)
		switch {
		case len(f) >= 5 && !strings.HasSuffix(f[0], ":"):
			in = len(f) >= 6 && strings.Join(f[5:], " ") == exe && !strings.Contains(f[1], "w")
		case in && len(f) >= 2 && f[0] == "Rss:":
			v, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("smaps: %q: %w", line, err)
			}
			kib += v
		}
	}
	return kib, nil
}
