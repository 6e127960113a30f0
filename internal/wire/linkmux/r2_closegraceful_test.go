package linkmux

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"
)

// TestR2CloseAfterReadingEverythingIsGraceful guards the other side of
// TestR1CloseWithUnreadBytesResetsTheWriter: a stream closed once its
// reader took every byte the peer sent ends with a FIN, never a reset,
// whatever way the bytes were read (Read, Borrow and Consume, the direct
// reader of the agent's tunnels), after several windows' worth of bytes
// (window updates flowed meanwhile), and whether the peer had half-closed
// already (its FIN received and not yet read: the zero-length tail) or
// not; against this package's session and against upstream yamux. The
// peer sees the end as EOF (or, for this package's session that closed
// first, the stream closed, not reset). A reset there would tell the
// server that an agent that read everything lost the tunnel.
func TestR2CloseAfterReadingEverythingIsGraceful(t *testing.T) {
	const n = 3<<20 + 5 // three windows and a bit
	for _, peer := range []string{"ours", "upstream"} {
		for _, mode := range []string{"Read", "Borrow", "direct"} {
			for _, halfClosed := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%s/peer half-closed %v", peer, mode, halfClosed), func(t *testing.T) {
					testCloseAfterReadingEverything(t, peer, mode, halfClosed, n)
				})
			}
		}
	}
}

func testCloseAfterReadingEverything(t *testing.T, peer, mode string, halfClosed bool, n int) {
	a, b := tlsPair(t, nil)
	side := ours
	if peer == "upstream" {
		side = upstream
	}
	open, _ := side(t, a, true)
	srv, _ := Acceptor(b, Config{KeepAliveInterval: time.Hour})
	t.Cleanup(func() { srv.Close() })
	ps, err := open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, n)
	_, _ = rand.Read(payload)
	more := make(chan struct{})
	wrote := make(chan error, 1)
	go func() {
		// One byte opens the stream; the rest once this side reads in
		// its mode (a direct reader takes bytes only when none wait).
		if _, err := ps.Write(payload[:1]); err != nil {
			wrote <- err
			return
		}
		<-more
		_, err := ps.Write(payload[1:])
		if err == nil && halfClosed {
			err = ps.Close()
		}
		wrote <- err
	}()
	sa, err := srv.Accept()
	if err != nil {
		t.Fatal(err)
	}
	st := sa.(*Stream)
	got := make([]byte, 0, n)
	first := make([]byte, 1)
	if _, err := io.ReadFull(st, first); err != nil {
		t.Fatal(err)
	}
	got = append(got, first...)
	switch mode {
	case "Read":
		close(more)
		rest := make([]byte, n-1)
		if _, err := io.ReadFull(st, rest); err != nil {
			t.Fatal(err)
		}
		got = append(got, rest...)
	case "Borrow":
		close(more)
		for len(got) < n {
			p, err := st.Borrow(n - len(got))
			if err != nil {
				t.Fatalf("borrow after %d bytes: %v", len(got), err)
			}
			got = append(got, p...)
			if err := st.Consume(len(p)); err != nil {
				t.Fatal(err)
			}
		}
	case "direct":
		// The hook runs on the receive loop once a frame's bytes were
		// taken and consumed: the last one's says all are in.
		var mu sync.Mutex
		all := make(chan struct{})
		hook := func(s *Stream) {
			mu.Lock()
			done := s == st && len(got) == n
			mu.Unlock()
			if done {
				close(all)
			}
		}
		testHookData.Store(&hook)
		defer testHookData.Store(nil)
		st.SetDirect(func(p []byte) int {
			mu.Lock()
			got = append(got, p...)
			mu.Unlock()
			return len(p)
		})
		close(more)
		select {
		case <-all:
		case <-time.After(20 * time.Second):
			t.Fatal("the direct reader did not get every byte")
		}
		testHookData.Store(nil)
	}
	if !bytes.Equal(got, payload) {
		t.Fatalf("read %d bytes, not the %d sent", len(got), n)
	}
	if err := <-wrote; err != nil {
		t.Fatalf("the peer's write: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if peer == "ours" && halfClosed {
		// The peer closed first: it reads no more, so its stream's state
		// tells how the end came.
		s := ps.(*Stream)
		deadline := time.After(10 * time.Second)
		for {
			s.mu.Lock()
			state := s.state
			s.mu.Unlock()
			if state == stateClosed {
				return
			}
			if state == stateReset {
				t.Fatal("the stream was reset, though its reader took every byte before its close")
			}
			select {
			case <-s.recvNotify:
			case <-deadline:
				t.Fatalf("the peer's stream still in state %d 10 s after the close", state)
			}
		}
	}
	_ = ps.SetReadDeadline(time.Now().Add(10 * time.Second))
	if k, err := ps.Read(make([]byte, 1)); k != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("the peer read %d bytes, %v; want EOF (a FIN), not a reset", k, err)
	}
}
