package frontdoor

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/wire/tunnelproto"
	"github.com/postern/postern/internal/wire/wsframe"
)

// Two ends racing (the client's close and Terminate, a revocation and
// the maximum duration, the target's EOF and Terminate) leave one
// CloseTunnel record, whose reason and code are the outcome decided
// first, and a client that reads gets the close frame with that code.
func TestR6RacingEndsRecordTheDecidedOutcomeOnce(t *testing.T) {
	type ender func(f *FrontDoor, tun *tunnel, s *idleStream, client func() error)
	terminate := func(f *FrontDoor, _ *tunnel, _ *idleStream, _ func() error) {
		f.Terminate(func(TunnelInfo) bool { return true }, wsframe.CloseGoingAway, "TestEnd", "ended by the test")
	}
	cases := []struct {
		name string
		a, b ender
	}{
		{"client close vs Terminate", func(_ *FrontDoor, _ *tunnel, _ *idleStream, client func() error) { _ = client() }, terminate},
		{"revocation vs maximum duration", func(_ *FrontDoor, tun *tunnel, _ *idleStream, _ func() error) {
			tun.revoke("the test's policy was detached")
		}, func(_ *FrontDoor, tun *tunnel, _ *idleStream, _ func() error) {
			tun.finish(wsframe.ClosePolicyViolation, tunnelproto.CodeMaxDuration, "max", true)
		}},
		{"target EOF vs Terminate", func(_ *FrontDoor, tun *tunnel, _ *idleStream, _ func() error) {
			tun.mu.Lock()
			tun.targetEOF = true
			tun.mu.Unlock()
			tun.finish(wsframe.CloseNormal, "Normal", "", false)
		}, terminate},
	}
	for ci, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for i := range 6 {
				f, st := idleDoor(t, time.Hour)
				id := fmt.Sprintf("tnl-0r60000000race%d%03d", ci, i)
				s := newIdleStream()
				client, tun := openWith(t, f, id, i%2 == 0, nil, s)
				sendClose := func() error {
					return ws.WriteFrame(client, ws.MaskFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))))
				}
				var wg sync.WaitGroup
				wg.Add(2)
				go func() { defer wg.Done(); c.a(f, tun, s, sendClose) }()
				go func() { defer wg.Done(); c.b(f, tun, s, sendClose) }()
				wg.Wait()
				code, _ := readClose(t, client)
				_ = sendClose() // answer our close (may cross it)
				client.Close()
				waitRuns(t, f)
				tun.mu.Lock()
				wantReason, wantCode := tun.reason, tun.code
				tun.mu.Unlock()
				if code != wantCode {
					t.Errorf("%s: the client read close %d, the decided code is %d (%s)", id, code, wantCode, wantReason)
				}
				evs, err := st.ListEvents(context.Background(), store.EventQuery{EventName: "CloseTunnel", TunnelID: id})
				if err != nil || len(evs) != 1 {
					t.Fatalf("%s: %d CloseTunnel records (%v), want 1", id, len(evs), err)
				}
				if reason, rcode := closeReason(t, st, id); reason != wantReason || rcode != wantCode {
					t.Errorf("%s: close record %q %d, decided %q %d", id, reason, rcode, wantReason, wantCode)
				}
			}
		})
	}
}
