package agent_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/postern/postern/internal/testutil/goroutines"
	"github.com/postern/postern/internal/testutil/tunneltest"
	"github.com/postern/postern/internal/util/bufpool"
)

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
		if err := tunneltest.RoundTrip(tun, bytes.Repeat([]byte{'x'}, 1+i*1000)); err != nil {
			t.Fatal(err)
		}
	}
	checks := []struct {
		name string
		ok   func() bool
	}{
		{"no goroutine still in serveStream", func() bool { return len(goroutines.Running(t, "agent.(*Agent).serveStream")) == 0 }},
		{"one carry goroutine per tunnel", func() bool { return len(goroutines.Running(t, "agent.(*Agent).carry")) == n }},
		{"one target reader per tunnel", func() bool { return len(goroutines.Running(t, "agent.targetToLink")) == n }},
		{"no buffer lent", func() bool { return bufpool.Lent() == lent0 }},
	}
	for _, c := range checks {
		if !goroutines.Eventually(c.ok) {
			t.Errorf("%s: serveStream %d, carry %d, targetToLink %d, buffers lent %d", c.name,
				len(goroutines.Running(t, "agent.(*Agent).serveStream")), len(goroutines.Running(t, "agent.(*Agent).carry")),
				len(goroutines.Running(t, "agent.targetToLink")), bufpool.Lent()-lent0)
		}
	}
}
