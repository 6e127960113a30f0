package frontdoor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/server/frontdoor"
	"github.com/postern/postern/internal/testutil/goroutines"
	"github.com/postern/postern/internal/testutil/tunneltest"
	"github.com/postern/postern/internal/util/sockwait"
	"github.com/postern/postern/internal/wire/wsframe"
)

// An idle tunnel holds no goroutine reading its client's frames: the wait
// for the client's next bytes is armed in the process's sockwait.Poller
// (where there is one). Bytes still flow both ways after the wait (small
// echoes and a bulk transfer), and a tunnel closed while idle, by its
// client or by the server, is recorded and leaves no goroutine behind.
func TestIdleReaderHoldsNoGoroutine(t *testing.T) {
	if _, err := sockwait.Default(); err != nil {
		t.Skipf("no sockwait.Poller here (%v): idle readers wait on goroutines (TestIdleTunnelsHoldNoBuffers)", err)
	}
	e := startAll(t)
	const n = 4
	tuns := echoTunnels(t, e, n)
	readers := func() []string { return goroutines.Running(t, "frontdoor.(*tunnel).clientToAgent") }
	idle := func(when string) {
		t.Helper()
		if !goroutines.Eventually(func() bool { return len(readers()) == 0 }) {
			t.Fatalf("%s: %d goroutines read idle clients:\n%s", when, len(readers()), strings.Join(readers(), "\n\n"))
		}
	}
	idle("opened")
	for round, size := range []int{1, 100, 2 << 20} {
		for i, tun := range tuns {
			if size > 1<<20 && i > 0 {
				continue // one tunnel carries the bulk transfer
			}
			if err := tunneltest.RoundTrip(tun, bytes.Repeat([]byte{byte(i + round)}, size)); err != nil {
				t.Fatalf("%d bytes after an idle wait, tunnel %d: %v", size, i, err)
			}
		}
		idle("after echoes of " + itoa(size) + " bytes")
	}

	// Closed while idle: by its client, and by the server.
	tuns[0].Close()
	waitEvent(t, e, "CloseTunnel", 1) // then it is no longer among the open ones
	infos := e.Server.FrontDoor().Tunnels()
	if len(infos) == 0 {
		t.Fatal("no open tunnels")
	}
	victim := infos[0].TunnelID
	if got := e.Server.FrontDoor().Terminate(func(i frontdoor.TunnelInfo) bool { return i.TunnelID == victim },
		wsframe.CloseGoingAway, "TestEnd", "ended by the test"); got != 1 {
		t.Fatalf("Terminate ended %d tunnels, want 1", got)
	}
	evs := waitEvent(t, e, "CloseTunnel", 2)
	var terminated bool
	for _, ev := range evs {
		var rec struct{ ServiceEventDetails struct{ Reason string } }
		if err := json.Unmarshal([]byte(ev.Body), &rec); err != nil {
			t.Fatal(err)
		}
		terminated = terminated || (ev.TunnelID == victim && rec.ServiceEventDetails.Reason == "TestEnd")
	}
	if !terminated {
		t.Errorf("no CloseTunnel record of the terminated tunnel %s with reason TestEnd", victim)
	}
	for _, tun := range tuns {
		tun.Close()
	}
	waitEvent(t, e, "CloseTunnel", n)
	for _, fn := range []string{"frontdoor.(*tunnel).", "frontdoor.(*clientIdler)."} {
		if !goroutines.Eventually(func() bool { return len(goroutines.Running(t, fn)) == 0 }) {
			t.Errorf("goroutines left in %s after every tunnel closed:\n%s", fn, strings.Join(goroutines.Running(t, fn), "\n\n"))
		}
	}
}

// echoTunnels opens n tunnels of e's admin to a loopback echo server of
// their own; the test's end closes them.
func echoTunnels(t *testing.T, e *tunneltest.Env, n int) []*client.Tunnel {
	t.Helper()
	echo := tunneltest.Echo(t)
	tuns := make([]*client.Tunnel, n)
	for i := range tuns {
		tun, err := e.Dialer(e.Admin).Dial(context.Background(), e.Local(echo.Port))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tun.Close() })
		tuns[i] = tun
	}
	return tuns
}
