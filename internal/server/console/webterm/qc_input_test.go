package webterm

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/internal/server/config"
)

// qcShell is a shell whose stdin blocks until the test lets it go: it
// notes each write as it starts and each window-change, in order.
type qcShell struct {
	ctx     context.Context
	mu      sync.Mutex
	got     []string
	writing chan string   // each write, as it starts
	release chan struct{} // closed: writes return
	sized   chan string   // each window-change
}

func newQCShell(ctx context.Context) *qcShell {
	return &qcShell{ctx: ctx, writing: make(chan string, 1024), release: make(chan struct{}), sized: make(chan string, 16)}
}

func (f *qcShell) note(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, s)
}

func (f *qcShell) Write(p []byte) (int, error) {
	f.note("type " + string(p))
	f.writing <- string(p)
	select {
	case <-f.release:
		return len(p), nil
	case <-f.ctx.Done(): // as closing the SSH connection fails a blocked write
		return 0, errors.New("ssh: channel closed")
	}
}

func (f *qcShell) windowChange(rows, cols int) error {
	s := fmt.Sprintf("%dx%d", cols, rows)
	f.note("size " + s)
	f.sized <- s
	return nil
}

// qcQueue is queue, failing the test when it does not return: the page's
// reader would stop reading the page's messages.
func qcQueue(t *testing.T, s *session, ev termEvent) (tell bool) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		tell = s.queue(ev)
	}()
	qaWithin(t, done, "return of queue while stdin is blocked")
	return tell
}

// qcRecv waits for a value on ch.
func qcRecv(t *testing.T, ch <-chan string, what string) string {
	t.Helper()
	timer := time.NewTimer(30 * time.Second)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		t.Fatalf("no %s in 30 s", what)
		return ""
	}
}

// TestQCResizeWhileStdinBlocked: while a stdin write is blocked (a remote
// that does not read), a resize is applied at once, ahead of the
// keystrokes still waiting, and the keystrokes sent after it are written
// only after it; the recording holds the events in the order the shell got
// them (the resize where it took effect).
func TestQCResizeWhileStdinBlocked(t *testing.T) {
	term := newTestTerminal(t, config.Console{RecordSessions: true, RecordInput: true})
	const id = "tnl-0000000000000000c1"
	rec, err := term.startRecording(recordingMeta{TunnelID: id, Start: time.Now()}, 80, 24)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// A viewer of the recording sees the resize recorded (R1).
	_, v, leave, err := rec.join()
	if err != nil {
		t.Fatal(err)
	}
	defer leave()
	s := &session{t: term, ctx: ctx, cancel: cancel}
	s.startInput()
	f := newQCShell(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.relayEvents(f, f.windowChange, rec, rec)
	}()

	qcQueue(t, s, termEvent{input: []byte("a")})
	qcRecv(t, f.writing, "write of a") // blocked from now on
	qcQueue(t, s, termEvent{input: []byte("b")})
	qcQueue(t, s, termEvent{cols: 100, rows: 33})
	qcQueue(t, s, termEvent{input: []byte("c")})
	if got := qcRecv(t, f.sized, "window-change while stdin is blocked"); got != "100x33" {
		t.Fatalf("window-change %s, want 100x33", got)
	}
	// b was typed before the resize: it waits for nothing, and once a's
	// write returns, its record could race the resize's, which comes
	// after the window-change returns (R1: 6 runs in 100 recorded
	// a|b|r|c). The rule is only that c is recorded after the resize; b's
	// place is made certain here by waiting for the resize's record.
	timer := time.NewTimer(30 * time.Second)
	defer timer.Stop()
	for recorded := false; !recorded; {
		select {
		case line, ok := <-v.ch:
			if !ok {
				t.Fatal("the recording ended before the resize was recorded")
			}
			v.got(line)
			recorded = strings.Contains(string(line), `"r","100x33"`)
		case <-timer.C:
			t.Fatal("the resize was not recorded in 30 s")
		}
	}
	close(f.release)
	qcRecv(t, f.writing, "write of b")
	qcRecv(t, f.writing, "write of c")
	cancel()
	qaWithin(t, done, "end of the relay after the session's end")
	rec.finish()

	want := []string{"type a", "size 100x33", "type b", "type c"}
	f.mu.Lock()
	got := strings.Join(f.got, "|")
	f.mu.Unlock()
	if got != strings.Join(want, "|") {
		t.Fatalf("the shell got %s, want %q", got, want)
	}
	var recorded []string
	for _, ev := range events(t, filepath.Join(term.dir, id+".cast")) {
		switch ev[1] {
		case "i":
			recorded = append(recorded, fmt.Sprint("type ", ev[2]))
		case "r":
			recorded = append(recorded, fmt.Sprint("size ", ev[2]))
		}
	}
	if strings.Join(recorded, "|") != strings.Join(want, "|") {
		t.Fatalf("recorded %q, want %q", recorded, want)
	}
}

// TestQCInputBacklog: while stdin is blocked the page's keystrokes wait in
// a backlog of maxPendingInput bytes; queue never waits; the first
// keystroke that does not fit is dropped and the page told, once; those
// after it are dropped too (no gap in what the shell gets) until the
// backlog is handed to stdin, after which keystrokes are taken again.
func TestQCInputBacklog(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := &session{ctx: ctx, cancel: cancel}
	s.startInput()
	f := newQCShell(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.relayEvents(f, f.windowChange, nil, nil)
	}()

	qcQueue(t, s, termEvent{input: []byte("first")})
	qcRecv(t, f.writing, "first write") // blocked from now on
	msg := []byte(strings.Repeat("k", 16<<10))
	fit := maxPendingInput / keyCost(msg) // what a message holds, with its slot
	for i := range fit {
		if qcQueue(t, s, termEvent{input: msg}) {
			t.Fatalf("keystrokes %d of %d dropped, within the backlog", i+1, fit)
		}
	}
	if !qcQueue(t, s, termEvent{input: msg}) {
		t.Fatal("keystrokes beyond the backlog: the page was not told")
	}
	for range 300 { // more than the 256 events the page's reader could queue before s14
		if qcQueue(t, s, termEvent{input: []byte("x")}) {
			t.Fatal("the page was told twice in one episode")
		}
	}
	close(f.release)
	for i := range fit {
		if got := qcRecv(t, f.writing, "write of the backlog"); got != string(msg) {
			t.Fatalf("write %d of the backlog: %.20q…, want the page's keystrokes in order", i+1, got)
		}
	}
	// Handed to stdin: the page may type again.
	if qcQueue(t, s, termEvent{input: []byte("again")}) {
		t.Fatal("keystrokes dropped after the backlog was written out")
	}
	if got := qcRecv(t, f.writing, "write after the backlog"); got != "again" {
		t.Fatalf("write %q, want \"again\" (a dropped keystroke was written)", got)
	}
	cancel()
	qaWithin(t, done, "end of the relay after the session's end")
}
