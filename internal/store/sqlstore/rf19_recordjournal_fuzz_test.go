package sqlstore

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
)

// rf19FuzzJournal is the fuzz target's journal: an append of two records,
// a record whose body is body (what a client sent), a record; and their
// records and where each frame starts.
func rf19FuzzJournal(body []byte) (file []byte, evs []store.Event, starts []int) {
	evs = journalEvents("w")
	evs = append(evs[:2:2], store.Event{EventID: "w-carrier", EventTime: time.UnixMicro(1_780_000_002_000_000), Body: string(body)}, evs[2])
	for i := range evs {
		starts = append(starts, len(file))
		file = appendFrameOf(file, &evs[i], i == 0)
	}
	return file, evs, starts
}

// FuzzRF19ReplayKeepsOnlyWrittenRecords: whatever a record's body holds
// (what a client sent, here a frame that checks among other bytes), a
// journal damaged in one frame's length, or zeroed over a range, replays
// only records that were written, each as it was written: never a frame
// read from inside a record. The seeds lead the carrier's length, or
// zeros over its header, to the frame in its body.
func FuzzRF19ReplayKeepsOnlyWrittenRecords(f *testing.F) {
	forged := store.Event{EventID: "forged", EventName: "DeleteUser", Username: "root"}
	inner := appendFrame(nil, &forged)
	for pad := range 8 {
		body := []byte(strings.Repeat("p", pad) + string(inner) + "tail")
		file, _, starts := rf19FuzzJournal(body)
		at := bytes.Index(file, inner)
		f.Add(body, uint8(2), true, uint32(at-starts[2]-8), uint16(0), uint16(0))
		if (at-starts[2])%8 == 0 {
			f.Add(body, uint8(0), false, uint32(0), uint16(starts[2]), uint16(at-starts[2]))
		}
	}
	f.Fuzz(func(t *testing.T, body []byte, frame uint8, setLen bool, length uint32, zeroFrom, zeroLen uint16) {
		file, evs, starts := rf19FuzzJournal(body)
		if setLen {
			binary.BigEndian.PutUint32(file[starts[int(frame)%len(evs)]:], length)
		} else if from := int(zeroFrom); from < len(file) {
			clear(file[from:min(len(file), from+int(zeroLen))])
		}
		got, _ := replayJournal(file)
		for _, g := range got {
			ok := false
			for _, w := range evs {
				if g.EventID == w.EventID {
					ok = g.EventTime.Equal(w.EventTime) && reflect.DeepEqual(withoutTime(g), withoutTime(w))
				}
			}
			if !ok {
				t.Fatalf("replayed %+v, never written", g)
			}
		}
	})
}

func withoutTime(e store.Event) store.Event { e.EventTime = time.Time{}; return e }
