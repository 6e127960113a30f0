package webterm

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// qh15Stdin is the shell's stdin: it keeps what is written, and can make
// its writes wait (until release is closed) or fail from a given write on.
type qh15Stdin struct {
	mu      sync.Mutex
	got     bytes.Buffer
	writes  int
	failAt  int           // the write (1-based) that fails, and all after it; 0: none
	release chan struct{} // when not nil, each write waits for it
	entered chan struct{} // closed when the first write starts
	wrote   chan struct{} // cap 1: a write returned
	once    sync.Once
}

func (f *qh15Stdin) Write(p []byte) (int, error) {
	f.once.Do(func() { close(f.entered) })
	if f.release != nil {
		<-f.release
	}
	defer signal(f.wrote)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes++
	if f.failAt > 0 && f.writes >= f.failAt {
		return 0, errors.New("qh15: stdin failed")
	}
	f.got.Write(p)
	return len(p), nil
}

// waitBytes waits until stdin got n bytes, failing the test after 30 s.
func (f *qh15Stdin) waitBytes(t *testing.T, n int) {
	t.Helper()
	timer := time.NewTimer(30 * time.Second)
	defer timer.Stop()
	for len(f.bytes()) < n {
		select {
		case <-f.wrote:
		case <-timer.C:
			t.Fatalf("stdin got %d bytes in 30 s, want %d", len(f.bytes()), n)
		}
	}
}

func (f *qh15Stdin) bytes() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return bytes.Clone(f.got.Bytes())
}

// qh15Acks collects the input-taken messages sendAcks sends.
type qh15Acks struct {
	mu  sync.Mutex
	all []int64
	ch  chan int64
}

func (a *qh15Acks) send(v any) bool {
	m, ok := v.(inputTakenMessage)
	if !ok || m.Type != "input-taken" {
		panic("sendAcks sent something else")
	}
	a.mu.Lock()
	a.all = append(a.all, m.Bytes)
	a.mu.Unlock()
	a.ch <- m.Bytes
	return true
}

// waitFor reads acknowledgements until one is more than min, failing the
// test after 30 s; it returns that one.
func (a *qh15Acks) waitFor(t *testing.T, min int64, what string) int64 {
	t.Helper()
	timer := time.NewTimer(30 * time.Second)
	defer timer.Stop()
	for {
		select {
		case n := <-a.ch:
			if n > min {
				return n
			}
		case <-timer.C:
			a.mu.Lock()
			defer a.mu.Unlock()
			t.Fatalf("%s: no input-taken over %d in 30 s; got %v", what, min, a.all)
			return 0
		}
	}
}

// TestQH15InputTakenAcks: the server tells a page that asked for flow
// control how many bytes of keystrokes it has taken, counting those
// written to stdin and those dropped, at most once per ackEvery bytes
// (coalesced: typing causes no extra messages), so that a page that keeps
// at most 512 KiB un-acknowledged pastes many MiB without a byte dropped.
func TestQH15InputTakenAcks(t *testing.T) {
	const window = 512 << 10 // the page's (terminal.js)
	for _, tc := range []struct {
		name      string
		msg       int    // bytes per page message
		total     int    // bytes the page sends
		pageWaits bool   // the page keeps at most window bytes un-acknowledged
		stdin     string // "reads", "blocks" (until the page sent all), "fails" (from the 3rd write)
	}{
		{"a 4 MiB paste, the page waits for acks", 16 << 10, 4 << 20, true, "reads"},
		{"typing below one ack", 10, 60 << 10, true, "reads"},
		{"typing slowly, 200 KiB", 100, 200 << 10, true, "reads"},
		{"a page ignoring acks, stdin blocked: dropped bytes count", 16 << 10, 2 << 20, false, "blocks"},
		{"stdin fails: written and dropped bytes count", 16 << 10, 1 << 20, true, "fails"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s := &session{ctx: ctx, cancel: cancel}
			s.startInput()
			f := &qh15Stdin{entered: make(chan struct{}), wrote: make(chan struct{}, 1)}
			switch tc.stdin {
			case "blocks":
				f.release = make(chan struct{})
			case "fails":
				f.failAt = 3
			}
			acks := &qh15Acks{ch: make(chan int64, 1<<16)}
			ackDone, relayDone := make(chan struct{}), make(chan struct{})
			go func() { defer close(ackDone); s.sendAcks(acks.send) }()
			go func() {
				defer close(relayDone)
				s.relayEvents(f, func(int, int) error { return nil }, nil, nil)
			}()

			sent := make([]byte, 0, tc.total)
			var acked int64
			told := false
			for len(sent) < tc.total {
				b := bytes.Repeat([]byte{byte('a' + len(sent)/tc.msg%26)}, min(tc.msg, tc.total-len(sent)))
				for tc.pageWaits && int64(len(sent)+len(b))-acked > window {
					acked = acks.waitFor(t, acked, "the page waits for room")
				}
				if s.queue(termEvent{input: b}) {
					told = true
				}
				sent = append(sent, b...)
				if tc.msg < 16<<10 {
					// A person types: the previous keystroke is taken
					// before the next one.
					f.waitBytes(t, len(sent))
				}
			}
			if tc.pageWaits && tc.stdin == "reads" && told {
				t.Errorf("the server dropped keystrokes from a page that waits for its acks")
			}
			total := int64(len(sent))

			if tc.stdin == "blocks" {
				<-f.entered
				s.in.mu.Lock()
				waiting := 0
				for _, k := range s.in.keys {
					waiting += len(k.b)
				}
				s.in.mu.Unlock()
				dropped := total - int64(tc.msg) - int64(waiting) // one message is in the blocked write
				if !told || dropped <= 0 {
					t.Fatalf("the backlog did not overflow (told %v, dropped %d)", told, dropped)
				}
				// The dropped bytes are taken: acknowledged while stdin is
				// still blocked.
				if got := acks.waitFor(t, dropped-ackEvery, "dropped bytes"); got > dropped {
					t.Errorf("acknowledged %d bytes with stdin blocked, only %d were dropped", got, dropped)
				}
				close(f.release)
			}
			if total >= ackEvery && acked <= total-ackEvery {
				if got := acks.waitFor(t, max(acked, total-ackEvery), "all taken"); got > total {
					t.Errorf("acknowledged %d bytes, the page sent %d", got, total)
				}
			}
			if tc.stdin == "reads" {
				// An acknowledgement may come before the last messages
				// are written (it counts ackEvery bytes at a time).
				f.waitBytes(t, len(sent))
			}
			cancel()
			qaWithin(t, relayDone, "end of the relay")
			qaWithin(t, ackDone, "end of sendAcks")

			acks.mu.Lock()
			all := acks.all
			acks.mu.Unlock()
			if len(all) > int(total/ackEvery) {
				t.Errorf("%d input-taken messages for %d bytes, want at most one per %d: %v", len(all), total, ackEvery, all)
			}
			for i := range all {
				prev := int64(0)
				if i > 0 {
					prev = all[i-1]
				}
				if all[i]-prev < ackEvery {
					t.Errorf("input-taken %d after %d: less than %d bytes apart (not coalesced): %v", all[i], prev, ackEvery, all)
				}
			}
			got := f.bytes()
			switch tc.stdin {
			case "reads":
				if !bytes.Equal(got, sent) {
					t.Errorf("stdin got %d bytes, want the %d sent, in order", len(got), len(sent))
				}
			default:
				if !bytes.HasPrefix(sent, got) {
					t.Errorf("stdin got %d bytes that are not a prefix of what was sent", len(got))
				}
			}
		})
	}
}
