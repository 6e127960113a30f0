package frontdoor

import (
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/wire/tunnelproto"
)

// Refusal is a tunnel refused before the upgrade: the HTTP status, the
// ErrorCode and Message of the JSON body, and a short reason label for logs
// and metrics.
type Refusal struct {
	Status  int
	Code    string
	Message string
	Reason  string
}

func (r *Refusal) Error() string { return r.Code + ": " + r.Message }

func refuse(status int, code, reason, format string, args ...any) *Refusal {
	return &Refusal{Status: status, Code: code, Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// Reason labels of refusals.
const (
	ReasonBadRequest     = "bad_request"
	ReasonSignature      = "signature"
	ReasonReplay         = "replay"
	ReasonEndpoint       = "endpoint"
	ReasonNoAgent        = "no_agent"
	ReasonPort           = "port"
	ReasonAddress        = "address"
	ReasonIAM            = "iam"
	ReasonSecurityGroup  = "security_group"
	ReasonConcurrency    = "concurrency"
	ReasonDial           = "dial"
	ReasonInternal       = "internal"
	ReasonServerStopping = "server_stopping"
)

// PortRange is an inclusive range of allowed remote ports.
type PortRange struct{ From, To int }

// DefaultPorts is AWS's port policy: SSH and RDP.
var DefaultPorts = []PortRange{{22, 22}, {3389, 3389}}

// ParsePorts reads a port policy: entries like "22", "5432", "8000-8999"
// or "*" (every port).
func ParsePorts(specs []string) ([]PortRange, error) {
	var out []PortRange
	for _, s := range specs {
		s = strings.TrimSpace(s)
		if s == "*" || s == "all" {
			out = append(out, PortRange{1, 65535})
			continue
		}
		lo, hi, isRange := strings.Cut(s, "-")
		from, err1 := strconv.Atoi(lo)
		to := from
		var err2 error
		if isRange {
			to, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || from < 1 || to > 65535 || from > to {
			return nil, fmt.Errorf("port %q: want a port (1-65535), a range like 8000-8999, or *", s)
		}
		out = append(out, PortRange{from, to})
	}
	return out, nil
}

func portAllowed(ports []PortRange, port int) bool {
	for _, r := range ports {
		if port >= r.From && port <= r.To {
			return true
		}
	}
	return false
}

// portRefusal words a port outside the policy: AWS's exact message for
// AWS's policy, the allowed list otherwise.
func portRefusal(ports []PortRange) *Refusal {
	if slices.Equal(ports, DefaultPorts) {
		return refuse(http.StatusBadRequest, "InvalidParameter", ReasonPort,
			"The specified RemotePort is not valid. Specify either 22 or 3389 as the RemotePort and retry your request.")
	}
	var parts []string
	for _, r := range ports {
		if r.From == r.To {
			parts = append(parts, strconv.Itoa(r.From))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", r.From, r.To))
		}
	}
	return refuse(http.StatusBadRequest, "InvalidParameter", ReasonPort,
		"The specified RemotePort is not valid. Specify one of %s as the RemotePort and retry your request.", strings.Join(parts, ", "))
}

// addressInVPC checks the target address against the endpoint's VPC and
// IP address type.
func addressInVPC(addr netip.Addr, vpc store.Vpc, ipType string) *Refusal {
	if addr.Is4() && ipType == "ipv6" {
		return refuse(http.StatusBadRequest, "InvalidParameter", ReasonAddress,
			"The instance connect endpoint has IpAddressType ipv6 and cannot connect to the IPv4 address %s.", addr)
	}
	if addr.Is6() && ipType == "ipv4" {
		return refuse(http.StatusBadRequest, "InvalidParameter", ReasonAddress,
			"The instance connect endpoint has IpAddressType ipv4 and cannot connect to the IPv6 address %s.", addr)
	}
	for _, c := range []string{vpc.CidrBlock, vpc.Ipv6CidrBlock} {
		if c == "" {
			continue
		}
		if p, err := netip.ParsePrefix(c); err == nil && p.Contains(addr) {
			return nil
		}
	}
	return refuse(http.StatusBadRequest, "InvalidParameter", ReasonAddress,
		"The specified PrivateIpAddress %s is not in the VPC %s of the instance connect endpoint.", addr, vpc.VpcID)
}

// ruleCovers reports whether a rule's protocol and ports cover TCP port.
func ruleCovers(r store.SecurityGroupRule, port int) bool {
	switch r.IpProtocol {
	case "-1", "all":
		return true
	case "tcp", "6":
	default:
		return false
	}
	if r.FromPort == -1 && r.ToPort == -1 {
		return true
	}
	return int32(port) >= r.FromPort && int32(port) <= r.ToPort
}

// egressAllows reports whether the endpoint's groups' outbound rules let
// it reach addr:port. A rule naming a group allows the registered instance
// target only if that instance is in the group.
func egressAllows(rules []store.SecurityGroupRule, addr netip.Addr, port int, target *store.Instance) bool {
	for _, r := range rules {
		if !r.IsEgress || !ruleCovers(r, port) {
			continue
		}
		switch {
		case r.ReferencedGroupID != "":
			if target != nil && slices.Contains(target.SecurityGroupIDs, r.ReferencedGroupID) {
				return true
			}
		case r.CidrIpv4 != "" && addr.Is4():
			if p, err := netip.ParsePrefix(r.CidrIpv4); err == nil && p.Contains(addr) {
				return true
			}
		case r.CidrIpv6 != "" && addr.Is6():
			if p, err := netip.ParsePrefix(r.CidrIpv6); err == nil && p.Contains(addr) {
				return true
			}
		}
	}
	return false
}

// ingressSource is where a tunnel's connection comes from, as the target
// instance's security groups see it.
type ingressSource struct {
	groups   []string       // the endpoint's security groups
	nets     []netip.Prefix // the endpoint's address range (its subnet): a rule must cover all of it
	clientIP netip.Addr     // with preserveClientIp, the client's address
}

// ingressAllows reports whether the instance's groups' inbound rules admit
// the tunnel: a rule naming one of the endpoint's groups, or a CIDR that
// covers the endpoint's address range (the subnet, the VPC, anywhere), or,
// when the endpoint preserves client addresses, the client's address.
func ingressAllows(rules []store.SecurityGroupRule, port int, src ingressSource) bool {
	for _, r := range rules {
		if r.IsEgress || !ruleCovers(r, port) {
			continue
		}
		if r.ReferencedGroupID != "" {
			if slices.Contains(src.groups, r.ReferencedGroupID) {
				return true
			}
			continue
		}
		for _, c := range []string{r.CidrIpv4, r.CidrIpv6} {
			if c == "" {
				continue
			}
			p, err := netip.ParsePrefix(c)
			if err != nil {
				continue
			}
			if src.clientIP.IsValid() {
				if p.Contains(src.clientIP.Unmap()) {
					return true
				}
				continue
			}
			for _, n := range src.nets {
				if n.Addr().Is4() == p.Addr().Is4() && p.Bits() <= n.Bits() && p.Contains(n.Addr()) {
					return true
				}
			}
		}
	}
	return false
}

// Tags of an endpoint that turn on the PROXY protocol, Postern's own
// extension (AWS has no such option): TagProxyProtocol "v2" makes the
// agent write a PROXY protocol v2 header (the client's address and port,
// then the target's) before the first byte to the target; with
// TagProxyProtocolPorts (a port policy like "5432, 8000-8999") only for
// those ports.
const (
	TagProxyProtocol      = "postern:proxy-protocol"
	TagProxyProtocolPorts = "postern:proxy-protocol-ports"
)

// proxyProtocol returns the PROXY protocol version the endpoint's tags
// ask for on port ("" for none), or a refusal when the tags are invalid.
func proxyProtocol(ep store.Endpoint, port int) (string, *Refusal) {
	var version, ports string
	var hasPorts bool
	for _, t := range ep.Tags {
		switch t.Key {
		case TagProxyProtocol:
			version = strings.TrimSpace(t.Value)
		case TagProxyProtocolPorts:
			ports, hasPorts = t.Value, true
		}
	}
	switch version {
	case "", "off", "none":
		return "", nil
	case tunnelproto.ProxyV2:
	default:
		return "", refuse(http.StatusBadRequest, "InvalidParameter", ReasonEndpoint,
			"The instance connect endpoint '%s' has the tag %s=%.32q; the only supported value is %q.", ep.EndpointID, TagProxyProtocol, version, tunnelproto.ProxyV2)
	}
	if hasPorts {
		rs, err := ParsePorts(strings.Split(ports, ","))
		if err != nil || len(rs) == 0 {
			return "", refuse(http.StatusBadRequest, "InvalidParameter", ReasonEndpoint,
				"The instance connect endpoint '%s' has the tag %s=%.64q: want ports like 5432, 8000-8999.", ep.EndpointID, TagProxyProtocolPorts, ports)
		}
		if !portAllowed(rs, port) {
			return "", nil
		}
	}
	return tunnelproto.ProxyV2, nil
}
