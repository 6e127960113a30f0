package targetdial

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/agent/egress"
	"github.com/postern/postern/internal/wire/tunnelproto"
)

// TestDialPreserveRefusals: requests that cannot be served from the
// client's address are refused with CodePreserveUnavailable (or as
// malformed), never dialled from the agent's own address.
func TestDialPreserveRefusals(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	policy := egress.Policy{AllowLoopback: true, VPC: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("198.51.100.0/24")},
		HostAddrs: []netip.Addr{netip.MustParseAddr("192.0.2.5")}}
	tests := []struct {
		name   string
		client string
		code   string
		says   string
	}{
		{"IPv6 client, IPv4 target", "[2001:db8::7]:40000", tunnelproto.CodePreserveUnavailable, "different IP versions"},
		{"no client", "", tunnelproto.CodeBadRequest, "client"},
		{"a client inside the VPC", "198.51.100.9:40000", tunnelproto.CodePreserveUnavailable, "inside the endpoint's VPC"},
		{"a client at the agent's own address", "192.0.2.5:40000", tunnelproto.CodePreserveUnavailable, "agent host's own address"},
		{"a multicast client", "224.0.0.1:40000", tunnelproto.CodePreserveUnavailable, "not a unicast address"},
		{"an unspecified client", "0.0.0.0:40000", tunnelproto.CodePreserveUnavailable, "not a unicast address"},
		{"a link-local client", "169.254.1.1:40000", tunnelproto.CodePreserveUnavailable, "not a unicast address"},
		// Metadata addresses outside link-local space: never a source.
		{"a metadata client (Alibaba Cloud)", "100.100.100.200:40000", tunnelproto.CodePreserveUnavailable, "metadata address"},
		{"an IPv4-mapped client inside the VPC", "[::ffff:198.51.100.9]:40000", tunnelproto.CodePreserveUnavailable, "inside the endpoint's VPC"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := tunnelproto.DialRequest{TunnelID: "tnl-1", Address: "127.0.0.1", Port: port, Client: tc.client, PreserveClientIP: true}
			conn, res := Dial(context.Background(), policy, req, 5*time.Second)
			if conn != nil || res.OK || res.Code != tc.code || !strings.Contains(res.Message, tc.says) {
				t.Fatalf("Dial = %v %+v; want %s saying %q", conn, res, tc.code, tc.says)
			}
		})
	}
	select {
	case c := <-accepted:
		c.Close()
		t.Fatalf("the target was connected (from %s) although the dial was refused", c.RemoteAddr())
	default:
	}
	// The plain dial still works (and from the agent's address).
	conn, res := Dial(context.Background(), policy, tunnelproto.DialRequest{TunnelID: "tnl-1", Address: "127.0.0.1", Port: port}, 5*time.Second)
	if conn == nil || !res.OK {
		t.Fatalf("plain dial: %+v", res)
	}
	conn.Close()
}
