//go:build linux

package textpages

import (
	"bytes"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// advice is what Release asks of the kernel. MADV_DONTNEED removes the
// range's pages from this process's page tables. On a private file
// mapping, "subsequent accesses of pages in the range will succeed, but
// will result in ... repopulating the memory contents from the up-to-date
// contents of the underlying mapped file" (madvise(2); Kerrisk, The Linux
// Programming Interface, the solution of exercise 50-2,
// vmem/madvise_dontneed.c: "when MADV_DONTNEED is applied to a
// MAP_PRIVATE mapping, the pages (and thus any modifications to the pages)
// are discarded; when next accessed, the pages are reinitialized from the
// underlying file"). Only modifications are lost, and droppable leaves
// out every mapping holding one (an Anonymous page in smaps): code and
// read-only data come back as they were, from the page cache, which the
// call does not touch. It is what the kernel's own reclaim may do to these
// clean pages at any moment; the process only does it first.
//
// Not MADV_COLD: it only moves the pages to the inactive list; they stay
// mapped and counted (Rss and Pss do not move). Not MADV_PAGEOUT: it
// leaves alone pages another process maps (the same binary's server, a
// second client: Pss does not move either) and evicts from the page cache
// those only this process maps, so that they come back by reading the
// disk, for this process and the next one started from the file. Both
// measured on the idle client (tunnelbench's RESULTS.md, session 11):
// COLD left its PSS as it was, PAGEOUT took off a third of what
// DONTNEED does.
const advice = unix.MADV_DONTNEED

// Release drops this process's mappings of its executable's read-only
// pages (droppable: code, function tables, read-only data) and returns
// how much of them was resident before, in KiB (what the process runs
// next comes back at once, by a minor fault). Errors reading
// /proc/self/smaps or from madvise come back with what was released
// before them; nothing is released for a mapping it could not read.
func Release() (int64, error) {
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return 0, err
	}
	ms, err := parseSmaps(bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	pc, _, _, _ := runtime.Caller(0) // an address in the executable's code
	var kib int64
	for _, m := range droppable(ms, pc) {
		if m.rss == 0 {
			continue
		}
		// A raw call: x/sys's Madvise takes a []byte, which would need
		// an unsafe.Pointer made of a uintptr the runtime does not know.
		if _, _, e := unix.Syscall(unix.SYS_MADVISE, m.start, m.end-m.start, advice); e != 0 {
			return kib, os.NewSyscallError("madvise", e)
		}
		kib += m.rss
	}
	return kib, nil
}
