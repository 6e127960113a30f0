package client_test

import (
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

// TestListenerIdle: Idle is called once the last open connection has
// closed (Active is 0 then), not while another is still open.
func TestListenerIdle(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{Config: func(c *config.Server) { c.Tunnel.Ports = []string{"*"} }})
	echo := tunneltest.Echo(t)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var out syncBuf
	idle := make(chan int64, 8)
	l := &client.Listener{Dialer: e.Dialer(e.Admin), Target: e.Local(echo.Port), Max: 4, Out: &out}
	l.Idle = func() { idle <- l.Active() }
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- l.Serve(ctx, ln) }()

	open := func() net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		buf := []byte("x")
		if _, err := c.Write(buf); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatalf("echo: %v", err)
		}
		return c
	}
	a, b := open(), open()
	if n := l.Active(); n != 2 {
		t.Fatalf("Active = %d with two connections open", n)
	}
	a.Close()
	b.Close()
	select {
	case n := <-idle:
		if n != 0 {
			t.Errorf("Idle called with %d connections open", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("Idle was not called after the last connection closed:\n%s", out.String())
	}
	cancel()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	// Serve has waited for every connection: no call is pending.
	close(idle)
	for n := range idle {
		t.Errorf("Idle called again (Active %d): it is called once per last close", n)
	}
}

// TestListenerChanged: Changed is called when a connection is accepted,
// when its tunnel is open and when it has closed: three times for a
// connection whose tunnel opened, twice for one whose open failed, every
// call made by the time Serve returns.
func TestListenerChanged(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{Config: func(c *config.Server) { c.Tunnel.Ports = []string{"*"} }})
	echo := tunneltest.Echo(t)
	cases := []struct {
		name   string
		target client.Target
		calls  int64 // per connection
	}{
		{"opened", e.Local(echo.Port), 3},
		{"refused", client.Target{EndpointID: "eice-0000000000000000f", DNSName: e.DNSName(), PrivateIP: "127.0.0.1", RemotePort: echo.Port}, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			var calls atomic.Int64
			l := &client.Listener{Dialer: e.Dialer(e.Admin), Target: tc.target, Max: 4, Out: io.Discard, Changed: func() { calls.Add(1) }}
			ctx, cancel := context.WithCancel(context.Background())
			served := make(chan error, 1)
			go func() { served <- l.Serve(ctx, ln) }()
			const conns = 2
			for range conns {
				c, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				// An open tunnel echoes; a refused one is closed.
				_, _ = c.Write([]byte("x"))
				_, _ = io.ReadFull(c, make([]byte, 1))
				c.Close()
			}
			cancel()
			if err := <-served; err != nil {
				t.Fatal(err)
			}
			if n := calls.Load(); n != tc.calls*conns {
				t.Errorf("Changed called %d times for %d connections, want %d", n, conns, tc.calls*conns)
			}
		})
	}
}
