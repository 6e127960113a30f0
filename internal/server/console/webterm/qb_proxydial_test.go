package webterm

import (
	"context"
	"fmt"
	"testing"

	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/server/audit"
	"github.com/postern/postern/internal/wire/tunnelproto"
)

// TestQBProxyHeaderDialFailureIsARefusal (R1's
// TestR1ProxyHeaderDialFailureIsARefusal, for the agent's own code): a
// dial whose agent could not send the PROXY protocol header
// (agent/targetdial: ProxyHeaderFailed) is a refusal on the page, in
// both shapes the trail can give it: the front door answers a PROXY dial
// before the 101, so it is an OpenTunnel record with that errorCode; were
// it answered after, a zero-byte CloseTunnel with that reason and 1011.
// An older agent's TargetError for the same failure, after the 101, reads
// as the end of an open tunnel, as before (its records cannot tell it
// from one).
func TestQBProxyHeaderDialFailureIsARefusal(t *testing.T) {
	ctx := context.Background()
	r := newRefusalTrail(t, "ASIAQBTESTKEY0000001")
	msg := "Could not send the PROXY protocol header to 10.0.0.5:22: write tcp 10.0.0.2:41234->10.0.0.5:22: write: connection reset by peer"
	cases := []struct {
		name     string
		refused  string // errorCode of an attempt refused before the 101
		reason   string // else the CloseTunnel's reason (1011, no byte, msg)
		want     bool
		wantCode string
	}{
		{name: "refused before the 101", refused: tunnelproto.CodeProxyHeaderFailed, want: true, wantCode: tunnelproto.CodeProxyHeaderFailed},
		{name: "closed after the 101", reason: tunnelproto.CodeProxyHeaderFailed, want: true, wantCode: tunnelproto.CodeProxyHeaderFailed},
		{name: "an older agent's TargetError, refused before the 101", refused: tunnelproto.CodeTargetError, want: true, wantCode: tunnelproto.CodeTargetError},
		{name: "an older agent's TargetError, closed after the 101", reason: tunnelproto.CodeTargetError},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			requestID := fmt.Sprintf("qb-request-%d", i)
			tunnelID := fmt.Sprintf("tnl-0qb%013d", i)
			if c.refused != "" {
				rec := audit.OpenTunnel(r.meta(requestID), audit.OpenTunnelParams{}, "", audit.OpenTunnelData{}, c.refused, msg)
				if err := r.w.Write(ctx, rec, "", ""); err != nil {
					t.Fatal(err)
				}
			} else {
				r.openAndClose(t, requestID, audit.CloseDetails{TunnelID: tunnelID, Reason: c.reason, CloseCode: 1011, Message: msg})
			}
			seen := client.ClosedError{Code: 1011, Reason: msg[:123]}
			code, got, ok := r.term.refusal(ctx, r.caller, requestID, r.since, &seen)
			if ok != c.want || code != c.wantCode || (ok && got != msg) {
				t.Fatalf("refusal: %q %q, %v; want %q, %v and the whole message", code, got, ok, c.wantCode, c.want)
			}
		})
	}
}
