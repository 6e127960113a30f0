package webterm

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// r2Sink is a stdin that keeps what it is written and says when it holds
// want bytes.
type r2Sink struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want int
	full chan struct{}
}

func (f *r2Sink) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.buf.Write(p)
	if f.buf.Len() == f.want {
		close(f.full)
	}
	return len(p), nil
}

// TestR215PasteSplitWithinCharacters: the page sends a paste in messages
// of at most 16 KiB cut at any byte (terminal.js MAX_INPUT), so a message
// may end within a character. stdin gets the paste unchanged, and the
// recording, a valid asciicast file, holds the paste's text whole: no
// U+FFFD where a message boundary cut a character. (Review of s15's
// split; it held before the review too.)
func TestR215PasteSplitWithinCharacters(t *testing.T) {
	const maxInput = 16 << 10 // terminal.js MAX_INPUT
	for _, tc := range []struct {
		name string
		char string
		lead string // shifts the message boundaries against the characters
	}{
		{"two-byte, cut after byte 1", "é", "x"},
		{"three-byte, cut after byte 1", "€", ""},
		{"three-byte, cut after byte 2", "€", "xx"},
		{"four-byte, cut after byte 1", "😀", "xxx"},
		{"four-byte, cut after byte 2", "😀", "xx"},
		{"four-byte, cut after byte 3", "😀", "x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			paste := []byte(tc.lead + strings.Repeat(tc.char, 3*maxInput/len(tc.char)))
			if utf8.RuneStart(paste[maxInput]) {
				t.Fatalf("the first boundary does not cut a character: the case tests nothing")
			}
			id := fmt.Sprintf("tnl-%020x", 0x2158)
			term, rec, s := recordedSession(t, id)
			s.startInput()
			f := &r2Sink{want: len(paste), full: make(chan struct{})}
			done := make(chan struct{})
			go func() {
				defer close(done)
				s.relayEvents(f, func(int, int) error { return nil }, rec, rec)
			}()
			for i := 0; i < len(paste); i += maxInput {
				s.queue(termEvent{input: bytes.Clone(paste[i:min(i+maxInput, len(paste))])})
			}
			qaWithin(t, f.full, "the whole paste at stdin")
			s.cancel()
			qaWithin(t, done, "end of the relay")
			rec.finish()

			f.mu.Lock()
			if !bytes.Equal(f.buf.Bytes(), paste) {
				t.Errorf("stdin got %d bytes, not the paste's %d", f.buf.Len(), len(paste))
			}
			f.mu.Unlock()
			path := filepath.Join(term.dir, id+".cast")
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !utf8.Valid(raw) {
				t.Errorf("the recording is not valid UTF-8")
			}
			var typed strings.Builder
			for _, ev := range events(t, path) {
				switch ev[1] {
				case "i":
					typed.WriteString(fmt.Sprint(ev[2]))
				case "m":
					t.Errorf("marker %q: every write returned", ev[2])
				}
			}
			if typed.String() != string(paste) {
				t.Errorf("the recording's input (%d bytes, %d U+FFFD) is not the paste (%d bytes)",
					typed.Len(), strings.Count(typed.String(), "\uFFFD"), len(paste))
			}
		})
	}
}
