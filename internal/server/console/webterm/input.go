package webterm

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"unsafe"
)

// The page's keystrokes and sizes on their way to the shell.
//
// The page's reader (readBrowser) never waits for the shell: it must keep
// reading the WebSocket, to notice a page that leaves and to take its
// resizes, whatever the shell does with its stdin. A shell that does not
// read its stdin fills the pty's buffer, then sshd's, then the SSH
// channel's window, and a stdin write then blocks (x/crypto/ssh waits for
// window; it does not fail). So keystrokes wait in a bounded backlog, which
// one goroutine writes to stdin one page message at a time, and sizes are
// applied by another goroutine as window-change requests, a separate SSH
// channel request that needs no window: a resize is applied at once, ahead
// of keystrokes still waiting for stdin, as a local terminal's resize
// overtakes the type-ahead the program has not read. Keystrokes the page
// sent after a resize are written only once it is applied (and recorded),
// so sshd and the recording see a resize before the keystrokes typed after
// it (keystrokes typed before a resize may be recorded on either side of
// it). Keystrokes are recorded as they are handed to stdin, before the
// write; a write that fails is marked in the recording after them, and so
// is one that has not returned when the recording finishes.
//
// Flow control: a page that asks for it (inputAcks in its open message)
// is told, every ackEvery bytes, how many bytes of keystrokes the server
// has taken so far (written to stdin or dropped), and keeps at most a
// window of them un-acknowledged, holding the rest of a large paste itself:
// so a paste of many MiB into a program that reads it all arrives whole,
// where the backlog alone would drop what does not fit. The backlog's bound
// stays, for a page that ignores the acknowledgements (hostile or old).

// maxPendingInput bounds the keystrokes the page sent that wait for stdin.
// The backlog also fills, for a moment, when the page sends faster than
// the tunnel carries (a few pastes in a row: one message is at most
// maxMessage), so it holds many messages; it stays full only when the
// remote program does not read (the SSH window, 2 MB with OpenSSH, is
// full). Before, a queue of 256 messages could hold 16 MiB.
//
// It bounds memory, not only the bytes typed (keyCost): a page may send one
// byte per message, and each message is a buffer of its own plus a slot.
const maxPendingInput = 1 << 20

// keyCost is what one message of keystrokes holds while it waits: its
// buffer and its slot in the backlog (twice, as the slice grows by
// doubling).
func keyCost(b []byte) int { return cap(b) + 2*int(unsafe.Sizeof(pendingKeys{})) }

// inputDroppedMessage tells the page that keystrokes were dropped because
// the remote program does not read its input. Sent once per episode: the
// next one comes after the backlog was handed to stdin.
type inputDroppedMessage struct {
	Type    string `json:"type"` // input-dropped
	Message string `json:"message"`
}

// ackEvery is how many more bytes of keystrokes the server takes before
// it tells the page again (inputTakenMessage): far less than the page's
// window (512 KiB), so a page that waits for it never stalls, and far more
// than typing sends, so typing causes no extra messages.
const ackEvery = 64 << 10

// inputTakenMessage tells a page that asked for it (openMessage.InputAcks)
// how many bytes of keystrokes the server has taken so far: written to
// stdin or dropped. The page counts what it sent; the difference is what
// is still on its way, which it bounds.
type inputTakenMessage struct {
	Type  string `json:"type"` // input-taken
	Bytes int64  `json:"bytes"`
}

// inputDropped is the notice the page shows.
var inputDropped = inputDroppedMessage{Type: "input-dropped",
	Message: "The instance is not reading input: keystrokes are dropped until it reads what was typed before."}

// termInput holds the page's keystrokes and sizes until they are applied.
// Its zero value is ready (the wake channels are made on first use).
type termInput struct {
	mu       sync.Mutex
	running  bool          // the shell runs: keystrokes are taken (startInput)
	failed   bool          // stdin failed: keystrokes are dropped, sizes still applied
	keys     []pendingKeys // keystrokes not yet written, in the page's order
	keyBytes int           // what keys holds (keyCost)
	dropping bool          // keystrokes are dropped until the backlog is handed to stdin (the page was told)
	size     [2]int        // cols, rows: the latest size the page sent, not yet applied
	sized    bool          // size is set and not yet applied
	sizes    uint64        // the number of sizes the page sent so far
	applied  uint64        // the number of the last size applied (by the pty request or a window-change)
	keyWake  chan struct{} // cap 1: keys or applied changed
	sizeWake chan struct{} // cap 1: a size to apply
	taken    int64         // bytes of keystrokes written to stdin or dropped so far
	acked    int64         // taken as last told to the page (sendAcks)
	ackWake  chan struct{} // cap 1: taken grew by ackEvery or more since acked
}

