package sqlstore

import (
	"bytes"
	"encoding/binary"
	"log/slog"
	"math/bits"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
)

// rf19Journal builds a journal of three lone frames: a record, a record
// whose body holds (after pad bytes of its own) the whole frame of a
// record that was never journalled (forged), and a record. It returns the
// file, where the second frame starts and where the forged frame's bytes
// start.
func rf19Journal(t *testing.T, forged *store.Event, pad, tail int) (file []byte, second, at int) {
	t.Helper()
	inner := appendFrame(nil, forged)
	evs := journalEvents("rf19")
	body := strings.Repeat("p", pad) + string(inner) + strings.Repeat("x", tail)
	carrier := store.Event{EventID: "rf19-carrier", EventTime: time.UnixMicro(1_780_000_001_000_000), EventSource: "ec2.amazonaws.com",
		EventName: "DescribeInstances", ReadOnly: true, Username: "mallory", Body: body}
	file = appendFrame(file, &evs[0])
	second = len(file)
	file = appendFrame(file, &carrier)
	file = appendFrame(file, &evs[2])
	at = second + bytes.Index(file[second:], inner)
	if at < second+8 {
		t.Fatalf("the forged frame's bytes are not inside the carrier's payload")
	}
	if _, _, _, st := readFrame(file[at:]); st != frameChecks {
		t.Fatalf("the forged bytes do not read as a frame that checks (state %d)", st)
	}
	return file, second, at
}

// TestRF19DamageDoesNotCommitAFrameInsideARecord: a frame that does not
// check is skipped by its length only when that length is its own (the
// payload's fields end exactly there). A length damaged by one bit, or a
// run of zeros over a frame's header (read as zero-length frames), leads
// into the middle of a record, where a text field (what a client sent)
// may hold the bytes of a whole frame that checks: its record, never
// journalled, must not be committed. The rest is dropped, as before SF19,
// and logged as an error. Real files, reopened by OpenSQLite.
func TestRF19DamageDoesNotCommitAFrameInsideARecord(t *testing.T) {
	evs := journalEvents("rf19")
	forged := store.Event{EventID: "rf19-forged", EventTime: time.UnixMicro(1_780_000_000_500_000), EventSource: "iam.amazonaws.com",
		EventName: "DeleteUser", Username: "root", ResourceType: "AWS::IAM::User", ResourceName: "alice"}

	// One flipped bit of the carrier's length leads to the forged frame:
	// the pads are chosen so that the true and the damaged lengths differ
	// in one bit.
	flipped := func(t *testing.T) []byte {
		for pad := range 64 {
			for tail := range 4096 {
				file, second, at := rf19Journal(t, &forged, pad, tail)
				n := binary.BigEndian.Uint32(file[second:])
				to := uint32(at - second - 8)
				if bits.OnesCount32(n^to) == 1 {
					binary.BigEndian.PutUint32(file[second:], to)
					return file
				}
			}
		}
		t.Fatal("no pads put the forged frame one bit away")
		return nil
	}
	// A run of zeros from the carrier's header to the forged frame (a
	// multiple of 8 bytes long: zero-length frames end exactly there).
	zeroed := func(t *testing.T) []byte {
		for pad := range 8 {
			file, second, at := rf19Journal(t, &forged, pad, 16)
			if (at-second)%8 == 0 {
				clear(file[second:at])
				return file
			}
		}
		t.Fatal("no pad puts the forged frame a multiple of 8 bytes on")
		return nil
	}
	for _, tc := range []struct {
		name    string
		journal func(t *testing.T) []byte
	}{
		{"a bit of the length flipped", flipped},
		{"zeros up to the frame inside", zeroed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, log, _ := sf19ReplayFile(t, tc.journal(t))
			for _, e := range got {
				if e.EventID == forged.EventID {
					t.Errorf("committed %+v: bytes inside a record's body, never journalled as a record", e)
				}
			}
			sameEvents(t, got, evs[:1])
			if errs := log.lines(t, "in the middle of the journal"); len(errs) != 1 {
				t.Errorf("error lines %v: want one", errs)
			}
		})
	}
}

// TestRF19ReplayTwiceAfterASkip: a journal whose middle frame is skipped
// (its payload damaged, its length right) is replayed by an open that
// then dies before it empties the file (the same bytes are put back, as
// a kill between the commit and the truncate leaves them), and replayed
// again: each record is committed once, as it was first, and a record
// the database already held is kept as it is.
func TestRF19ReplayTwiceAfterASkip(t *testing.T) {
	ctx := t.Context()
	evs := journalEvents("rf19-twice")
	var file []byte
	starts := make([]int, len(evs))
	for i := range evs {
		starts[i] = len(file)
		file = appendFrame(file, &evs[i])
	}
	file[starts[1]+10] ^= 0x20 // inside the second record's id: the length is right
	s0, path := openTemp(t, directOptions())
	held := evs[2]
	held.Body = `{"committed":"before"}`
	if err := s0.AppendEvents(ctx, []store.Event{held}); err != nil {
		t.Fatal(err)
	}
	if err := s0.Close(); err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		if err := os.WriteFile(path+recordJournalSuffix, file, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := OpenSQLite(ctx, path, slog.New(slog.NewJSONHandler(&sf19Log{}, nil)))
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.ListEvents(ctx, store.EventQuery{Limit: -1})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d", round)
		sameEvents(t, got, []store.Event{evs[0], held})
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRF19HostileFiles: files the writer never writes (all zeros, lengths
// near 4 GiB, zero lengths, a file larger than the tail search's bound)
// are read without a record, a panic or a search past maxReplayScan of
// CRC work (a search it cuts short counts as lost frames: logged as an
// error), and their reading allocates little (no records).
func TestRF19HostileFiles(t *testing.T) {
	big := make([]byte, 72<<20)
	// A frame that does not check at the start, then lengths of 1 MiB at
	// every fourth byte: the tail search's every fourth offset is a
	// 1 MiB CRC, so only its bound ends it.
	for i := 0; i+4 <= len(big); i += 4 {
		binary.BigEndian.PutUint32(big[i:], 1<<20)
	}
	for _, tc := range []struct {
		name   string
		data   []byte
		middle bool
	}{
		{"all zeros", make([]byte, 1<<20), false},
		{"lengths near 4 GiB", bytes.Repeat([]byte{0xff, 0xff, 0xff, 0xfe}, 1<<16), false},
		// Small lengths at most offsets: the search stops at its bound,
		// and the tail counts as hiding frames.
		{"zero lengths with checksums", bytes.Repeat([]byte{0, 0, 0, 0, 1, 2, 3, 4}, 1<<16), true},
		{"past the search's bound", big, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			evs, r := replayJournal(tc.data)
			runtime.ReadMemStats(&after)
			if len(evs) != 0 || r.droppedBytes != len(tc.data) || r.middle != tc.middle {
				t.Errorf("%d records, %+v; want none, all %d bytes dropped, middle %v", len(evs), r, len(tc.data), tc.middle)
			}
			if _, complete := framesIn(tc.data, 0, nil); complete == tc.middle {
				t.Errorf("the tail search complete %v", complete)
			}
			if a := after.TotalAlloc - before.TotalAlloc; a > 1<<20 {
				t.Errorf("reading %d bytes allocated %d bytes", len(tc.data), a)
			}
		})
	}
}
