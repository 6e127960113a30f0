package wsframe

import (
	"testing"
	"time"

	"github.com/postern/postern/internal/testutil/goroutines"
)

// LimitBy, set by another goroutine, ends by its deadline a Close that
// waits behind a data write held by a peer that stopped reading (the
// close frame of a tunnel whose end was decided before Terminate came),
// and is never moved later by a later LimitBy.
func TestR6LimitByEndsAWaitingClose(t *testing.T) {
	const bound = 10 * time.Second // far above the limit, far below WriteTimeout
	raw, _ := stuckPair(t)
	c := &countConn{Conn: raw}
	w := NewWriter(c, false)
	go func() {
		buf := make([]byte, MaxHeader+1<<20)
		for w.WriteData(buf, MaxHeader) == nil {
		}
	}()
	// The peer's window is full once the bytes written stop growing.
	// The peer's window is full once the bytes written stop growing (it
	// never reads: they never grow again).
	last, still := int64(-1), 0
	if !goroutines.Eventually(func() bool {
		n := c.n.Load()
		if n > 0 && n == last {
			still++
		} else {
			still = 0
		}
		last = n
		return still >= 5
	}) {
		t.Fatal("the peer's window never filled")
	}
	closed := make(chan error, 1)
	// The close frame waits behind the held data write.
	go func() { closed <- w.Close(CloseNormal, "") }()
	if !goroutines.Eventually(func() bool { return len(goroutines.Running(t, "wsframe.(*Writer).Close")) > 0 }) {
		t.Fatal("Close never started")
	}
	by := time.Now().Add(200 * time.Millisecond)
	w.LimitBy(by)
	w.LimitBy(by.Add(time.Hour))
	if got := w.Limit(); !got.Equal(by) {
		t.Errorf("Limit after a later LimitBy = %v, want %v", got, by)
	}
	select {
	case err := <-closed:
		if err == nil {
			t.Error("Close to a peer that never read reported success")
		}
	case <-time.After(bound):
		t.Fatalf("Close did not end within %v of its limit", bound)
	}
}

// A writer whose peer reads gets its close frame through a limit.
func TestR6LimitByKeepsAReadingPeersClose(t *testing.T) {
	c, far := stuckPair(t)
	w := NewWriter(c, false)
	w.LimitBy(time.Now().Add(10 * time.Second))
	if err := w.Close(CloseGoingAway, "bye"); err != nil {
		t.Fatal(err)
	}
	_ = far.SetReadDeadline(time.Now().Add(10 * time.Second))
	fr, err := NewReader(far, false).Next()
	if err != nil || fr.Kind != KindClose || fr.Code != CloseGoingAway || fr.Reason != "bye" {
		t.Fatalf("read %+v, %v; want close 1001 bye", fr, err)
	}
}
