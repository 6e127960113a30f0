// Package egress is the endpoint agent's own guard on what it may dial:
// only addresses inside its VPC's CIDRs, never link-local or instance
// metadata addresses, never multicast or unspecified addresses, and never
// the agent's own host (loopback or its interfaces' addresses) unless the
// operator allows it. The server checks a tunnel's target before asking an
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
	for _, pfx := range p.VPC {
		if pfx.Contains(a) {
			return nil
		}
	}
	return fmt.Errorf("%s is outside the endpoint's VPC", addr)
}
