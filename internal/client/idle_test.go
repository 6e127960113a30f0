package client_test

import (
	"context"
	"io"
	"net"
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
