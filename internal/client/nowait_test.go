package client_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net"
	"testing"
	"time"

	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/server/config"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// The --local-port client never waits for bytes that have not arrived
// before writing on those that have: each write of the target here is followed by silence
// until the local side has read all of it, so a client that held bytes
// back waiting for more (to fill its buffer, or for the rest of a frame
// or TLS record the server has not sent) would never deliver them and the
// read would fail at its deadline. Small writes, a bulk write followed by
// a pause, and writes of exactly a copy buffer's size.
func TestLocalPortWritesArrivedBytesAtOnce(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{Config: func(c *config.Server) { c.Tunnel.Ports = []string{"*"} }})
	tests := []struct {
		name  string
		sizes []int // the target's writes, each waiting for the last to be read
	}{
		{"one byte", []int{1}},
		{"small writes", []int{5, 100, 1, 3}},
		{"bulk, then a pause, then a byte", []int{3 << 20, 1, 3<<20 + 7, 2}},
		{"a copy buffer's size", []int{65535 - 4, 256 << 10, 16 << 10, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			target, err := net.Listen("tcp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer target.Close()
			var msgs [][]byte
			for _, n := range tc.sizes {
				m := make([]byte, n)
				rand.Read(m)
				msgs = append(msgs, m)
			}
			read := make(chan struct{}) // the local side read the last write
			defer close(read)
			targetErr := make(chan error, 1)
			go func() {
				c, err := target.Accept()
				if err != nil {
					targetErr <- err
					return
				}
				defer c.Close()
				for _, m := range msgs {
					if _, err := c.Write(m); err != nil {
						targetErr <- err
						return
					}
					if _, ok := <-read; !ok {
						break
					}
				}
				targetErr <- nil
				_, _ = io.Copy(io.Discard, c) // until the local side closes
			}()

			ln, err := net.Listen("tcp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			port := target.Addr().(*net.TCPAddr).Port
			l := &client.Listener{Dialer: e.Dialer(e.Admin), Target: e.Local(port), Max: 2, Out: io.Discard}
			ctx, cancel := context.WithCancel(context.Background())
			served := make(chan error, 1)
			go func() { served <- l.Serve(ctx, ln) }()
			defer func() {
				cancel()
				if err := <-served; err != nil {
					t.Error(err)
				}
			}()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			for i, m := range msgs {
				got := make([]byte, len(m))
				_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
				if _, err := io.ReadFull(c, got); err != nil {
					t.Fatalf("write %d (%d bytes) of the target, then silence: %v", i, len(m), err)
				}
				if !bytes.Equal(got, m) {
					t.Fatalf("write %d (%d bytes) of the target arrived altered", i, len(m))
				}
				read <- struct{}{}
			}
			if err := <-targetErr; err != nil {
				t.Fatal(err)
			}
		})
	}
}
