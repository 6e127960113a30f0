package server_test

import (
	"context"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/postern/postern/internal/server"
	"github.com/postern/postern/internal/server/config"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// TestR2ShutdownWithinItsBudgetWhateverTheCloseGrace: a server configured
// with a long tunnel.close_grace_seconds still shuts down (its tunnels
// ended and recorded) within the budget server.Run gives Shutdown, also
// when a tunnel's client never answers the close frame: the config caps
// the grace at 10 s and Run gives Shutdown the grace and 10 s more (at
// least 15 s). (On a8fb25c, which allowed 600: a grace of
// 20 s makes Shutdown fail with the context's deadline; Run then
// returns "server: shutdown: context deadline exceeded" and the process
// exits before the tunnel's CloseTunnel is written.)
func TestR2ShutdownWithinItsBudgetWhateverTheCloseGrace(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{Config: func(c *config.Server) {
		c.Tunnel.Ports = []string{"*"}
		c.Tunnel.CloseGraceSeconds = 10 // the most config accepts
	}})
	target, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	// The tunnel's connection is the test's own, never read: nothing
	// answers the server's close frame.
	d := e.Dialer(e.Admin)
	d.NetDial = func(ctx context.Context) (net.Conn, error) {
		td := tls.Dialer{Config: &tls.Config{RootCAs: e.Roots, ServerName: "localhost", MinVersion: tls.VersionTLS12}}
		return td.DialContext(ctx, "tcp", e.Addr)
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
	defer c.Close()

	runShutdownBudget := server.ShutdownBudget(10)
	sctx, scancel := context.WithTimeout(context.Background(), runShutdownBudget)
	defer scancel()
	if err := e.Server.Shutdown(sctx); err != nil {
		t.Fatalf("Shutdown with a close grace of 10 s and an unanswering client: %v (server.Run gives it %v)", err, runShutdownBudget)
	}
}
