package linkmux

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestR3DrainingStreamLeavesAtTheCloseTimeout: a stream closed with the
// peer's bytes unread drains (drops and credits what the peer sends) only
// until the peer's FIN or the close timeout: a peer that never closes,
// writing or not, cannot keep it in the session's table. At the timeout
// the stream is reset, as any close the peer does not answer.
func TestR3DrainingStreamLeavesAtTheCloseTimeout(t *testing.T) {
	for _, writing := range []bool{false, true} {
		name := "idle peer"
		if writing {
			name = "peer still writing"
		}
		t.Run(name, func(t *testing.T) {
			a, b := tcpPair(t)
			cli, _ := Opener(a, Config{KeepAliveInterval: time.Hour})
			defer cli.Close()
			srv, _ := Acceptor(b, Config{KeepAliveInterval: time.Hour})
			defer srv.Close()
			srv.closeT = 200 * time.Millisecond
			s, err := cli.Open(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Write([]byte("unread")); err != nil {
				t.Fatal(err)
			}
			sr, err := srv.Accept()
			if err != nil {
				t.Fatal(err)
			}
			st := sr.(*Stream)
			// The bytes are in once a ping sent after them was answered
			// (the frame that opened the stream carried them).
			if _, err := cli.Ping(); err != nil {
				t.Fatal(err)
			}
			st.mu.Lock()
			in := st.buffered
			st.mu.Unlock()
			if in != len("unread") {
				t.Fatalf("%d bytes buffered, want %d", in, len("unread"))
			}
			wrote := make(chan error, 1)
			if writing {
				go func() {
					var err error
					buf := make([]byte, 64<<10)
					// Until the timeout's reset: 1 GiB at most (the
					// timeout comes after tens of MiB on loopback).
					for i := 0; i < 16<<10 && err == nil; i++ {
						_, err = s.Write(buf)
					}
					wrote <- err
				}()
			}
			if err := sr.Close(); err != nil {
				t.Fatal(err)
			}
			st.mu.Lock()
			draining := st.draining
			st.mu.Unlock()
			if !draining {
				t.Fatal("the stream closed with bytes unread does not drain")
			}
			waitReset(t, s.(*Stream))             // the close timeout's RST
			if _, err := cli.Ping(); err != nil { // the RST's frame was handled whole
				t.Fatal(err)
			}
			if n := srv.NumStreams(); n != 0 {
				t.Fatalf("%d streams left on the closing side", n)
			}
			if n := cli.NumStreams(); n != 0 {
				t.Fatalf("%d streams left on the peer's side", n)
			}
			if writing {
				if err := <-wrote; !errors.Is(err, ErrConnectionReset) {
					t.Fatalf("the peer's writes ended with %v; want the reset", err)
				}
			}
		})
	}
}

// waitReset waits up to 10 s for st to be reset.
func waitReset(t *testing.T, st *Stream) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		st.mu.Lock()
		now := st.state
		st.mu.Unlock()
		if now == stateReset {
			return
		}
		select {
		case <-st.recvNotify:
		case <-deadline:
			t.Fatalf("the stream still in state %d after 10 s; want it reset", now)
		}
	}
}
