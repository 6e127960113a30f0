package relay

import (
	"errors"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/postern/postern/internal/util/sockio"
	"github.com/postern/postern/internal/wire/tunnelproto"
)

// TestLocalStreamSendEOF: the embedded agent's stream half-closes the
// target's connection through sockio.CloseWrite, which the endpoint
// agent uses too (TCP through the raw shutdown, others through
// CloseWrite): the target reads the bytes sent, then EOF, and its answer
// still comes back through Recv, then EOF; after Close, SendEOF fails
// without a panic.
func TestLocalStreamSendEOF(t *testing.T) {
	for _, tc := range []struct {
		name, network string
		closeFirst    bool
	}{
		{name: "tcp", network: "tcp"},
		{name: "unix", network: "unix"},
		{name: "tcp closed", network: "tcp", closeFirst: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := "127.0.0.1:0"
			if tc.network == "unix" {
				addr = filepath.Join(t.TempDir(), "target.sock")
			}
			ln, err := net.Listen(tc.network, addr)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			got := make(chan string, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					got <- "accept: " + err.Error()
					return
				}
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				b, err := io.ReadAll(c) // until the stream's EOF
				if err != nil {
					got <- "read: " + err.Error()
					return
				}
				got <- string(b)
				_, _ = c.Write([]byte("pong"))
			}()
			c, err := net.Dial(tc.network, ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			s := &localStream{conn: c, sock: sockio.Of(c), owner: &localAgent{streams: map[*localStream]struct{}{}}}
			defer s.Close()
			if tc.closeFirst {
				s.Close()
				if err := s.SendEOF(); err == nil {
					t.Fatal("SendEOF on a closed stream: no error")
				}
				return
			}
			frame := append(make([]byte, tunnelproto.HeaderLen), "ping"...)
			if err := s.SendData(frame); err != nil {
				t.Fatal(err)
			}
			if err := s.SendEOF(); err != nil {
				t.Fatalf("SendEOF: %v", err)
			}
			select {
			case g := <-got:
				if g != "ping" {
					t.Fatalf("the target read %q, want \"ping\" then EOF", g)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the target saw no EOF within 10 s")
			}
			var back []byte
			for i := 0; i < 8; i++ { // bounded: "pong" then EOF
				b, err := s.Recv(func(n int) []byte { return make([]byte, n) })
				back = append(back, b...)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("Recv: %v", err)
				}
			}
			if string(back) != "pong" {
				t.Fatalf("the stream received %q, want \"pong\"", back)
			}
		})
	}
}
