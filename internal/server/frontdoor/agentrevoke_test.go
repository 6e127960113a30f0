package frontdoor_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/agent"
	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// Revoking a remote endpoint agent (revoke-endpoint-agent) ends its open
// tunnels as a revocation, not as a network failure: close code 1008 with
// "Access was revoked: …" naming the agent and who revoked it, and a
// CloseTunnel record with reason Revoked. Whether the tunnel was idle or
// sending when the link went does not matter.
func TestRevokedAgentClosesTunnelsAsRevoked(t *testing.T) {
	for _, sending := range []bool{false, true} {
		name := "idle tunnel"
		if sending {
			name = "tunnel sending"
		}
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			e := startAll(t)
			_, _, ep, _ := e.Network("127.0.0.0/16", "127.0.0.0/24")
			a := e.StartAgent(ep, agent.Config{AllowLoopback: true, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
			e.WaitConnected(a.ID.AgentID, 10*time.Second)
			echo := tunneltest.Echo(t)
			tun, err := e.Dialer(e.Admin).Dial(ctx, client.Target{EndpointID: ep, DNSName: e.DNSName(), PrivateIP: "127.0.0.1", RemotePort: echo.Port})
			must(t, err)
			defer tun.Close()
			roundTrip(t, tun, "before")
			end := tunneltest.WatchEnd(tun)
			stop := make(chan struct{})
			defer close(stop)
			if sending {
				go func() {
					for i := 0; i < 100000; i++ { // bounded; the tunnel ends long before
						select {
						case <-stop:
							return
						default:
						}
						if _, err := tun.Write([]byte("bytes while the agent is revoked")); err != nil {
							return
						}
						time.Sleep(time.Millisecond)
					}
				}()
			}
			start := time.Now()
			_, err = e.Call(e.Admin, "RevokeEndpointAgent", map[string]string{"AgentId": a.ID.AgentID})
			must(t, err)
			reason, _ := end.Within(t, start, time.Second, 1008, "Access was revoked: the endpoint agent "+a.ID.AgentID+" was revoked by arn:")
			ev := waitEvent(t, e, "CloseTunnel", 1)[0]
			var rec struct {
				ServiceEventDetails struct {
					Reason, Message string
					CloseCode       int
				}
			}
			must(t, json.Unmarshal([]byte(ev.Body), &rec))
			d := rec.ServiceEventDetails
			if d.Reason != "Revoked" || d.CloseCode != 1008 || d.Message != reason || !strings.Contains(d.Message, "revoked") {
				t.Fatalf("CloseTunnel record %+v; want reason Revoked, code 1008 and the message %q", d, reason)
			}
		})
	}
}
