package webterm

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/server/config"
)

// A recording whose final sync fails may miss part of the session on the
// disk (on Linux the pages the kernel failed to write are marked clean,
// and no later sync writes them): its metadata must say so — truncated,
// with the reason — instead of listing it as a whole session. Likewise a
// recording whose write failed. One whose sync succeeds is not flagged.
func TestSD18RecordingSyncFailureMarksItIncomplete(t *testing.T) {
	errDisk := errors.New("input/output error (injected)")
	tests := []struct {
		name       string
		sync       func(*os.File) error
		write      bool // break the file before the output (its write fails)
		want       bool
		wantReason string
	}{
		{"the sync succeeds", nil, false, false, ""},
		{"the sync fails (the pages synced, the error reported, as the kernel does)", func(f *os.File) error {
			if err := f.Sync(); err != nil {
				return err
			}
			return errDisk
		}, false, true, "sync"},
		{"a write fails", nil, true, true, "write"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			term := newTestTerminal(t, config.Console{})
			id := fmt.Sprintf("tnl-%017x", 0x5d18+i)
			rec, err := term.startRecording(recordingMeta{TunnelID: id, Start: time.Now()}, 80, 24)
			if err != nil {
				t.Fatal(err)
			}
			rec.output([]byte("before\r\n"))
			rec.mu.Lock()
			rec.syncFile = tt.sync
			if tt.write {
				// A descriptor that cannot write: the next write fails.
				ro, err := os.Open(rec.path)
				if err != nil {
					rec.mu.Unlock()
					t.Fatal(err)
				}
				rec.f.Close()
				rec.f = ro
			}
			rec.mu.Unlock()
			rec.output([]byte("after\r\n"))
			rec.finish()
			m, err := term.readMeta(id)
			if err != nil {
				t.Fatal(err)
			}
			if m.End.IsZero() {
				t.Fatalf("metadata %+v: no end", m)
			}
			if m.Truncated != tt.want || !strings.Contains(m.Incomplete, tt.wantReason) || (tt.wantReason == "") != (m.Incomplete == "") {
				t.Errorf("metadata: truncated %v, incomplete %q; want truncated %v with a reason mentioning %q: "+
					"the list would show a recording whose end may not be on the disk as a whole session", m.Truncated, m.Incomplete, tt.want, tt.wantReason)
			}
		})
	}
}