// pendingKeys is one message of keystrokes from the page.
type pendingKeys struct {
	b     []byte
	after uint64 // the number of the page's last size before them: they wait until it is applied
}

// wakes returns the wake channels, making them on first use; in.mu is held.
func (in *termInput) wakes() (keys, sizes chan struct{}) {
	if in.keyWake == nil {
		in.keyWake, in.sizeWake, in.ackWake = make(chan struct{}, 1), make(chan struct{}, 1), make(chan struct{}, 1)
	}
	return in.keyWake, in.sizeWake
}

// took counts n more bytes of keystrokes taken (written to stdin or
// dropped), waking sendAcks when the page is due to be told; in.mu is
// held and the wake channels are made.
func (in *termInput) took(n int) {
	in.taken += int64(n)
	if in.taken-in.acked >= ackEvery {
		signal(in.ackWake)
	}
}

// signal wakes the goroutine waiting on ch, if it does not already have a
// wake-up pending.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// queue takes ev from the page without waiting. Before the shell runs
// there is nothing to type into: keystrokes are dropped, and of the sizes
// only the latest is kept, for the pty (takeSize) or, if it comes after
// the pty's request, applied first (startInput). Keystrokes that do not
// fit the backlog are dropped, with those that follow, until the backlog
// is handed to stdin (no gap in what the shell gets); tell is true for the first dropped one of such an
// episode (the page is to be told).
func (s *session) queue(ev termEvent) (tell bool) {
	in := &s.in
	in.mu.Lock()
	defer in.mu.Unlock()
	keyWake, sizeWake := in.wakes()
	if ev.input == nil {
		in.sizes++
		in.size, in.sized = [2]int{ev.cols, ev.rows}, true
		if in.running {
			signal(sizeWake)
		}
		return false
	}
	if !in.running || in.failed || in.dropping {
		in.took(len(ev.input))
		return false
	}
	b := ev.input
	if cap(b) > 2*len(b) {
		// websocket.Conn.Read's buffer (io.ReadAll's) is 512 bytes at
		// least: a keystroke would hold 512.
		b = bytes.Clone(b)
	}
	if in.keyBytes+keyCost(b) > maxPendingInput {
		in.dropping = true
		in.took(len(b))
		return true
	}
	in.keys = append(in.keys, pendingKeys{b: b, after: in.sizes})
	in.keyBytes += keyCost(b)
	signal(keyWake)
	return false
}

// takeSize returns the latest size the page sent before the shell ran,
// if there is one not taken yet: the pty's request applies it.
func (s *session) takeSize() (cols, rows int, ok bool) {
	in := &s.in
	in.mu.Lock()
	defer in.mu.Unlock()
	if !in.sized {
		return 0, 0, false
	}
	in.sized, in.applied = false, in.sizes
	return in.size[0], in.size[1], true
}

// startInput lets the page's events through to the shell from now on; a
// size the page sent after the pty's request (and before now) is applied
// first.
func (s *session) startInput() {
	in := &s.in
	in.mu.Lock()
	defer in.mu.Unlock()
	_, sizeWake := in.wakes()
	in.running = true
	if in.sized {
		signal(sizeWake)
	}
}

// relayEvents applies the page's events until the session ends:
// keystrokes to stdin (and to recIn, the recording of input, when there is
// one), sizes as window-change requests (and to rec). A failed stdin write
// does not end it: x/crypto/ssh fails a channel write once the channel is
// closed (or the connection is gone), and the shell's end then comes
// through Wait, with its last output still buffered for the pumps; until
// then keystrokes are dropped (nothing takes them, so they are not
// recorded either) and sizes are still applied and recorded. A stdin write
// blocked by a remote that does not read is given up when the session's
// end closes the SSH connection.
func (s *session) relayEvents(stdin io.Writer, windowChange func(rows, cols int) error, rec, recIn *recorder) {
	sized := make(chan struct{})
	go func() {
		defer close(sized)
		s.applySizes(windowChange, rec)
	}()
	acks := make(chan struct{})
	if s.open.InputAcks {
		go func() {
			defer close(acks)
			s.sendAcks(s.sendJSON)
		}()
	} else {
		close(acks)
	}
	s.writeKeys(stdin, recIn)
	<-sized
	<-acks
}

// sendAcks tells the page, with send, how many bytes of keystrokes the
// server has taken, each time ackEvery more were, until the session ends.
// From its own goroutine: a page slow to read its messages holds up
// neither stdin nor the page's reader. Coalesced: one message carries the
// total, however many messages of keystrokes made it up.
func (s *session) sendAcks(send func(v any) bool) {
	in := &s.in
	for {
		in.mu.Lock()
		in.wakes()
		wake, n := in.ackWake, in.taken
		due := n-in.acked >= ackEvery
		if due {
			in.acked = n
		}
		in.mu.Unlock()
		if !due {
			select {
			case <-wake:
				continue
			case <-s.ctx.Done():
				return
			}
		}
		if !send(inputTakenMessage{Type: "input-taken", Bytes: n}) {
			return
		}
	}
}

