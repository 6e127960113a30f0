package frontdoor

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/testutil/goroutines"
	"github.com/postern/postern/internal/wire/wsframe"
)

// Terminate of many tunnels, some of whose clients stopped reading
// while their targets sent, leaves no goroutine behind once the runs
// end: each close frame's writer (finishAside) ends by the close grace,
// every reading client gets its close frame, and every tunnel is on
// record once, with Terminate's reason.
func TestR6TerminateManyLeavesNoGoroutine(t *testing.T) {
	const stuck, reading = 4, 12
	f, st := idleDoor(t, time.Hour) // close grace 2 s
	var ids []string
	var stuckTuns []*tunnel
	for i := range stuck {
		id := fmt.Sprintf("tnl-0r6000000000stuck%02d", i)
		_, tun := openWith(t, f, id, i%2 == 0, nil, floodStream{newIdleStream()}) // never reads
		stuckTuns = append(stuckTuns, tun)
		ids = append(ids, id)
	}
	var clients []net.Conn
	for i := range reading {
		id := fmt.Sprintf("tnl-0r600000000000read%02d", i)
		c, _ := openIdle(t, f, st, id, i%2 == 0)
		clients = append(clients, c)
		ids = append(ids, id)
	}
	for _, tun := range stuckTuns {
		last := int64(-1)
		if !goroutines.Eventually(func() bool {
			n := tun.bytesOut.Load()
			held := n > 0 && n == last
			last = n
			return held
		}) {
			t.Fatal("a write to a client that stopped reading never waited")
		}
	}
	if n := f.Terminate(func(TunnelInfo) bool { return true }, wsframe.CloseGoingAway, "TestEnd", "ended by the test"); n != stuck+reading {
		t.Errorf("Terminate ended %d tunnels, want %d", n, stuck+reading)
	}
	for _, c := range clients {
		if code, reason := readClose(t, c); code != wsframe.CloseGoingAway || reason != "ended by the test" {
			t.Errorf("a reading client read close %d %q", code, reason)
		}
		c.Close()
	}
	waitRuns(t, f)
	noTunnelGoroutines(t)
	for _, id := range ids {
		if reason, code := closeReason(t, st, id); reason != "TestEnd" || code != wsframe.CloseGoingAway {
			t.Errorf("%s: close record %q %d, want TestEnd %d", id, reason, code, wsframe.CloseGoingAway)
		}
		if evs, err := st.ListEvents(context.Background(), store.EventQuery{EventName: "CloseTunnel", TunnelID: id}); err != nil || len(evs) != 1 {
			t.Errorf("%s: %d CloseTunnel records (%v), want 1", id, len(evs), err)
		}
	}
}
