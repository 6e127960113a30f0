package frontdoor

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/wire/tunnelproto"
	"github.com/postern/postern/internal/wire/wsframe"
)

// TestR2RevocationOfATunnelThatOpenedWhileItWasRechecked: recheck takes
// its list of dialing tunnels, then decides each (store reads, IAM: some
// milliseconds) and hands a denied one to revokeDialing. A tunnel whose
// dial answered in between has left f.dialing for f.tunnels by then, and
// it is in neither of the lists recheck decided. revokeDialing must then
// revoke it as the open tunnel it now is. Before, it found nothing to
// end: the revocation was counted as done, and the tunnel opened and
// carried bytes until the next store change or the 30 s re-check
// (RecheckInterval). The steps below are recheck's, in its order, with
// the dial answering between the snapshot and the decision. A tunnel
// still dialing at the decision has its dial ended and is marked
// Revoked (serveTunnel then closes it before its first byte).
func TestR2RevocationOfATunnelThatOpenedWhileItWasRechecked(t *testing.T) {
	const why = "the access key was deactivated"
	for i, opens := range []bool{true, false} {
		name := map[bool]string{true: "its dial answered meanwhile", false: "its dial still runs"}[opens]
		t.Run(name, func(t *testing.T) {
			f, st := idleDoor(t, time.Hour)
			f.pinging = true // no sweeps: this test runs recheck's steps itself
			id := "tnl-r2000000000000000" + string(rune('a'+i))
			ended := make(chan struct{})
			pd := &pendingDial{done: make(chan struct{}), end: func() { closeOnce(ended) }, chosen: make(chan struct{})}
			dialing := &request{id: "req-" + id, tunnelID: id, at: time.Now(), sourceIP: "127.0.0.1",
				endpoint: store.Endpoint{EndpointID: "eice-0123456789abcdef0"}, addr: netip.MustParseAddr("10.0.0.5"), port: 22, duration: time.Hour}
			f.addDialing(dialing, "agent-1", time.Now(), pd)

			// recheck's list, taken now: the tunnel dials (listed, no byte).
			if ts := f.Tunnels(); len(ts) != 1 || ts[0].TunnelID != id || ts[0].AgentID != "agent-1" {
				t.Fatalf("listed while it dials: %+v; want %s alone", ts, id)
			}
			if !opens {
				f.revokeDialing(id, why) // recheck's decision: denied
				select {
				case <-ended:
				default:
					t.Fatal("revokeDialing did not end the tunnel's dial")
				}
				term := f.takeDialing(id) // what serveTunnel does once the dial returns
				if term == nil || term.Code != tunnelproto.CodeRevoked || !strings.Contains(term.Message, why) || closeCodeFor(term.Code) != wsframe.ClosePolicyViolation {
					t.Fatalf("the dialing tunnel's end: %+v; want Revoked (1008), naming why", term)
				}
				return
			}
			// The dial answers before the decision: the tunnel leaves
			// f.dialing and joins f.tunnels (serveTunnel does both under
			// one f.mu hold) and runs.
			if term := f.takeDialing(id); term != nil {
				t.Fatalf("the tunnel was ended before the decision: %+v", term)
			}
			client, tun := openWith(t, f, id, true, nil, newIdleStream())
			s := tun.stream.(*idleStream)
			f.revokeDialing(id, why) // recheck's decision: denied

			// The client gets 1008 naming why, the agent's side is ended
			// Revoked, and the close is on record with that reason.
			_ = client.SetReadDeadline(time.Now().Add(10 * time.Second))
			fr, err := ws.ReadFrame(client)
			if err != nil {
				t.Fatalf("the tunnel stayed open after recheck denied it (its dial answered during the decision): %v", err)
			}
			if fr.Header.OpCode != ws.OpClose || len(fr.Payload) < 2 || binary.BigEndian.Uint16(fr.Payload) != wsframe.ClosePolicyViolation ||
				!strings.Contains(string(fr.Payload[2:]), why) {
				t.Fatalf("the client got opcode %v %q; want a close 1008 naming why", fr.Header.OpCode, fr.Payload)
			}
			_ = ws.WriteFrame(client, ws.MaskFrame(ws.NewCloseFrame(fr.Payload[:2])))
			if reason, code := closeReason(t, st, id); reason != tunnelproto.CodeRevoked || code != wsframe.ClosePolicyViolation {
				t.Errorf("close record: reason %q, code %d; want Revoked, 1008", reason, code)
			}
			if got := s.ended(); got != tunnelproto.CodeRevoked {
				t.Errorf("the agent's side was ended with %q, want Revoked", got)
			}
			waitRuns(t, f)
			noTunnelGoroutines(t)
		})
	}
}

// closeOnce closes ch unless it is closed.
func closeOnce(ch chan struct{}) {
	select {
	case <-ch:
	default:
		close(ch)
	}
}

// TestR2TunnelListedAfterShutdownBeganEndsItsDial: Shutdown sets stopping
// and then ends the tunnels it lists (Terminate), those whose dial runs
// too (R1). A request decided just before (decide saw no stopping) that
// is answered 101 and listed after that Terminate ran is in no list
// Shutdown looked at: its dial must end at once, and the tunnel close
// before its first byte as Shutdown ends a dialing one (ServerShutdown,
// 1001). Before, it dialled on: Shutdown waited for that dial (up to its
// 10 s timeout, longer than the shutdown's grace may be) and the tunnel
// then opened, only to be ended at once.
func TestR2TunnelListedAfterShutdownBeganEndsItsDial(t *testing.T) {
	f, _ := idleDoor(t, time.Hour)
	f.pinging = true // no sweeps: nothing else runs
	f.mu.Lock()
	f.stopping = true // Shutdown began; its Terminate ran and saw nothing
	f.mu.Unlock()
	id := "tnl-r2000000000000000s"
	ended := make(chan struct{})
	pd := &pendingDial{done: make(chan struct{}), end: func() { closeOnce(ended) }, chosen: make(chan struct{})}
	req := &request{id: "req-" + id, tunnelID: id, at: time.Now(), sourceIP: "127.0.0.1",
		endpoint: store.Endpoint{EndpointID: "eice-0123456789abcdef0"}, addr: netip.MustParseAddr("10.0.0.5"), port: 22, duration: time.Hour}
	f.addDialing(req, "agent-1", time.Now(), pd)
	select {
	case <-ended:
	default:
		t.Fatal("a tunnel listed after Shutdown's Terminate still dials: Shutdown waits for its dial")
	}
	term := f.takeDialing(id) // what serveTunnel does once the dial returns
	if term == nil || term.Code != tunnelproto.CodeServerStop || closeCodeFor(term.Code) != wsframe.CloseGoingAway {
		t.Fatalf("the tunnel's end: %+v; want ServerShutdown (1001)", term)
	}
}
