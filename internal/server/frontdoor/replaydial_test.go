//go:build linux

package frontdoor_test

import (
	"context"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/server/config"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// listenNoBacklog listens on 127.0.0.1 with an accept queue of one
// connection (listen(2) with a backlog of 0): once one connection waits in
// it, Linux drops the SYNs of the next ones, whose connect then hangs
// until the queue has room again or the dialer gives up.
func listenNoBacklog(t *testing.T) (net.Listener, int) {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "listener")
	defer f.Close() // net.FileListener holds a duplicate
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	ln, err := net.FileListener(f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln, ln.Addr().(*net.TCPAddr).Port
}

// TestReplayEndsAHangingDial: the agent's dial overlaps the replay guard's
// write (TestReplayRefusedAfterAnOverlappedDial), but a replay must not
// wait for that dial: when the target does not answer (its accept queue is
// full: the agent's SYNs are dropped), the guard's refusal ends the dial
// and answers the client at once, instead of holding the endpoint's
// concurrency slot and the client until the dial's own 10 s timeout.
func TestReplayEndsAHangingDial(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{Config: func(c *config.Server) { allPorts(c); c.Tunnel.Replay = "single-use" }})
	ctx := context.Background()
	ln, port := listenNoBacklog(t)
	u, err := client.PresignURL(ctx, aws.Credentials(e.Admin), e.Region, e.Local(port), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	d := e.Dialer(e.Admin)
	first, err := d.DialURL(ctx, u, e.DNSName())
	if err != nil {
		t.Fatal(err)
	}
	c, err := ln.Accept() // the first use's connection: the queue is empty again
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	first.Close()

	// Fill the accept queue: the replay's dial hangs from here on.
	filler, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer filler.Close()

	refused := make(chan error, 1)
	go func() {
		_, err := d.DialURL(ctx, u, e.DNSName())
		refused <- err
	}()
	// Well under the dial request's 10 s timeout, which answers the
	// replay when the refusal does not end the dial; a refusal normally
	// takes milliseconds.
	select {
	case err := <-refused:
		wantRefusal(t, err, 403, "AccessDeniedException", "once")
	case <-time.After(7 * time.Second):
		t.Fatal("the replay was not answered while its dial hung: the refusal waits for the dial")
	}
}
