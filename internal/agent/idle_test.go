package agent_test

import (
	"bytes"
	"context"
	"io"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/testutil/tunneltest"
	"github.com/postern/postern/internal/util/bufpool"
)

// goroutinesIn counts the goroutines running fn (a frame of their stack,
// not the "created by" line).
func goroutinesIn(t *testing.T, fn string) int {
	t.Helper()
	var b bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&b, 2); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range strings.Split(b.String(), "\n\n") {
		for _, line := range strings.Split(g, "\n") {
			if strings.Contains(line, fn) && !strings.HasPrefix(line, "created by ") {
				n++
				break
			}
		}
	}
	return n
}

// An open tunnel is carried by two fresh goroutines of the remote agent:
// the one that read the dial request and dialled the target (its stack
// grown by the dial) has ended, and an idle tunnel holds no buffer.
func TestIdleTunnelOnFreshGoroutines(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{Config: allPorts})
	ep := loopNet(t, e)
	a := e.StartAgent(ep, fastCfg())
	e.WaitConnected(a.ID.AgentID, 10*time.Second)
	echo := tunneltest.Echo(t)
	lent0 := bufpool.Lent()
	const n = 4
	for i := range n {
		tun, err := e.Dialer(e.Admin).Dial(context.Background(), target(e, ep, echo.Port))
		if err != nil {
			t.Fatal(err)
		}
		defer tun.Close()
		if err := echoes(tun, 1+i*1000); err != nil {
			t.Fatal(err)
		}
	}
	checks := []struct {
		name string
		ok   func() bool
	}{
		{"no goroutine still in serveStream", func() bool { return goroutinesIn(t, "agent.(*Agent).serveStream") == 0 }},
		{"one carry goroutine per tunnel", func() bool { return goroutinesIn(t, "agent.(*Agent).carry") == n }},
		{"one target reader per tunnel", func() bool { return goroutinesIn(t, "agent.targetToLink") == n }},
		{"no buffer lent", func() bool { return bufpool.Lent() == lent0 }},
	}
	for _, c := range checks {
		deadline := time.Now().Add(10 * time.Second)
		for !c.ok() && time.Now().Before(deadline) {
			<-time.After(10 * time.Millisecond) // bounded poll of the goroutines' state
		}
		if !c.ok() {
			t.Errorf("%s: serveStream %d, carry %d, targetToLink %d, buffers lent %d", c.name,
				goroutinesIn(t, "agent.(*Agent).serveStream"), goroutinesIn(t, "agent.(*Agent).carry"),
				goroutinesIn(t, "agent.targetToLink"), bufpool.Lent()-lent0)
		}
	}
}

// echoes sends size bytes through tun and reads them back.
func echoes(tun *client.Tunnel, size int) error {
	payload := bytes.Repeat([]byte{'x'}, size)
	errc := make(chan error, 1)
	go func() { _, err := tun.Write(payload); errc <- err }()
	got := make([]byte, size)
	_ = tun.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.ReadFull(tun, got); err != nil {
		return err
	}
	_ = tun.SetReadDeadline(time.Time{})
	return <-errc
}
