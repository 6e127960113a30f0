package webterm

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/coder/websocket"
)

// r5Events is more than the 256-event queue held before s14: a relay that
// stopped taking events would have left the page's reader blocked before
// the last.
const r5Events = 300

// r5Shell is a shell whose stdin fails: it notes the window-changes it
// gets, and closes last when it gets the size 7x7.
type r5Shell struct {
	mu     sync.Mutex
	writes int
	sizes  []string
	last   chan struct{}
	wrote  chan struct{} // closed at the first write, when not nil
}

func (f *r5Shell) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes++
	if f.writes == 1 && f.wrote != nil {
		close(f.wrote)
	}
	return 0, errors.New("ssh: channel closed")
}

func (f *r5Shell) windowChange(rows, cols int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sizes = append(f.sizes, fmt.Sprintf("%dx%d", cols, rows))
	if cols == 7 && rows == 7 {
		close(f.last)
	}
	return nil
}

// TestR5RelayAfterStdinFails: once stdin fails, relayEvents (what the
// shell runs) keeps taking the page's events, so that queue (the page's
// reader) is never held: keystrokes are dropped (neither written nor
// recorded), sizes still become window-changes and are recorded, in
// order (sizes not applied yet coalesce, the last is applied); the relay
// ends with the session.
func TestR5RelayAfterStdinFails(t *testing.T) {
	const id = "tnl-000000000000000f5"
	term, rec, s := recordedSession(t, id)
	s.startInput()
	f := &r5Shell{last: make(chan struct{}), wrote: make(chan struct{})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.relayEvents(f, f.windowChange, rec, rec)
	}()

	queued := make(chan struct{})
	var want []string
	go func() {
		defer close(queued)
		for i := range r5Events {
			c := 10 + i
			if i == r5Events-1 {
				c = 7
			}
			s.queue(termEvent{input: []byte("k")})
			s.queue(termEvent{cols: c, rows: c})
		}
	}()
	for i := range r5Events {
		c := 10 + i
		if i == r5Events-1 {
			c = 7
		}
		want = append(want, fmt.Sprintf("%dx%d", c, c))
	}
	qaWithin(t, queued, "return of queue for every event after stdin failed")
	qaWithin(t, f.last, "last size at the shell")
	// Sizes do not wait for keystrokes typed before them (s14): the last
	// size can be applied before the first keystroke's write begins, and
	// the session's end would then drop it (R1: 9 runs in 200 wrote 0).
	qaWithin(t, f.wrote, "write of the first keystroke")
	s.cancel()
	qaWithin(t, done, "end of the relay after the session's end")
	rec.finish()

	f.mu.Lock()
	defer f.mu.Unlock()
	if f.writes != 1 {
		t.Errorf("stdin written %d times, want 1 (keystrokes after its failure dropped)", f.writes)
	}
	if !r5InOrder(f.sizes, want) {
		t.Errorf("window-changes %q, want sizes of %q in order, ending with the last", f.sizes, want)
	}
	var inputs int
	var sizes []string
	for _, ev := range events(t, filepath.Join(term.dir, id+".cast")) {
		switch ev[1] {
		case "i":
			inputs++
		case "r":
			sizes = append(sizes, fmt.Sprint(ev[2]))
		}
	}
	if inputs != 1 {
		t.Errorf("%d keystrokes recorded, want 1 (the one written)", inputs)
	}
	if strings.Join(sizes, "|") != strings.Join(f.sizes, "|") {
		t.Errorf("recorded sizes %q, want the window-changes %q", sizes, f.sizes)
	}
}

// r5InOrder reports whether got is a subsequence of want that ends with
// want's last element.
func r5InOrder(got, want []string) bool {
	if len(got) == 0 || got[len(got)-1] != want[len(want)-1] {
		return false
	}
	i := 0
	for _, g := range got {
		for i < len(want) && want[i] != g {
			i++
		}
		if i == len(want) {
			return false
		}
		i++
	}
	return true
}

// TestR5PageLeavesAfterStdinFails: with stdin failed and more messages
// from the page than the queue holds, the page's reader still reads the
// WebSocket, so a page that leaves ends the session (and the relay).
func TestR5PageLeavesAfterStdinFails(t *testing.T) {
	ended := make(chan struct{})
	relayDone := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		s := &session{ws: ws, ctx: ctx, cancel: cancel}
		s.startInput()
		f := &r5Shell{last: make(chan struct{})}
		go func() {
			defer close(relayDone)
			s.relayEvents(f, f.windowChange, nil, nil)
		}()
		s.readBrowser()
		<-ctx.Done() // readBrowser ended the session
		close(ended)
	}))
	defer srv.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	for i := range r5Events {
		if err := c.Write(ctx, websocket.MessageBinary, []byte("k")); err != nil {
			t.Fatal(err)
		}
		if err := c.Write(ctx, websocket.MessageText, fmt.Appendf(nil, `{"type":"resize","cols":%d,"rows":24}`, 10+i)); err != nil {
			t.Fatal(err)
		}
	}
	// The page leaves: Close waits for the server's answer to its close
	// frame, which only a reading server gives.
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		_ = c.Close(websocket.StatusGoingAway, "")
	}()
	qaWithin(t, ended, "end of the session after the page left")
	qaWithin(t, relayDone, "end of the relay after the session's end")
	qaWithin(t, closed, "return of the page's close")
}
