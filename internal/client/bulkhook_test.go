package client_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/server/config"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// TestListenerBulkHook: a Listener calls Bulk when a connection's copy moves
// a full chunk at once, uploading or downloading (the CLI's GOMAXPROCS
// governor learns of a bulk transfer on a connection opened long
// before), and not for a few bytes.
func TestListenerBulkHook(t *testing.T) {
	const size = 8 << 20
	e := tunneltest.Start(t, tunneltest.Options{Config: func(c *config.Server) { c.Tunnel.Ports = []string{"*"} }})
	cases := []struct {
		name   string
		target func(c net.Conn)               // the target's side of a connection
		local  func(t *testing.T, c net.Conn) // the local client's
		bulk   bool
	}{
		{name: "a few bytes", target: func(c net.Conn) { _, _ = io.Copy(c, c) }, local: func(t *testing.T, c net.Conn) {
			if _, err := c.Write([]byte("hello")); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(c, make([]byte, 5)); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "upload", target: func(c net.Conn) {
			n, _ := io.Copy(io.Discard, c)
			_, _ = c.Write([]byte{byte(n >> 20)}) // MiB received
		}, local: func(t *testing.T, c net.Conn) {
			if _, err := c.Write(make([]byte, size)); err != nil {
				t.Fatal(err)
			}
			_ = c.(*net.TCPConn).CloseWrite()
			b := make([]byte, 1)
			if _, err := io.ReadFull(c, b); err != nil || int(b[0]) != size>>20 {
				t.Fatalf("the target's count: %v %v", b, err)
			}
		}, bulk: true},
		{name: "download", target: func(c net.Conn) {
			_, _ = c.Write(bytes.Repeat([]byte{'d'}, size))
		}, local: func(t *testing.T, c net.Conn) {
			if _, err := io.ReadFull(c, make([]byte, size)); err != nil {
				t.Fatal(err)
			}
		}, bulk: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tl, err := net.Listen("tcp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer tl.Close()
			go func() {
				c, err := tl.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				tc.target(c)
			}()
			ln, err := net.Listen("tcp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			var calls atomic.Int64
			l := &client.Listener{Dialer: e.Dialer(e.Admin), Target: e.Local(tl.Addr().(*net.TCPAddr).Port), Max: 1,
				Out: io.Discard, Bulk: func() { calls.Add(1) }}
			ctx, cancel := context.WithCancel(context.Background())
			served := make(chan error, 1)
			go func() { served <- l.Serve(ctx, ln) }()
			defer func() {
				cancel()
				<-served
			}()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(60 * time.Second))
			tc.local(t, c)
			// Every chunk the copies moved was moved before its bytes
			// reached the other end, which the exchange waited for.
			if got := calls.Load() > 0; got != tc.bulk {
				t.Fatalf("Bulk called %d times, want calls: %v", calls.Load(), tc.bulk)
			}
		})
	}
}
