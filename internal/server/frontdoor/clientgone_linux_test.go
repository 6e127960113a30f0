//go:build linux

package frontdoor_test

import (
	"context"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/gobwas/ws"

	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/server/config"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// TestClientGoneEndsAHangingDial: a client that leaves after its 101
// while the agent's dial still hangs (the target's accept queue is full:
// listenNoBacklog) ends that dial at once. Its attempt is recorded once,
// as one that did not open (errorCode ClientGone; no successful OpenTunnel,
// no CloseTunnel), well before the dial's own 10 s timeout, and the
// endpoint's only slot is free again: the next attempt is answered 101,
// not 429. Whether the client closes its TLS connection (close_notify,
// then its FIN: bytes stand before the FIN in the server's socket) or
// resets it. Before, the dial ran to its timeout while the slot was held,
// and a dial that then succeeded wrote OpenTunnel + CloseTunnel ClientGone.
func TestClientGoneEndsAHangingDial(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{Config: func(c *config.Server) {
		allPorts(c)
		c.Tunnel.ConcurrencyPerEndpoint = 1
	}})
	ctx := context.Background()
	ln, port := listenNoBacklog(t)
	filler, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer filler.Close()
	refusing := closedPort(t)
	cases := []struct {
		name  string
		leave func(tlsConn net.Conn, tcp *net.TCPConn)
	}{
		{"closes", func(c net.Conn, _ *net.TCPConn) { c.Close() }},
		{"resets", func(_ net.Conn, tcp *net.TCPConn) { _ = tcp.SetLinger(0); tcp.Close() }},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u, err := client.PresignURL(ctx, aws.Credentials(e.Admin), e.Region, e.Local(port), time.Now())
			if err != nil {
				t.Fatal(err)
			}
			var tcp *net.TCPConn
			d := ws.Dialer{TLSConfig: &tls.Config{RootCAs: e.Roots, ServerName: "localhost"},
				NetDial: func(ctx context.Context, n, _ string) (net.Conn, error) {
					c, err := net.Dial(n, e.Addr)
					if err == nil {
						tcp = c.(*net.TCPConn)
					}
					return c, err
				}}
			conn, _, _, err := d.Dial(ctx, u) // the 101 comes while the dial hangs
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			c.leave(conn, tcp)
			// Well under the dial request's 10 s timeout: woken by each
			// audit commit, no polling.
			e.WaitEvents(store.EventQuery{EventName: "OpenTunnel"}, time.Until(start.Add(7*time.Second)), func(evs []store.Event) bool {
				gone := 0
				for _, ev := range evs {
					if ev.ErrorCode == "ClientGone" {
						gone++
					}
				}
				return gone == i+1
			})
			// The slot was released before the record: the next attempt
			// gets it (and not 429), its dial refused by its target, so
			// that it leaves the slot free again once it is closed.
			tun, err := e.Dialer(e.Admin).Dial(ctx, e.Local(refusing))
			if err != nil {
				t.Fatalf("an attempt after the client left: %v (want the 101: the slot is free)", err)
			}
			defer tun.Close()
			closedWith(t, tun, 1011, "refused")
		})
	}
	// Each attempt is on record once, as one that did not open; no tunnel
	// opened, none closed.
	gone, refused := 0, 0
	for _, ev := range events(t, e, "OpenTunnel") {
		switch ev.ErrorCode {
		case "ClientGone":
			gone++
		case "ConnectionRefused":
			refused++
		default:
			t.Errorf("an OpenTunnel record with errorCode %q", ev.ErrorCode)
		}
	}
	if gone != len(cases) || refused != len(cases) {
		t.Fatalf("%d ClientGone and %d ConnectionRefused OpenTunnel records, want %d of each", gone, refused, len(cases))
	}
	if evs := events(t, e, "CloseTunnel"); len(evs) != 0 {
		t.Fatalf("%d CloseTunnel records, want none: no tunnel opened", len(evs))
	}
}
