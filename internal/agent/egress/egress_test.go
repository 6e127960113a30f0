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

		// IPv6: the VPC's prefixes only.
		{"v6 outside vpc", Policy{VPC: vpc}, "fd12:3457::10", "outside the endpoint's VPC"},
		{"v6 global outside vpc", Policy{VPC: vpc}, "2001:db8::1", "outside"},
		{"v6 in a /56 vpc", Policy{VPC: []netip.Prefix{netip.MustParsePrefix("fd9a:1b2c:3d4e:5600::/56")}}, "fd9a:1b2c:3d4e:56ff::1", ""},
		{"v6 link-local even in vpc", Policy{VPC: []netip.Prefix{netip.MustParsePrefix("::/0")}}, "fe80::1", "link-local"},
		{"v6 multicast all nodes", Policy{VPC: []netip.Prefix{netip.MustParsePrefix("::/0")}}, "ff02::1", "multicast"},
		{"v6 multicast global", Policy{VPC: []netip.Prefix{netip.MustParsePrefix("::/0")}}, "ff0e::1", "multicast"},
		{"v6 multicast interface-local", Policy{VPC: []netip.Prefix{netip.MustParsePrefix("::/0")}}, "ff01::1", "multicast"},
		{"v6 unspecified", Policy{VPC: []netip.Prefix{netip.MustParsePrefix("::/0")}}, "::", "unspecified"},
		{"v6 loopback allowed", Policy{VPC: []netip.Prefix{netip.MustParsePrefix("::1/128")}, AllowLoopback: true}, "::1", ""},
		{"v6 own host", Policy{VPC: vpc, HostAddrs: []netip.Addr{netip.MustParseAddr("fd12:3456::5")}}, "fd12:3456::5", "own host"},

		// IPv4-mapped forms are the IPv4 address.
		{"v4-mapped outside vpc", Policy{VPC: vpc}, "::ffff:10.1.0.1", "outside"},
		{"v4-mapped metadata", Policy{VPC: []netip.Prefix{netip.MustParsePrefix("::/0"), netip.MustParsePrefix("0.0.0.0/0")}}, "::ffff:169.254.169.254", "metadata"},
		{"v4-mapped loopback", Policy{VPC: []netip.Prefix{netip.MustParsePrefix("::/0"), netip.MustParsePrefix("0.0.0.0/0")}}, "::ffff:127.0.0.1", "loopback"},
		{"v4-mapped link-local", Policy{VPC: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}}, "::ffff:169.254.1.1", "link-local"},
		{"v4-mapped broadcast", Policy{VPC: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}}, "::ffff:255.255.255.255", "broadcast"},
		{"v4-mapped own host", Policy{VPC: vpc, HostAddrs: host}, "::ffff:10.0.0.5", "own host"},

		// Other IPv6 forms carrying a forbidden IPv4 address, even inside
		// a VPC that holds them (::/0), and even where loopback and the
		// host are allowed.
		{"v4-compatible metadata", Policy{VPC: []netip.Prefix{netip.MustParsePrefix("::/0")}}, "::169.254.169.254", "metadata"},
		{"v4-compatible loopback", Policy{VPC: []netip.Prefix{netip.MustParsePrefix("::/0")}, AllowLoopback: true}, "::127.0.0.1", "loopback"},
		{"6to4 metadata", Policy{VPC: []netip.Prefix{netip.MustParsePrefix("::/0")}}, "2002:a9fe:a9fe::1", "metadata"},
		{"6to4 loopback", Policy{VPC: []netip.Prefix{netip.MustParsePrefix("::/0")}, AllowLoopback: true}, "2002:7f00:1::", "loopback"},
		{"6to4 link-local", Policy{VPC: []netip.Prefix{netip.MustParsePrefix("::/0")}}, "2002:a9fe:101::", "link-local"},
		{"6to4 multicast", Policy{VPC: []netip.Prefix{netip.MustParsePrefix("::/0")}}, "2002:e000:1::", "multicast"},
		{"6to4 own host", Policy{VPC: []netip.Prefix{netip.MustParsePrefix("::/0")}, HostAddrs: host, AllowHost: true}, "2002:a00:5::", "own host"},
		{"nat64 metadata", Policy{VPC: []netip.Prefix{netip.MustParsePrefix("::/0")}}, "64:ff9b::169.254.169.254", "metadata"},
		{"nat64 loopback", Policy{VPC: []netip.Prefix{netip.MustParsePrefix("::/0")}, AllowLoopback: true}, "64:ff9b::7f00:1", "loopback"},
		{"nat64 unspecified", Policy{VPC: []netip.Prefix{netip.MustParsePrefix("::/0")}}, "64:ff9b::", "unspecified"},
		{"nat64 broadcast", Policy{VPC: []netip.Prefix{netip.MustParsePrefix("::/0")}}, "64:ff9b::255.255.255.255", "broadcast"},
		{"nat64 own host", Policy{VPC: []netip.Prefix{netip.MustParsePrefix("::/0")}, HostAddrs: host}, "64:ff9b::10.0.0.5", "own host"},
		{"nat64 local-use metadata", Policy{VPC: []netip.Prefix{netip.MustParsePrefix("::/0")}}, "64:ff9b:1:a9fe:a9:fe00::", "metadata"},
		{"teredo metadata", Policy{VPC: []netip.Prefix{netip.MustParsePrefix("::/0")}}, "2001:0:4136:e378:8000:63bf:5601:5601", "metadata"},
		{"nat64 of a vpc address in vpc", Policy{VPC: []netip.Prefix{netip.MustParsePrefix("64:ff9b::/96")}}, "64:ff9b::10.0.1.10", ""},
		{"nat64 outside vpc", Policy{VPC: vpc}, "64:ff9b::10.0.1.10", "outside"},
		{"6to4 outside vpc", Policy{VPC: vpc}, "2002:a00:10a::", "outside"},
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
