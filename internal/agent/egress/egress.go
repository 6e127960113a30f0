// Package egress is the endpoint agent's own guard on what it may dial:
// only addresses inside its VPC's CIDRs, never link-local or instance
// metadata addresses, never multicast or unspecified addresses, and never
// the agent's own host (loopback or its interfaces' addresses) unless the
// operator allows it. IPv6 forms that carry an IPv4 address (IPv4-mapped
// ::ffff:a.b.c.d, IPv4-compatible ::a.b.c.d, 6to4 2002::/16, NAT64
// 64:ff9b::/96 and 64:ff9b:1::/48, Teredo 2001::/32) are refused when the
// IPv4 address inside is one of the forbidden ones (loopback and the
// host's own addresses included, even where allowed), whatever the VPC
// holds: a translator on the path would carry them there. The server checks a tunnel's target before asking an
// agent; the agent checks again, so that a compromised or misconfigured
// server cannot make it reach outside its network. The package is pure.
package egress

import (
	"fmt"
	"net/netip"
)

// Policy decides which addresses an agent may dial.
type Policy struct {
	// VPC lists the networks of the agent's VPC; an address must lie in
	// one of them.
	VPC []netip.Prefix
	// AllowLoopback permits loopback addresses (127.0.0.0/8, ::1) when the
	// VPC contains them: the one-machine run, where the agent serves the
	// machine it runs on.
	AllowLoopback bool
	// AllowHost permits the addresses of the agent's own interfaces.
	AllowHost bool
	// HostAddrs are the agent's own interface addresses.
	HostAddrs []netip.Addr
}

// metadata lists the instance-metadata addresses clouds use (AWS IMDS on
// IPv4 and IPv6, and the GCP/Azure/OpenStack ones share 169.254.169.254).
var metadata = []netip.Addr{
	netip.MustParseAddr("169.254.169.254"),
	netip.MustParseAddr("169.254.170.2"), // ECS task metadata
	netip.MustParseAddr("fd00:ec2::254"),
	netip.MustParseAddr("100.100.100.200"), // Alibaba Cloud
}

// Check returns nil when addr may be dialled, or an error saying why not.
func (p Policy) Check(addr netip.Addr) error {
	if !addr.IsValid() {
		return fmt.Errorf("not an IP address")
	}
	if addr.Zone() != "" {
		return fmt.Errorf("address %s has a zone", addr)
	}
	a := addr.Unmap()
	if err := p.special(addr, a); err != nil {
		return err
	}
	if v4, form, ok := embeddedIPv4(a); ok {
		// Through a translator the agent's loopback and own addresses are
		// never what the operator allowed: refused here in any case.
		strict := Policy{HostAddrs: p.HostAddrs}
		if err := strict.special(addr, v4); err != nil {
			return fmt.Errorf("%w (the %s form of %s)", err, form, v4)
		}
	}
	for _, pfx := range p.VPC {
		if pfx.Contains(a) {
			return nil
		}
	}
	return fmt.Errorf("%s is outside the endpoint's VPC", addr)
}

// IsMetadata reports whether a (unmapped) is an instance-metadata address.
func IsMetadata(a netip.Addr) bool {
	a = a.Unmap()
	for _, m := range metadata {
		if a == m {
			return true
		}
	}
	return false
}

// special refuses a, the address addr stands for, when it is one no agent
// may dial whatever its VPC: metadata, unspecified, link-local, multicast,
// broadcast, loopback and the agent's own addresses (unless allowed).
func (p Policy) special(addr, a netip.Addr) error {
	for _, m := range metadata {
		if a == m {
			return fmt.Errorf("%s is an instance metadata address", addr)
		}
	}
	switch {
	case a.IsUnspecified():
		return fmt.Errorf("%s is the unspecified address", addr)
	case a.IsLinkLocalUnicast():
		return fmt.Errorf("%s is a link-local address", addr)
	case a.IsMulticast(), a.IsLinkLocalMulticast(), a.IsInterfaceLocalMulticast():
		return fmt.Errorf("%s is a multicast address", addr)
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return fmt.Errorf("%s is the broadcast address", addr)
	case a.IsLoopback() && !p.AllowLoopback:
		return fmt.Errorf("%s is a loopback address of the agent's host", addr)
	}
	if !p.AllowHost && !a.IsLoopback() {
		for _, h := range p.HostAddrs {
			if h.Unmap() == a {
				return fmt.Errorf("%s is an address of the agent's own host", addr)
			}
		}
	}
	return nil
}

// Prefixes of the IPv6 forms that carry an IPv4 address.
var (
	compat4   = netip.MustParsePrefix("::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	nat64L    = netip.MustParsePrefix("64:ff9b:1::/48") // RFC 8215 local use
	teredo    = netip.MustParsePrefix("2001::/32")
)

// embeddedIPv4 returns the IPv4 address an IPv6 address a carries, and the
// form's name, for the IPv4-compatible, 6to4, NAT64 and Teredo forms (a is
// already unmapped, so IPv4-mapped addresses are IPv4 here). :: and ::1
// are themselves, not IPv4-compatible forms.
func embeddedIPv4(a netip.Addr) (netip.Addr, string, bool) {
	if !a.Is6() {
		return netip.Addr{}, "", false
	}
	b := a.As16()
	last := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{b[i], b[i+1], b[i+2], b[i+3]}) }
	switch {
	case compat4.Contains(a):
		if a.IsUnspecified() || a.IsLoopback() {
			return netip.Addr{}, "", false
		}
		return last(12), "IPv4-compatible", true
	case sixToFour.Contains(a):
		return last(2), "6to4", true
	case nat64.Contains(a):
		return last(12), "NAT64", true
	case nat64L.Contains(a):
		// RFC 6052 with a /48 prefix: the IPv4 address is bits 48-79
		// and 88-103 (octet 8 is always zero).
		return netip.AddrFrom4([4]byte{b[6], b[7], b[9], b[10]}), "NAT64", true
	case teredo.Contains(a):
		// The client's address is the last 32 bits, inverted.
		return netip.AddrFrom4([4]byte{^b[12], ^b[13], ^b[14], ^b[15]}), "Teredo", true
	}
	return netip.Addr{}, "", false
}