// applySizes applies the latest size the page sent, at once, until the
// session ends; the keystrokes sent after it wait until it is applied and
// recorded.
func (s *session) applySizes(windowChange func(rows, cols int) error, rec *recorder) {
	in := &s.in
	for {
		in.mu.Lock()
		keyWake, sizeWake := in.wakes()
		size, n, ok := in.size, in.sizes, in.sized
		in.sized = false
		in.mu.Unlock()
		if !ok {
			select {
			case <-sizeWake:
				continue
			case <-s.ctx.Done():
				return
			}
		}
		if s.ctx.Err() != nil {
			return
		}
		if err := windowChange(size[1], size[0]); err == nil {
			rec.resize(size[0], size[1])
		}
		in.mu.Lock()
		in.applied = n
		in.mu.Unlock()
		signal(keyWake)
	}
}

// writeKeys writes the page's keystrokes to stdin, one message at a time
// in the page's order, each once the sizes sent before it are applied,
// until the session ends or stdin fails.
func (s *session) writeKeys(stdin io.Writer, recIn *recorder) {
	in := &s.in
	written := 0 // the bytes of the last write, not yet counted as taken
	for {
		in.mu.Lock()
		keyWake, _ := in.wakes()
		in.took(written)
		written = 0
		var next []byte
		ok := len(in.keys) > 0 && in.keys[0].after <= in.applied
		if ok {
			next = in.keys[0].b
			in.keys[0] = pendingKeys{}
			in.keys = in.keys[1:]
			in.keyBytes -= keyCost(next)
			if len(in.keys) == 0 {
				in.dropping = false // the backlog is handed to stdin: the page may type again
			}
		}
		in.mu.Unlock()
		if !ok {
			select {
			case <-keyWake:
				continue
			case <-s.ctx.Done():
				return
			}
		}
		if s.ctx.Err() != nil {
			return
		}
		// Recorded before it is written, so that nothing reaches the shell
		// unrecorded (a crash between the two loses no keystroke from the
		// recording); a write that fails is marked after it.
		recIn.input(next)
		n, err := stdin.Write(next)
		if err == nil {
			recIn.inputWritten()
			written = len(next)
		} else {
			recIn.inputFailed(n, len(next), err)
			in.mu.Lock()
			// What failed and what waited behind it are dropped: taken.
			in.took(len(next))
			for _, k := range in.keys {
				in.took(len(k.b))
			}
			in.failed, in.keys, in.keyBytes = true, nil, 0
			in.mu.Unlock()
			return
		}
	}
}

// inputFailed marks, in a recording of input, that the keystrokes recorded
// last did not all reach the shell: their stdin write failed after n of
// their bytes, and what the page sends after them is dropped, unrecorded.
// Without it a failed write would read as typed into the shell. A marker
// ("m"), not a rewrite, because the input was recorded before its write. A
// nil recorder records nothing; neither does a finished one (a write that
// fails because the session's end closed the connection comes after it:
// markInFlight marked it).
func (r *recorder) inputFailed(n, of int, err error) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.inFlight = 0
	if len(r.pendI) > 0 {
		// The end of an incomplete character, held back: it belongs to the
		// keystrokes the marker is about.
		r.writeEvent("i", string(r.pendI))
		r.pendI = nil
	}
	r.writeEvent("m", fmt.Sprintf("Postern: input not delivered: the instance's stdin failed (%v); %d of the last %d bytes of input recorded did not reach it, and input after them is dropped, not recorded", err, of-n, of))
}

// inputWritten notes that the stdin write of the keystrokes recorded last
// returned: they are no longer in flight.
func (r *recorder) inputWritten() {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.inFlight = 0
	r.mu.Unlock()
}

// markInFlight marks, as the recording finishes (r.mu held, the held-back
// input already written), keystrokes recorded whose stdin write has not
// returned: a page that leaves while the instance does not read ends the
// session with that write blocked, and it fails only once the SSH
// connection closes, after the recording is finished (session.go), so
// inputFailed would come too late and the keystrokes would read as typed
// into the shell.
func (r *recorder) markInFlight() {
	if r.inFlight == 0 {
		return
	}
	r.writeEvent("m", fmt.Sprintf("Postern: input may not have been delivered: the session ended while the last %d bytes of input recorded were still being written to the instance's stdin; some or all of them may not have reached it", r.inFlight))
	r.inFlight = 0
}
