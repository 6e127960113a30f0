//go:build linux

package frontdoor_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/wire/tunnelproto"
)

// TestR1TerminateDuringTheDial: a tunnel is on record as open (its
// OpenTunnel record, with its tunnel id, commits while the agent dials),
// so TerminateTunnel must find it while its dial still runs (the target's
// accept queue is full: listenNoBacklog), and the tunnel must never carry
// a byte: its dial ends, its CloseTunnel says Revoked with no bytes and
// the client gets 1008 with the terminator's name, even once the target
// would accept the dial. ListTunnels shows it meanwhile. Before, the
// front door listed only tunnels whose dial had answered: TerminateTunnel
// answered ResourceNotFoundException and the tunnel then opened and
// carried bytes, a revocation the operator believed impossible to miss.
func TestR1TerminateDuringTheDial(t *testing.T) {
	e := startAll(t)
	ctx := context.Background()
	ln, port := listenNoBacklog(t)
	filler, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer filler.Close()
	// The target: once freed, every connection it accepts (the filler
	// first) is counted and echoed.
	accepted := make(chan int, 8)
	free := make(chan struct{})
	go func() {
		<-free
		for n := 1; ; n++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- n
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	tun, err := e.Dialer(e.Admin).Dial(ctx, e.Local(port)) // the 101 comes while the dial hangs
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Close()
	// What an operator sees: the OpenTunnel record, while the dial hangs.
	open := e.WaitEvents(store.EventQuery{EventName: "OpenTunnel"}, 7*time.Second, func(evs []store.Event) bool { return len(evs) == 1 })[0]
	var rec struct {
		D struct {
			TunnelID string `json:"tunnelId"`
		} `json:"additionalEventData"`
	}
	if err := json.Unmarshal([]byte(open.Body), &rec); err != nil || rec.D.TunnelID == "" {
		t.Fatalf("OpenTunnel record %s: no tunnel id (%v)", open.Body, err)
	}
	id := rec.D.TunnelID
	if out, err := e.CallJSON(e.Admin, "ListTunnels", map[string]string{}); err != nil || !strings.Contains(out, id) {
		t.Errorf("ListTunnels while the dial runs: %s %v; want %s listed", out, err, id)
	}
	out, err := e.CallJSON(e.Admin, "TerminateTunnel", map[string]string{"TunnelId": id})
	terminated := err == nil && strings.Contains(out, `"Terminated":true`)
	// The target's queue has room again (the filler is accepted): a dial
	// still running connects at its next SYN.
	close(free)
	<-accepted
	if !terminated {
		// Show what the miss costs: the tunnel opens and carries bytes.
		opened := "the tunnel did not open within 7 s"
		select {
		case <-accepted:
			_ = tun.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, werr := tun.Write([]byte("after")); werr == nil {
				buf := make([]byte, 5)
				if _, rerr := io.ReadFull(tun, buf); rerr == nil {
					opened = "the tunnel then opened and echoed " + string(buf)
				}
			}
		case <-time.After(7 * time.Second):
		}
		t.Fatalf("TerminateTunnel %s while its dial ran: %s %v; %s", id, out, err, opened)
	}
	closedWith(t, tun, 1008, "terminated by")
	evs := e.WaitEvents(store.EventQuery{EventName: "CloseTunnel"}, 7*time.Second, func(evs []store.Event) bool { return len(evs) == 1 })
	if d := readClose(t, evs[0]); d.TunnelID != id || d.Reason != "Revoked" || d.CloseCode != 1008 || d.BytesIn != 0 || d.BytesOut != 0 ||
		!strings.Contains(d.Message, "terminated by") || d.OpenEventID != open.EventID {
		t.Fatalf("CloseTunnel %+v; want tunnel %s Revoked, 1008, no bytes, closing %s", d, id, open.EventID)
	}
	if j := journalled(t, e); len(j) != 0 {
		t.Fatalf("the journal still shows %v open", j)
	}
	if out, err := e.CallJSON(e.Admin, "ListTunnels", map[string]string{}); err != nil || !strings.Contains(out, `"Tunnels":[]`) {
		t.Fatalf("ListTunnels after the close: %s %v; want none", out, err)
	}
}

// TestR1ShutdownDuringTheDial: the front door's Shutdown ends a tunnel
// whose dial still runs (the target's accept queue is full) at once,
// before its first byte: CloseTunnel ServerStop with no bytes, 1001 to the
// client, and Shutdown returns without waiting for the dial. Before, its
// Terminate did not see the tunnel: Shutdown waited for the dial (up to
// its 10 s timeout; here beyond Shutdown's 7 s) and the tunnel would have
// opened first, to be ended once open.
func TestR1ShutdownDuringTheDial(t *testing.T) {
	e := startAll(t)
	ctx := context.Background()
	ln, port := listenNoBacklog(t)
	filler, err := net.Dial("tcp", ln.Addr().String())
	must(t, err)
	defer filler.Close()
	tun, err := e.Dialer(e.Admin).Dial(ctx, e.Local(port)) // the 101 comes while the dial hangs
	must(t, err)
	defer tun.Close()
	e.WaitEvents(store.EventQuery{EventName: "OpenTunnel"}, 7*time.Second, func(evs []store.Event) bool { return len(evs) == 1 })
	// The client reads meanwhile, so that it answers the close frame at
	// once (Shutdown waits for that, up to CloseGrace).
	read := make(chan error, 1)
	go func() { _, err := io.Copy(io.Discard, tun); read <- err }()
	sctx, cancel := context.WithTimeout(ctx, 7*time.Second)
	defer cancel()
	if err := e.Server.FrontDoor().Shutdown(sctx); err != nil {
		t.Fatalf("Shutdown with a tunnel dialling: %v (it waited for the dial)", err)
	}
	var ce *client.ClosedError
	if err := <-read; !errors.As(err, &ce) || ce.Code != 1001 || !strings.Contains(ce.Reason, "shutting down") {
		t.Fatalf("the tunnel ended with %v, want 1001 shutting down", err)
	}
	cl := events(t, e, "CloseTunnel")
	if len(cl) != 1 {
		t.Fatalf("%d CloseTunnel records once Shutdown returned, want 1", len(cl))
	}
	if d := readClose(t, cl[0]); d.Reason != tunnelproto.CodeServerStop || d.CloseCode != 1001 || d.BytesIn != 0 || d.BytesOut != 0 {
		t.Fatalf("CloseTunnel %+v; want %s, 1001, no bytes", d, tunnelproto.CodeServerStop)
	}
}
