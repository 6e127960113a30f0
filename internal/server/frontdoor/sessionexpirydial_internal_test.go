package frontdoor

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/server/identity"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/wire/tunnelproto"
	"github.com/postern/postern/internal/wire/wsframe"
)

// TestSessionExpiryEndsADialingTunnel: with tunnel.end_on_session_expiry,
// a tunnel whose role session expires while its dial runs (on record as
// open already) has its dial ended and closes before its first byte,
// Revoked, as an open tunnel of that session is revoked. Before, the
// expiry sweep looked at open tunnels only: the tunnel opened after its
// session had expired and carried bytes until the next sweep.
func TestSessionExpiryEndsADialingTunnel(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name    string
		expires time.Time
		ended   bool
	}{
		{name: "expired", expires: now.Add(-time.Second), ended: true},
		{name: "still valid", expires: now.Add(time.Hour), ended: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, _ := idleDoor(t, time.Hour)
			f.pinging = true // no sweeps: the test runs the expiry sweep itself
			const id = "tnl-0e0000000000000001"
			ended := make(chan struct{})
			pd := &pendingDial{done: make(chan struct{}), end: func() { closeOnce(ended) }, chosen: make(chan struct{})}
			p := &identity.Principal{Type: identity.TypeAssumedRole, ARN: "arn:aws:sts::123456789012:assumed-role/ops/alice",
				SessionIssued: now.Add(-time.Hour), SessionExpires: tc.expires}
			req := &request{id: "req-" + id, tunnelID: id, at: now, sourceIP: "127.0.0.1", principal: p,
				endpoint: store.Endpoint{EndpointID: "eice-0123456789abcdef0"}, addr: netip.MustParseAddr("10.0.0.5"), port: 22, duration: time.Hour}
			f.addDialing(req, "agent-1", now, pd)

			f.expireSessions(now)

			select {
			case <-ended:
				if !tc.ended {
					t.Fatal("the dial of a tunnel whose session is still valid was ended")
				}
			default:
				if tc.ended {
					t.Fatal("the dial of a tunnel whose role session expired was not ended")
				}
			}
			term := f.takeDialing(id) // what serveTunnel does once the dial returns
			if !tc.ended {
				if term != nil {
					t.Fatalf("a valid session's dialing tunnel was ended: %+v", term)
				}
				return
			}
			if term == nil || term.Code != tunnelproto.CodeRevoked || !strings.Contains(term.Message, "role session") ||
				closeCodeFor(term.Code) != wsframe.ClosePolicyViolation {
				t.Fatalf("the dialing tunnel's end: %+v; want Revoked (1008) naming the expired role session", term)
			}
		})
	}
}
