package client_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net"
	"testing"
	"time"

	"github.com/postern/postern/internal/agent"
	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/server/config"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// A bulk transfer through --local-port, one hop (the server's embedded
// agent) and two (a separate agent), both ways at once: every byte comes
// back intact and in order through the data path's big frames (the
// client's big WebSocket frames, big link frames, the server's frames
// split to 64 KiB, TLS read-ahead), and small echoes before and after
// still work.
func TestListenerBulk(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{Config: func(c *config.Server) { c.Tunnel.Ports = []string{"*"} }})
	echo := tunneltest.Echo(t)
	_, _, ep, _ := e.Network("127.0.0.0/16", "127.0.0.0/24")
	a := e.StartAgent(ep, agent.Config{AllowLoopback: true, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, DrainTimeout: 300 * time.Millisecond})
	e.WaitConnected(a.ID.AgentID, 10*time.Second)
	tests := []struct {
		name   string
		target client.Target
	}{
		{"one hop", e.Local(echo.Port)},
		{"two hops", client.Target{EndpointID: ep, DNSName: e.DNSName(), PrivateIP: "127.0.0.1", RemotePort: echo.Port}},
	}
	const size = 24 << 20
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			l := &client.Listener{Dialer: e.Dialer(e.Admin), Target: tc.target, Max: 4, Out: io.Discard}
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
			_ = c.SetDeadline(time.Now().Add(60 * time.Second))
			roundTrip := func(msg []byte) {
				t.Helper()
				if _, err := c.Write(msg); err != nil {
					t.Fatal(err)
				}
				got := make([]byte, len(msg))
				if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
					t.Fatalf("echo of %d bytes: %v", len(msg), err)
				}
			}
			roundTrip([]byte("before"))
			msg := make([]byte, size)
			rand.Read(msg)
			written := make(chan error, 1)
			go func() {
				// Writes of several sizes, the largest above every buffer.
				var err error
				for off, i := 0, 0; off < len(msg) && err == nil; i++ {
					n := []int{1 << 20, 100, 300 << 10, 65535, 3 << 20}[i%5]
					n = min(n, len(msg)-off)
					_, err = c.Write(msg[off : off+n])
					off += n
				}
				written <- err
			}()
			got := make([]byte, size)
			if _, err := io.ReadFull(c, got); err != nil {
				t.Fatalf("reading the echo: %v", err)
			}
			if err := <-written; err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, msg) {
				i := 0
				for i < size && got[i] == msg[i] {
					i++
				}
				t.Fatalf("the echo differs from byte %d on", i)
			}
			roundTrip([]byte("after"))
		})
	}
}
