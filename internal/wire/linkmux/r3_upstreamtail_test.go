package linkmux

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"
)

// TestR3UpstreamReaderGetsTheFrameSentBeforeACloseWithUnreadBytes (R2's
// finding): this side writes a last message (an agent's End frame) and
// then closes the stream while the peer's bytes are unread (a target
// that stopped reading: TestR1's case). An upstream yamux peer drops
// every byte it has not read yet once a reset arrives (hashicorp/yamux
// Stream.Read returns ErrConnectionReset before looking at its buffer),
// so when that close reset the stream (R1, 08a6294) it never saw the
// message: an older server on upstream yamux (docs/performance.md: "same
// protocol, so agents on either interoperate") lost a new agent's End
// (TargetReset, TargetError) and recorded the tunnel's end as a broken
// link. The close now drains instead: the upstream writer's whole write
// goes through, and its reader gets the message, then EOF.
//
// Against this package's session too: a current server's reader gets the
// message either way, but its writer (the tunnel's client reader in
// SendData) met the reset first and ended the tunnel as AgentLost before
// the End was read (R1's experiment, r3exp in the attic: a target reset
// during an upload was recorded AgentLost on 08a6294, TargetReset now).
func TestR3UpstreamReaderGetsTheFrameSentBeforeACloseWithUnreadBytes(t *testing.T) {
	for _, peer := range []string{"upstream", "ours"} {
		t.Run(peer, func(t *testing.T) { testFrameBeforeCloseWithUnread(t, peer) })
	}
}

func testFrameBeforeCloseWithUnread(t *testing.T, peer string) {
	a, b := tcpPair(t)
	side := upstream
	if peer == "ours" {
		side = ours
	}
	open, _ := side(t, a, true)
	srv, _ := Acceptor(b, Config{KeepAliveInterval: time.Hour})
	t.Cleanup(func() { srv.Close() })
	ps, err := open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	wrote := make(chan error, 1)
	go func() {
		_, err := ps.Write(make([]byte, 8<<20)) // more than the window: it waits
		wrote <- err
	}()
	sa, err := srv.Accept()
	if err != nil {
		t.Fatal(err)
	}
	st := sa.(*Stream)
	arrived := make(chan struct{}, 1)
	hook := func(*Stream) { notify(arrived) }
	testHookData.Store(&hook)
	defer testHookData.Store(nil)
	for { // until the window is used up
		st.mu.Lock()
		full := st.buffered == DefaultStreamWindow
		st.mu.Unlock()
		if full {
			break
		}
		select {
		case <-arrived:
		case <-time.After(10 * time.Second):
			t.Fatal("the window was not used up")
		}
	}
	if _, err := st.Write([]byte("END")); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	_ = ps.SetReadDeadline(time.Now().Add(10 * time.Second))
	got := make([]byte, 3)
	if _, err := io.ReadFull(ps, got); err != nil || string(got) != "END" {
		t.Fatalf("the peer read %q, %v; want the END this side wrote before its close", got, err)
	}
	if k, err := ps.Read(make([]byte, 1)); k != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("after END the peer read %d bytes, %v; want EOF", k, err)
	}
	select {
	case err := <-wrote:
		if err != nil {
			t.Fatalf("the peer's write: %v; want all of it through", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the peer's writer still waits 10 s after the close")
	}
}
