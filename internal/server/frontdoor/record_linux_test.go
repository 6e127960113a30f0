package frontdoor_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
)

// TestRecordCommitsWhileTheDialRuns: once every check and the replay
// guard passed, the attempt's OpenTunnel record commits while the agent
// still dials, instead of after its answer (the two were a sum on the
// open's path). The target's accept queue is full (listenNoBacklog), so
// the agent's dial hangs until its 10 s timeout: the successful record,
// naming the agent, is there while it hangs, and the target has accepted
// nothing. The client then leaves: the dial ends, and the tunnel that is
// on record as open is closed on record (CloseTunnel ClientGone, no
// byte, no close frame) and leaves the store's journal of open tunnels.
// Before, the record waited for the dial's answer (the wait below
// reached its deadline), and the attempt was one OpenTunnel with
// errorCode ClientGone.
func TestRecordCommitsWhileTheDialRuns(t *testing.T) {
	e := startAll(t)
	ctx := context.Background()
	ln, port := listenNoBacklog(t)
	filler, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer filler.Close()
	tun, err := e.Dialer(e.Admin).Dial(ctx, e.Local(port)) // the 101 comes while the dial hangs
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	// Well under the dial request's 10 s timeout: woken by each audit
	// commit, no polling.
	evs := e.WaitEvents(store.EventQuery{EventName: "OpenTunnel"}, 5*time.Second, func(evs []store.Event) bool {
		return len(evs) == 1 && evs[0].ErrorCode == "" && evs[0].TunnelID != ""
	})
	open := evs[0]
	if time.Since(start) >= 9*time.Second {
		t.Fatal("the record came with the dial's timeout, not while it ran")
	}
	agentID := openAgent(t, open)
	if agentID == "" {
		t.Error("the OpenTunnel record names no agent")
	}
	if n := len(events(t, e, "CloseTunnel")); n != 0 {
		t.Fatalf("%d CloseTunnel records while the dial runs, want none", n)
	}
	if j := journalled(t, e); len(j) != 1 || j[0] != open.TunnelID {
		t.Fatalf("journal of open tunnels %v, want [%s]", j, open.TunnelID)
	}
	// The dial still hangs: nothing reached the target but the filler,
	// which still waits in its accept queue.
	tun.Close()
	closes := e.WaitEvents(store.EventQuery{EventName: "CloseTunnel"}, 5*time.Second, func(evs []store.Event) bool { return len(evs) == 1 })
	d := readClose(t, closes[0])
	if closes[0].TunnelID != open.TunnelID || d.OpenEventID != open.EventID || d.Reason != "ClientGone" || d.CloseCode != 0 ||
		d.BytesIn != 0 || d.BytesOut != 0 || d.AgentID != agentID || !strings.Contains(d.Message, "disconnected") {
		t.Fatalf("CloseTunnel %+v, want the close of %s (open %s) by agent %s: ClientGone, code 0, no bytes", d, open.TunnelID, open.EventID, agentID)
	}
	if evs := events(t, e, "OpenTunnel"); len(evs) != 1 {
		t.Fatalf("%d OpenTunnel records, want 1", len(evs))
	}
	if j := journalled(t, e); len(j) != 0 {
		t.Fatalf("journal of open tunnels %v after the close, want none", j)
	}
}
