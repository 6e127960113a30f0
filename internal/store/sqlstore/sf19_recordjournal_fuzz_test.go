package sqlstore

import (
	"reflect"
	"testing"
)

// FuzzSF19ReplayJournal: the open's reader never panics, drops no more
// than the file holds, keeps at least the records the strict reader
// (parseJournal) keeps and, on a file that reads whole, exactly them; the
// records it keeps read back as they are written.
func FuzzSF19ReplayJournal(f *testing.F) {
	evs := journalEvents("fz")
	var file []byte
	for i := range evs {
		file = appendFrameOf(file, &evs[i], i == 0)
	}
	f.Add(file)
	f.Add(file[:len(file)-4])
	damaged := append([]byte(nil), file...)
	damaged[30] ^= 1
	f.Add(damaged)
	f.Add(append([]byte{0, 0, 0, 0, 0, 0, 0, 0}, file...))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		got, r := replayJournal(data)
		if r.droppedBytes < 0 || r.droppedBytes > len(data) || r.droppedFrames < 0 {
			t.Fatalf("dropped %+v of %d bytes", r, len(data))
		}
		strict, good := parseJournal(data)
		if len(got) < len(strict) || len(strict) > 0 && !reflect.DeepEqual(got[:len(strict)], strict) {
			t.Fatalf("kept %d records, not a continuation of the strict reader's %d", len(got), len(strict))
		}
		if good == len(data) && (len(got) != len(strict) || r.droppedBytes != 0 || r.middle) {
			t.Fatalf("a whole file: %d records (strict %d), %+v", len(got), len(strict), r)
		}
		var again []byte
		for i := range got {
			again = appendFrame(again, &got[i])
		}
		if back, n := parseJournal(again); n != len(again) || !reflect.DeepEqual(back, got) && len(got) > 0 {
			t.Fatalf("the %d records kept read back as %d", len(got), len(back))
		}
	})
}
