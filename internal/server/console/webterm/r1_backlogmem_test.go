package webterm

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unsafe"

	"github.com/coder/websocket"

	"github.com/postern/postern/internal/server/config"
)

// r1Held is the memory the backlog holds now: each message's buffer and
// the backlog's slots.
func (in *termInput) r1Held() (held, messages int, dropping bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, k := range in.keys {
		held += cap(k.b)
	}
	held += cap(in.keys) * int(unsafe.Sizeof(pendingKeys{}))
	return held, len(in.keys), in.dropping
}

// TestR1BacklogMemoryBound: the keystroke backlog's bound holds in memory,
// not only in the bytes typed, against a hostile page that sends its
// keystrokes one byte per message while the shell takes none (stdin
// blocked; here nothing writes the backlog out). The messages come over a
// real WebSocket and are read by readBrowser, so each one is the buffer
// websocket.Conn.Read returns (io.ReadAll's: 512 bytes for one byte). Before
// the fix the backlog counted len, so a page could make one session hold
// about 550 MiB (1 MiB of one-byte messages) with 7 MiB of frames.
func TestR1BacklogMemoryBound(t *testing.T) {
	for _, tc := range []struct {
		name  string
		msg   []byte
		batch int // messages between two resizes (the test's sync points)
	}{
		{"one byte per message", []byte("k"), 512},
		{"16 KiB per message", []byte(strings.Repeat("k", 16<<10)), 8},
		{"max-size messages", []byte(strings.Repeat("k", maxMessage)), 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			term := newTestTerminal(t, config.Console{})
			handled := make(chan struct{})
			SetQATestHook(t, term, func(point string) {
				if point == "handled resize" {
					handled <- struct{}{} // the reader waits until the test took it
				}
			})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			sessc := make(chan *session, 1)
			read := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ws, err := websocket.Accept(w, r, nil)
				if err != nil {
					return
				}
				ws.SetReadLimit(maxMessage)
				sctx, scancel := context.WithCancel(ctx)
				s := &session{t: term, ws: ws, ctx: sctx, cancel: scancel}
				s.startInput() // the shell runs; its stdin takes nothing
				sessc <- s
				s.readBrowser()
				close(read)
				_ = ws.CloseNow()
			}))
			defer srv.Close()
			ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer ws.CloseNow()
			s := <-sessc

			// The bound: maxPendingInput, and what the largest message may
			// add to it (it is taken when the backlog is not full).
			limit := maxPendingInput + 2*maxMessage
			const maxMessages = 64 << 10 // bounded: one-byte messages are dropped after about 14,500
			sent, resizes := 0, 0
			for sent < maxMessages {
				for range tc.batch {
					if err := ws.Write(ctx, websocket.MessageBinary, tc.msg); err != nil {
						t.Fatal(err)
					}
					sent++
				}
				// The reader handles the page's messages in order: once it
				// handled this resize, it queued every keystroke before it.
				resizes++
				if err := ws.Write(ctx, websocket.MessageText, []byte(`{"type":"resize","cols":80,"rows":`+[]string{"24", "25"}[resizes%2]+`}`)); err != nil {
					t.Fatal(err)
				}
				qaWithin(t, handled, "handling of the resize")
				held, n, dropping := s.in.r1Held()
				if held > limit {
					t.Fatalf("after %d messages of %d bytes the backlog holds %d KiB in %d messages, over its bound of %d KiB",
						sent, len(tc.msg), held>>10, n, limit>>10)
				}
				if dropping {
					t.Logf("dropping after %d messages; the backlog holds %d KiB in %d messages", sent, held>>10, n)
					break
				}
			}
			if _, _, dropping := s.in.r1Held(); !dropping {
				t.Fatalf("%d messages of %d bytes and the backlog is not full", sent, len(tc.msg))
			}
			_ = ws.Close(websocket.StatusNormalClosure, "")
			qaWithin(t, read, "end of the page's reader after the page left")
		})
	}
}
