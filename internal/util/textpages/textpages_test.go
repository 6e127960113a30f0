package textpages

import (
	"slices"
	"strings"
	"testing"
)

// smapsOf makes /proc/PID/smaps text: each mapping's header line, then its
// Rss and Anonymous lines and a few of the others.
func smapsOf(headers ...string) string {
	var b strings.Builder
	for _, h := range headers {
		hdr, anon, _ := strings.Cut(h, "|")
		if anon == "" {
			anon = "0"
		}
		b.WriteString(hdr + "\nSize:                 64 kB\nKernelPageSize:        4 kB\nRss:                  12 kB\nPss:                   6 kB\n" +
			"Anonymous:            " + anon + " kB\nTHPeligible:           0\nVmFlags: rd ex mr mw me \n")
	}
	return b.String()
}

// droppable takes the executable's read-only, private mappings without
// written pages, found by the device and inode of the mapping holding the
// code's address; never its writable data, anonymous memory, a mapping of
// it holding a written page (a PIE's relocated data), another file's
// mappings, nor a shared or unreadable one.
func TestDroppable(t *testing.T) {
	const (
		text   = "00400000-00800000 r-xp 00000000 fe:00 1234                       /usr/bin/postern"
		rodata = "00800000-00a00000 r--p 00400000 fe:00 1234                       /usr/bin/postern"
		data   = "00a00000-00a10000 rw-p 00600000 fe:00 1234                       /usr/bin/postern"
		bss    = "00a10000-00a40000 rw-p 00000000 00:00 0 "
		relro  = "00a40000-00a42000 r--p 00640000 fe:00 1234                       /usr/bin/postern|8"
		guard  = "00a42000-00a43000 ---p 00642000 fe:00 1234                       /usr/bin/postern"
		shared = "00a43000-00a44000 r--s 00643000 fe:00 1234                       /usr/bin/postern"
		libc   = "7f0e249bf000-7f0e24b15000 r-xp 00026000 fe:00 326269            /usr/lib/x86_64-linux-gnu/libc.so.6"
		other  = "7f0e24b7b000-7f0e24b7c000 r--p 00000000 fe:01 1234              /other/device/same/inode"
		heap   = "c000000000-c004000000 rw-p 00000000 00:00 0 "
		// The executable replaced or renamed after start: the path
		// shows "(deleted)", or another file's name; the inode is the same.
		deleted = "00400000-00800000 r-xp 00000000 fe:00 1234                       /usr/bin/postern (deleted)"
		spaced  = "00800000-00a00000 r--p 00400000 fe:00 1234                       /opt/my tools/postern"
	)
	tests := []struct {
		name  string
		smaps string
		pc    uintptr
		want  []uintptr // the start addresses of the droppable mappings
	}{
		{"a static binary", smapsOf(text, rodata, data, bss, heap), 0x401000, []uintptr{0x400000, 0x800000}},
		{"written read-only data left", smapsOf(text, rodata, data, bss, relro, guard, shared, heap), 0x7fffff, []uintptr{0x400000, 0x800000}},
		{"other files left", smapsOf(text, rodata, data, libc, other, heap), 0x401000, []uintptr{0x400000, 0x800000}},
		{"the executable deleted, a path with a space", smapsOf(deleted, spaced, data), 0x401000, []uintptr{0x400000, 0x800000}},
		{"the code in a library: its mappings", smapsOf(text, rodata, libc), 0x7f0e24a00000, []uintptr{0x7f0e249bf000}},
		{"no mapping holds the code", smapsOf(text, rodata), 0x1000, nil},
		{"the code in anonymous memory", smapsOf(text, heap), 0xc000001000, nil},
		{"empty", "", 0x401000, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ms, err := parseSmaps(strings.NewReader(tc.smaps))
			if err != nil {
				t.Fatal(err)
			}
			var got []uintptr
			for _, m := range droppable(ms, tc.pc) {
				got = append(got, m.start)
				if m.rss != 12 {
					t.Errorf("mapping %#x: Rss %d KiB, want 12", m.start, m.rss)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("droppable = %#x, want %#x", got, tc.want)
			}
		})
	}
}

// parseSmaps refuses what it cannot read rather than guess at ranges.
func TestParseSmapsErrors(t *testing.T) {
	tests := []struct {
		name, in string
	}{
		{"a short header", "00400000-00800000 r-xp 00000000 fe:00\n"},
		{"no range", "00400000 r-xp 00000000 fe:00 1234 /x\n"},
		{"a bad address", "0040000g-00800000 r-xp 00000000 fe:00 1234 /x\n"},
		{"a bad inode", "00400000-00800000 r-xp 00000000 fe:00 x /x\n"},
		{"a bad Rss", "00400000-00800000 r-xp 00000000 fe:00 1234 /x\nRss: many kB\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if ms, err := parseSmaps(strings.NewReader(tc.in)); err == nil {
				t.Errorf("parseSmaps(%q) = %+v, want an error", tc.in, ms)
			}
		})
	}
}
