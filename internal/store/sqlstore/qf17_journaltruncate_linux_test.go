package sqlstore

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/postern/postern/internal/store"
)

// When the journal cannot be emptied (its truncate(0) fails: an
// append-only file, a file system error), the file must not grow with
// every record journalled after, until the disk is full: past
// maxJournalBytes the records commit in their callers (as without a
// journal) until the file can be emptied, and every record is committed
// once. Once the cut works again the file is emptied and the journal
// takes records again.
func TestQF17JournalBoundedWhenItCannotBeEmptied(t *testing.T) {
	for _, tc := range []struct {
		name string
		// breakCut makes the journal's truncate fail until the returned
		// function is called.
		breakCut func(t *testing.T, j *recordJournal) (mend func())
	}{
		{"truncate fails (injected)", qf17InjectCutFailure},
		{"the file is append-only (chattr +a, a real kernel refusal)", qf17AppendOnly},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			s, _ := openTemp(t, defaultSQLiteOptions())
			j := s.journal
			mend := tc.breakCut(t, j)

			body := `{"pad":"` + strings.Repeat("x", 16<<10) + `"}`
			event := func(i int) store.Event {
				return store.Event{EventID: fmt.Sprintf("qf17-%05d", i), EventTime: time.UnixMicro(int64(i) + 1),
					EventSource: "sts.amazonaws.com", EventName: "GetCallerIdentity", ReadOnly: true, Body: body}
			}
			ev0 := event(0)
			frame := int64(len(appendFrame(nil, &ev0)))
			// Bounded: 2.5 times maxJournalBytes through the journal, a
			// record at a time, each committed (drain) before the next:
			// the committer tries to empty the file after each.
			n := int(5 * maxJournalBytes / 2 / frame)
			var largest int64
			for i := range n {
				if err := s.AppendEventsUnsynced(ctx, []store.Event{event(i)}); err != nil {
					t.Fatal(err)
				}
				if err := j.drain(ctx); err != nil {
					t.Fatal(err)
				}
				fi, err := os.Stat(j.f.Name())
				if err != nil {
					t.Fatal(err)
				}
				largest = max(largest, fi.Size())
			}
			if bound := maxJournalBytes + 2*frame; largest > bound {
				t.Errorf("the journal, which cannot be emptied, grew to %d bytes after %d records, want at most %d (maxJournalBytes and a record)", largest, n, bound)
			}

			mend()
			j.mu.Lock()
			written := j.written
			j.mu.Unlock()
			if err := s.AppendEventsUnsynced(ctx, []store.Event{event(n)}); err != nil {
				t.Fatal(err)
			}
			j.mu.Lock()
			taken, size := j.written > written, j.size
			j.mu.Unlock()
			if !taken {
				t.Error("once it can be emptied, the journal does not take records again")
			}
			if size > 2*frame {
				t.Errorf("once it can be emptied, the journal holds %d bytes after a record, want at most %d", size, 2*frame)
			}
			count, distinct := committedEvents(t, s, "qf17-")
			if count != n+1 || distinct != count {
				t.Errorf("%d records committed (%d distinct), want %d", count, distinct, n+1)
			}
		})
	}
}

// qf17InjectCutFailure makes j's truncate fail until mended.
func qf17InjectCutFailure(_ *testing.T, j *recordJournal) func() {
	return injectCutFailure(j, errQB15Injected)
}

// qf17AppendFL is FS_APPEND_FL of linux/fs.h (x/sys/unix does not name it).
const qf17AppendFL = 0x00000020

// qf17AppendOnly sets the journal file's append-only attribute (what
// chattr +a does): the kernel takes O_APPEND writes and refuses
// ftruncate with EPERM. It needs CAP_LINUX_IMMUTABLE and a file system
// with the attribute (ext4, xfs, btrfs); the test is skipped without.
func qf17AppendOnly(t *testing.T, j *recordJournal) func() {
	fd := int(j.f.Fd())
	flags, err := unix.IoctlGetUint32(fd, unix.FS_IOC_GETFLAGS)
	if err != nil {
		t.Skipf("file attributes: %v", err)
	}
	set := func(f uint32) error { return unix.IoctlSetPointerInt(fd, unix.FS_IOC_SETFLAGS, int(f)) }
	if err := set(flags | qf17AppendFL); err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.EOPNOTSUPP) {
			t.Skipf("cannot make the journal append-only here: %v", err)
		}
		t.Fatal(err)
	}
	mended := false
	mend := func() {
		if mended {
			return
		}
		mended = true
		if err := set(flags); err != nil {
			t.Errorf("clearing the append-only attribute of %s: %v", j.f.Name(), err)
		}
	}
	t.Cleanup(mend) // before the Store's close and the directory's removal
	return mend
}
