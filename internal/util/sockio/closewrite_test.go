package sockio_test

import (
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/postern/postern/internal/util/sockio"
)

// TestCloseWriteHalfCloses: the half-close of a target's connection
// (the endpoint agent's and the embedded agent's) (TCP through the raw shutdown, others through CloseWrite):
// the target reads the bytes sent, then EOF, and its answer still comes
// back, then EOF; on a closed connection it fails without a panic.
func TestCloseWriteHalfCloses(t *testing.T) {
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
				b, err := io.ReadAll(c) // until the half-close
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
			defer c.Close()
			if tc.closeFirst {
				c.Close()
				if err := sockio.CloseWrite(c); err == nil {
					t.Fatal("closeWrite on a closed connection: no error")
				}
				return
			}
			if _, err := c.Write([]byte("ping")); err != nil {
				t.Fatal(err)
			}
			if err := sockio.CloseWrite(c); err != nil {
				t.Fatalf("closeWrite: %v", err)
			}
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			answer, err := io.ReadAll(c)
			if err != nil {
				t.Fatalf("reading the target's answer after the half-close: %v", err)
			}
			if g := <-got; g != "ping" {
				t.Fatalf("the target read %q, want \"ping\" then EOF", g)
			}
			if string(answer) != "pong" {
				t.Fatalf("the answer after the half-close: %q, want \"pong\" then EOF", answer)
			}
		})
	}
}
