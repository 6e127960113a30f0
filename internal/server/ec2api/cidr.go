package ec2api

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// CIDR handling for VPCs, subnets and security-group rules. Blocks are kept
// in canonical form (no host bits, lowercase IPv6, shortest text), as AWS
// stores and shows them.

// Prefix-length bounds AWS enforces.
const (
	minVpcPrefix4    = 16
	maxVpcPrefix4    = 28
	minSubnetPrefix4 = 16
	maxSubnetPrefix4 = 28
	minVpcPrefix6    = 44
	maxVpcPrefix6    = 64
	subnetPrefix6    = 64
)

var (
	errNotCIDR     = errors.New("not a CIDR block")
	errWrongFamily = errors.New("wrong address family")
	errHostBits    = errors.New("host bits set")
	errPrefixLen   = errors.New("prefix length out of range")
)

// parseCIDR parses a CIDR block of the given family (4 or 6) and checks
// that it is canonical and that its prefix length is within [minBits,
// maxBits]. It returns the prefix.
func parseCIDR(s string, family, minBits, maxBits int) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		return netip.Prefix{}, errNotCIDR
	}
	p, err := netip.ParsePrefix(s)
	if err != nil || p.Addr().Zone() != "" {
		return netip.Prefix{}, errNotCIDR
	}
	addr := p.Addr()
	if addr.Is4In6() {
		return netip.Prefix{}, errWrongFamily
	}
	if (family == 4) != addr.Is4() {
		return netip.Prefix{}, errWrongFamily
	}
	if p.Masked() != p {
		return netip.Prefix{}, errHostBits
	}
	if p.Bits() < minBits || p.Bits() > maxBits {
		return netip.Prefix{}, errPrefixLen
	}
	return p, nil
}

// canonicalCIDR parses a CIDR block for a security-group rule: any prefix
// length, host bits not allowed. family is 4 or 6.
func canonicalCIDR(s string, family int) (string, error) {
	maxBits := 32
	if family == 6 {
		maxBits = 128
	}
	p, err := parseCIDR(s, family, 0, maxBits)
	if err != nil {
		return "", fmt.Errorf("CIDR %q: %w", s, err)
	}
	return p.String(), nil
}

// containsPrefix reports whether inner lies entirely inside outer.
func containsPrefix(outer, inner netip.Prefix) bool {
	return outer.Bits() <= inner.Bits() && outer.Contains(inner.Addr())
}

// mustPrefix parses a stored, canonical CIDR; an invalid or empty one
// gives the zero Prefix (which contains and overlaps nothing).
func mustPrefix(s string) netip.Prefix {
	if s == "" {
		return netip.Prefix{}
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}
	}
	return p.Masked()
}

// addrInCIDR reports whether address ip lies in the canonical CIDR block.
func addrInCIDR(ip netip.Addr, cidr string) bool {
	p := mustPrefix(cidr)
	return p.IsValid() && p.Contains(ip)
}

// usableIPv4Count is AWS's availableIpAddressCount of an empty subnet: the
// block's size minus the five addresses AWS reserves.
func usableIPv4Count(cidr string) int {
	p := mustPrefix(cidr)
	if !p.IsValid() || !p.Addr().Is4() {
		return 0
	}
	n := 1<<(32-p.Bits()) - 5
	if n < 0 {
		return 0
	}
	return n
}
