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
// listenNoBacklog) ends that dial at once. Its tunnel, on record as open
// (the OpenTunnel record commits while the agent dials), is closed on
// record (CloseTunnel ClientGone, no byte) well before the dial's own 10 s
// timeout, and the endpoint's only slot is free again: the next attempt
// is answered 101, not 429. Whether the client closes its TLS connection (close_notify,
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
			e.WaitEvents(store.EventQuery{EventName: "CloseTunnel"}, time.Until(start.Add(7*time.Second)), func(evs []store.Event) bool {
				gone := 0
				for _, ev := range evs {
					if readClose(t, ev).Reason == "ClientGone" {
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
	// Each attempt is on record as a tunnel that opened (OpenTunnel
	// without errorCode) and closed before its first byte, with why.
	if evs := events(t, e, "OpenTunnel"); len(evs) != 2*len(cases) {
		t.Fatalf("%d OpenTunnel records, want %d", len(evs), 2*len(cases))
	}
	for _, ev := range events(t, e, "OpenTunnel") {
		if ev.ErrorCode != "" {
			t.Errorf("an OpenTunnel record with errorCode %q", ev.ErrorCode)
		}
	}
	gone, refused := 0, 0
	for _, ev := range events(t, e, "CloseTunnel") {
		switch d := readClose(t, ev); {
		case d.BytesIn != 0 || d.BytesOut != 0:
			t.Errorf("CloseTunnel %+v: bytes flowed", d)
		case d.Reason == "ClientGone":
			gone++
		case d.Reason == "ConnectionRefused":
			refused++
		default:
			t.Errorf("a CloseTunnel record with reason %q", d.Reason)
		}
	}
	if gone != len(cases) || refused != len(cases) {
		t.Fatalf("%d ClientGone and %d ConnectionRefused CloseTunnel records, want %d of each", gone, refused, len(cases))
	}
}
