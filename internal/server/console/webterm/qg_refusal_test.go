package webterm

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/server/audit"
	"github.com/postern/postern/internal/wire/tunnelproto"
)

// TestQGRefusalOnlyForAFailedOpen: the terminal tells the page of a
// refusal, after a tunnel closed before its SSH handshake, only when the
// trail shows the front door's record of a tunnel ended at its dial
// (failedOpen): a CloseTunnel with no byte either way, the close code a
// failed dial gets (1011) and a dial failure's reason, whose message is
// the close frame's reason the terminal read (all of it, or the 123 bytes
// a close frame holds). A zero-byte close of a tunnel that was open (the
// target reset it, its agent was lost, it was revoked, the server
// stopped, a recovery closed it) is the end of a session, not a refusal
// (before, any zero-byte close whose reason was not Normal was one).
func TestQGRefusalOnlyForAFailedOpen(t *testing.T) {
	ctx := context.Background()
	r := newRefusalTrail(t, "ASIAQGTESTKEY0000001")
	long := "Could not connect to 10.0.0.5:22: " + strings.Repeat("a very long explanation ", 10)

	type closeRec struct {
		reason, message string
		code            int
		in, out         int64
	}
	cases := []struct {
		name     string
		refused  string // errorCode of an attempt refused outright
		close    *closeRec
		seen     client.ClosedError // the close the terminal read
		want     bool
		wantCode string
	}{
		{name: "dial refused by the target",
			close: &closeRec{tunnelproto.CodeRefused, "Connection refused by 10.0.0.5:22", 1011, 0, 0},
			seen:  client.ClosedError{Code: 1011, Reason: "Connection refused by 10.0.0.5:22"}, want: true, wantCode: tunnelproto.CodeRefused},
		{name: "dial failed, its message longer than a close frame holds",
			close: &closeRec{tunnelproto.CodeUnreachable, long, 1011, 0, 0},
			seen:  client.ClosedError{Code: 1011, Reason: long[:123]}, want: true, wantCode: tunnelproto.CodeUnreachable},
		{name: "dial failed without a code of the agent's",
			close: &closeRec{tunnelproto.CodeInternal, "the agent failed", 1011, 0, 0},
			seen:  client.ClosedError{Code: 1011, Reason: "the agent failed"}, want: true, wantCode: tunnelproto.CodeInternal},
		{name: "refused outright", refused: "AccessDeniedException", want: true, wantCode: "AccessDeniedException"},
		{name: "open tunnel, the target reset it before a byte",
			close: &closeRec{tunnelproto.CodeTargetReset, "The target reset the connection", 1011, 0, 0},
			seen:  client.ClosedError{Code: 1011, Reason: "The target reset the connection"}},
		{name: "open tunnel, its agent lost before a byte",
			close: &closeRec{tunnelproto.CodeAgentLost, "The endpoint agent's link was lost", 1011, 0, 0},
			seen:  client.ClosedError{Code: 1011, Reason: "The endpoint agent's link was lost"}},
		{name: "open tunnel, revoked before a byte",
			close: &closeRec{tunnelproto.CodeRevoked, "Access was revoked", 1008, 0, 0},
			seen:  client.ClosedError{Code: 1008, Reason: "Access was revoked"}},
		{name: "open tunnel, the server stopped before a byte",
			close: &closeRec{tunnelproto.CodeServerStop, "The Postern server is shutting down", 1001, 0, 0},
			seen:  client.ClosedError{Code: 1001, Reason: "The Postern server is shutting down"}},
		{name: "open tunnel, closed by recovery",
			close: &closeRec{"ReplicaLost", "closed by recovery", 1006, 0, 0},
			seen:  client.ClosedError{Code: 1011, Reason: "Connection refused by 10.0.0.5:22"}},
		{name: "open tunnel, a normal close",
			close: &closeRec{"Normal", "", 1000, 0, 0},
			seen:  client.ClosedError{Code: 1000}},
		{name: "a dial failure's record, another close read",
			close: &closeRec{tunnelproto.CodeRefused, "Connection refused by 10.0.0.5:22", 1011, 0, 0},
			seen:  client.ClosedError{Code: 1011, Reason: "The tunnel could not be recorded; try again."}},
		{name: "a dial failure's record, bytes carried",
			close: &closeRec{tunnelproto.CodeRefused, "Connection refused by 10.0.0.5:22", 1011, 21, 0},
			seen:  client.ClosedError{Code: 1011, Reason: "Connection refused by 10.0.0.5:22"}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			requestID := fmt.Sprintf("qg-request-%d", i)
			tunnelID := fmt.Sprintf("tnl-0qg%013d", i)
			if c.refused != "" {
				rec := audit.OpenTunnel(r.meta(requestID), audit.OpenTunnelParams{}, "", audit.OpenTunnelData{}, c.refused, "refused by the test")
				if err := r.w.Write(ctx, rec, "", ""); err != nil {
					t.Fatal(err)
				}
			} else {
				r.openAndClose(t, requestID, audit.CloseDetails{TunnelID: tunnelID, Reason: c.close.reason, CloseCode: c.close.code,
					Message: c.close.message, BytesIn: c.close.in, BytesOut: c.close.out})
			}
			seen := c.seen
			code, _, ok := r.term.refusal(ctx, r.caller, requestID, r.since, &seen)
			if ok != c.want || code != c.wantCode {
				t.Fatalf("refusal: %q, %v; want %q, %v", code, ok, c.wantCode, c.want)
			}
		})
	}
}
