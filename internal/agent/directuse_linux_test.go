//go:build linux

package agent_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/postern/postern/internal/testutil/goroutines"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// On Linux every tunnel to a TCP target is written to from the link's
// receive loop (linkToTargetDirect): the agent's link streams and its
// targets' sockets are the kinds the direct path needs, so that it is
// not silently left for the goroutine-per-frame path.
func TestTunnelsUseDirectWrites(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{Config: allPorts})
	ep := loopNet(t, e)
	a := e.StartAgent(ep, fastCfg())
	e.WaitConnected(a.ID.AgentID, 10*time.Second)
	echo := tunneltest.Echo(t)
	const n = 2
	for i := range n {
		tun, err := e.Dialer(e.Admin).Dial(context.Background(), target(e, ep, echo.Port))
		if err != nil {
			t.Fatal(err)
		}
		defer tun.Close()
		if err := tunneltest.RoundTrip(tun, bytes.Repeat([]byte{'x'}, 1+i*70000)); err != nil {
			t.Fatal(err)
		}
	}
	if !goroutines.Eventually(func() bool { return len(goroutines.Running(t, "agent.linkToTargetDirect")) == n }) {
		t.Fatalf("%d of %d tunnels write to their target from the link's receive loop", len(goroutines.Running(t, "agent.linkToTargetDirect")), n)
	}
}
