package egress

import (
	"net/netip"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	vpc := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16"), netip.MustParsePrefix("fd12:3456::/48"),
		netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("169.254.0.0/16")}
	host := []netip.Addr{netip.MustParseAddr("10.0.0.5")}
	tests := []struct {
		name   string
		p      Policy
		addr   string
		reject string // substring of the error, "" when allowed
	}{
		{"in vpc", Policy{VPC: vpc, HostAddrs: host}, "10.0.1.10", ""},
		{"in vpc v6", Policy{VPC: vpc}, "fd12:3456::10", ""},
		{"v4-mapped in vpc", Policy{VPC: vpc}, "::ffff:10.0.1.10", ""},
		{"outside vpc", Policy{VPC: vpc}, "10.1.0.1", "outside the endpoint's VPC"},
		{"no vpc", Policy{}, "10.0.1.10", "outside"},
		{"metadata", Policy{VPC: vpc}, "169.254.169.254", "metadata"},
		{"metadata v6", Policy{VPC: []netip.Prefix{netip.MustParsePrefix("fd00::/8")}}, "fd00:ec2::254", "metadata"},
		{"link-local", Policy{VPC: vpc}, "169.254.1.1", "link-local"},
		{"link-local v6", Policy{VPC: []netip.Prefix{netip.MustParsePrefix("fe80::/10")}}, "fe80::1", "link-local"},
		{"loopback refused", Policy{VPC: vpc}, "127.0.0.1", "loopback"},
		{"loopback allowed", Policy{VPC: vpc, AllowLoopback: true}, "127.0.0.1", ""},
		{"loopback allowed but outside vpc", Policy{VPC: vpc[:1], AllowLoopback: true}, "127.0.0.1", "outside"},
		{"v6 loopback refused", Policy{VPC: []netip.Prefix{netip.MustParsePrefix("::/0")}}, "::1", "loopback"},
		{"own host", Policy{VPC: vpc, HostAddrs: host}, "10.0.0.5", "own host"},
		{"own host allowed", Policy{VPC: vpc, HostAddrs: host, AllowHost: true}, "10.0.0.5", ""},
		{"unspecified", Policy{VPC: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}}, "0.0.0.0", "unspecified"},
		{"broadcast", Policy{VPC: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}}, "255.255.255.255", "broadcast"},
		{"multicast", Policy{VPC: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}}, "224.0.0.1", "multicast"},
		{"zone", Policy{VPC: []netip.Prefix{netip.MustParsePrefix("::/0")}}, "fd00::1%eth0", "zone"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.Check(netip.MustParseAddr(tc.addr))
			switch {
			case tc.reject == "" && err != nil:
				t.Fatalf("Check(%s) = %v, want allowed", tc.addr, err)
			case tc.reject != "" && (err == nil || !strings.Contains(err.Error(), tc.reject)):
				t.Fatalf("Check(%s) = %v, want an error containing %q", tc.addr, err, tc.reject)
			}
		})
	}
	if err := (Policy{}).Check(netip.Addr{}); err == nil {
		t.Fatal("the zero address was allowed")
	}
}
