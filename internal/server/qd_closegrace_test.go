package server_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/postern/postern/internal/server/config"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// TestQDTunnelGetsTheConfiguredCloseGrace: a tunnel whose target ended
// gives its client tunnel.close_grace_seconds (not the front door's
// default 5 s) to answer the server's close frame: a client that never
// answers has its connection held open at least that long. The bound is
// a lower one, which the server's deadline guarantees (it is set after
// the target's close, which comes after the clock is read), so no load
// makes it fail.
func TestQDTunnelGetsTheConfiguredCloseGrace(t *testing.T) {
	const grace = 7 // seconds: above the default 5 s by more than a loaded machine's delays
	e := tunneltest.Start(t, tunneltest.Options{Config: func(c *config.Server) {
		c.Tunnel.Ports = []string{"*"}
		c.Tunnel.CloseGraceSeconds = grace
	}})
	target, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()

	// The tunnel's connection is the test's own: its bytes are read raw,
	// so nothing answers the server's close frame (client.Tunnel would).
	var raw *tls.Conn
	d := e.Dialer(e.Admin)
	d.NetDial = func(ctx context.Context) (net.Conn, error) {
		td := tls.Dialer{Config: &tls.Config{RootCAs: e.Roots, ServerName: "localhost", MinVersion: tls.VersionTLS12}}
		c, err := td.DialContext(ctx, "tcp", e.Addr)
		if err != nil {
			return nil, err
		}
		raw = c.(*tls.Conn)
		return c, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tun, err := d.Dial(ctx, e.Local(target.Addr().(*net.TCPAddr).Port))
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Close()
	_ = target.(*net.TCPListener).SetDeadline(time.Now().Add(20 * time.Second))
	c, err := target.Accept()
	if err != nil {
		t.Fatalf("the tunnel never reached its target: %v", err)
	}
	before := time.Now()
	c.Close() // the target ends: the server closes the tunnel

	_ = raw.SetReadDeadline(before.Add(grace*time.Second + 30*time.Second))
	var got int
	buf := make([]byte, 4096)
	for {
		n, err := raw.Read(buf)
		got += n
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatal("the server never closed the unanswered tunnel")
			}
			break
		}
	}
	held := time.Since(before)
	if got == 0 {
		t.Fatal("the server closed the connection without a close frame")
	}
	if held < grace*time.Second {
		t.Fatalf("the server closed the unanswered tunnel after %v, before its configured grace of %d s",
			held.Round(time.Millisecond), grace)
	}
}
