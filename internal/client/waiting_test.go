package client_test

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/server/config"
	"github.com/postern/postern/internal/testutil/goroutines"
	"github.com/postern/postern/internal/testutil/tunneltest"
	"github.com/postern/postern/internal/util/sockwait"
)

// The goroutines that wait for an open connection's bytes (one per
// direction, where there is no sockwait.Poller: with one, none) hold only
// the wait on their stacks: no frame of the Listener, of the open or of
// the copy's set-up. The runtime starts new goroutines with the average
// stack its collections saw, so the depth of the thousands of goroutines
// that wait in a burst of opens decides whether each of them, and each
// one started after them, gets 2 KiB or 4 KiB; a goroutine parked at
// 4 KiB is never shrunk back.
func TestWaitingGoroutinesHoldOnlyTheWait(t *testing.T) {
	_, noPoller := sockwait.Default()
	e := tunneltest.Start(t, tunneltest.Options{Config: func(c *config.Server) { c.Tunnel.Ports = []string{"*"} }})
	echo := tunneltest.Echo(t)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	const n = 4
	l := &client.Listener{Dialer: e.Dialer(e.Admin), Target: e.Local(echo.Port), Max: n, Out: io.Discard}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- l.Serve(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Error(err)
		}
	}()
	for i := range n {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := tunneltest.RoundTrip(c, []byte{byte(i), 1, 2, 3}); err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
	}
	forbidden := []string{"client.(*Listener)", "client.carry", "client.copyIn(", "client.copyOut(", "client.copyInSteps(", "client.copyOutThen(", "client.idle("}
	want := 2 * n
	if noPoller == nil {
		want = 0
	}
	var waiting []string
	ok := goroutines.Eventually(func() bool {
		waiting = waiting[:0]
		for _, s := range goroutines.Running(t, "internal/util/sockio.Socket.Wait") {
			if strings.Contains(s, "internal/client.") {
				waiting = append(waiting, s)
			}
		}
		if len(waiting) != want {
			return false
		}
		for _, s := range waiting {
			for _, line := range strings.Split(s, "\n") {
				if strings.HasPrefix(strings.TrimSpace(line), "created by ") {
					continue
				}
				for _, f := range forbidden {
					if strings.Contains(line, f) {
						return false
					}
				}
			}
		}
		return true
	})
	if !ok {
		t.Errorf("want %d goroutines waiting with nothing but the wait on their stacks (none of %q), got %d:\n%s",
			want, forbidden, len(waiting), strings.Join(waiting, "\n\n"))
	}
}
