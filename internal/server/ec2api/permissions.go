package ec2api

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/wire/awsproto"
)

// Security-group rule parameters. Clients send rules in two forms:
//
//   - IpPermissions.N.{IpProtocol,FromPort,ToPort}, with the peers
//     IpPermissions.N.IpRanges.M.{CidrIp,Description},
//     IpPermissions.N.Ipv6Ranges.M.{CidrIpv6,Description} and
//     IpPermissions.N.Groups.M.{GroupId,GroupName,UserId,Description}
//     (the SDKs' UserIdGroupPairs, and what the AWS CLI sends for
//     --ip-permissions and for --protocol/--port/--cidr/--source-group);
//   - the top-level shorthand IpProtocol, FromPort, ToPort, CidrIp,
//     SourceSecurityGroupName and SourceSecurityGroupOwnerId.
//
// Both decode to permissions, which expand to one store rule per peer.

// Canonical protocol names as AWS shows them.
const (
	protoAll    = "-1"
	protoTCP    = "tcp"
	protoUDP    = "udp"
	protoICMP   = "icmp"
	protoICMPv6 = "icmpv6"
)

// permission is one decoded IpPermission.
type permission struct {
	Protocol string // canonical: tcp, udp, icmp, icmpv6, -1 or a number
	FromPort int32  // -1 when the protocol has no ports
	ToPort   int32
	IPv4     []cidrPeer
	IPv6     []cidrPeer
	Groups   []groupPeer
}

// cidrPeer is an IPv4 or IPv6 range of a permission.
type cidrPeer struct {
	CIDR        string // canonical
	Description string
}

// groupPeer is a security group of a permission (a UserIdGroupPair),
// named by id or, within the rule's VPC, by name.
type groupPeer struct {
	GroupID     string
	GroupName   string
	UserID      string
	Description string
}

// shorthandParams are the top-level rule parameters.
var shorthandParams = []string{"IpProtocol", "FromPort", "ToPort", "CidrIp", "SourceSecurityGroupName", "SourceSecurityGroupOwnerId"}

// parsePermissions decodes the rules of an Authorize/Revoke request. It
// returns no permissions and no error when the request names rules by
// SecurityGroupRuleId instead (the caller checks that).
func parsePermissions(p awsproto.Params) ([]permission, error) {
	shorthand := false
	for _, name := range shorthandParams {
		if p.Get(name) != "" {
			shorthand = true
		}
	}
	entries := structList(p, "IpPermissions")
	if shorthand && len(entries) > 0 {
		return nil, errCombination("The parameter IpPermissions cannot be used with the parameters %s.", strings.Join(shorthandParams, ", "))
	}
	if shorthand {
		perm, err := parseShorthand(p)
		if err != nil {
			return nil, err
		}
		return []permission{perm}, nil
	}
	out := make([]permission, 0, len(entries))
	for i, e := range entries {
		perm, err := parsePermission(e, fmt.Sprintf("IpPermissions.%d", i+1))
		if err != nil {
			return nil, err
		}
		out = append(out, perm)
	}
	return out, nil
}

// parseShorthand decodes the top-level form. A source group alone means
// every protocol, as AWS reads it.
func parseShorthand(p awsproto.Params) (permission, error) {
	rawProto := p.Get("IpProtocol")
	group := p.Get("SourceSecurityGroupName")
	if rawProto == "" {
		if group == "" {
			return permission{}, awsproto.MissingParameter("IpProtocol")
		}
		rawProto = protoAll
	}
	perm, err := permissionHead(rawProto, p.Get("FromPort"), p.Get("ToPort"), p.Has("FromPort"), p.Has("ToPort"))
	if err != nil {
		return permission{}, err
	}
	if cidr := p.Get("CidrIp"); cidr != "" {
		canon, err := canonicalCIDR(cidr, 4)
		if err != nil {
			return permission{}, errMalformedCIDR(cidr)
		}
		perm.IPv4 = append(perm.IPv4, cidrPeer{CIDR: canon})
	}
	if group != "" || p.Get("SourceSecurityGroupOwnerId") != "" {
		gp := groupPeer{UserID: p.Get("SourceSecurityGroupOwnerId")}
		if strings.HasPrefix(group, "sg-") {
			gp.GroupID = group
		} else {
			gp.GroupName = group
		}
		if gp.GroupID == "" && gp.GroupName == "" {
			return permission{}, awsproto.MissingParameter("SourceSecurityGroupName")
		}
		perm.Groups = append(perm.Groups, gp)
	}
	if err := perm.validatePeers(); err != nil {
		return permission{}, err
	}
	return perm, nil
}

// parsePermission decodes one IpPermissions.N entry.
func parsePermission(e awsproto.Params, name string) (permission, error) {
	rawProto := e.Get("IpProtocol")
	if rawProto == "" {
		return permission{}, awsproto.MissingParameter(name + ".IpProtocol")
	}
	perm, err := permissionHead(rawProto, e.Get("FromPort"), e.Get("ToPort"), e.Has("FromPort"), e.Has("ToPort"))
	if err != nil {
		return permission{}, err
	}
	for _, r := range structList(e, "IpRanges") {
		cidr := r.Get("CidrIp")
		canon, err := canonicalCIDR(cidr, 4)
		if err != nil {
			return permission{}, errMalformedCIDR(cidr)
		}
		perm.IPv4 = append(perm.IPv4, cidrPeer{CIDR: canon, Description: r.Get("Description")})
	}
	for _, r := range structList(e, "Ipv6Ranges") {
		cidr := r.Get("CidrIpv6")
		canon, err := canonicalCIDR(cidr, 6)
		if err != nil {
			return permission{}, errMalformedCIDR(cidr)
		}
		perm.IPv6 = append(perm.IPv6, cidrPeer{CIDR: canon, Description: r.Get("Description")})
	}
	for _, g := range structList(e, "Groups") {
		gp := groupPeer{GroupID: g.Get("GroupId"), GroupName: g.Get("GroupName"), UserID: g.Get("UserId"), Description: g.Get("Description")}
		if gp.GroupID == "" && gp.GroupName == "" {
			return permission{}, awsproto.MissingParameter(name + ".Groups.GroupId")
		}
		perm.Groups = append(perm.Groups, gp)
	}
	if len(structList(e, "PrefixListIds")) > 0 {
		return permission{}, badRequest(codeUnsupportedOperation, "Prefix lists are not supported by Postern.")
	}
	if err := perm.validatePeers(); err != nil {
		return permission{}, err
	}
	return perm, nil
}

// validatePeers checks that a permission has a peer and that descriptions
// are acceptable.
func (perm *permission) validatePeers() error {
	if len(perm.IPv4)+len(perm.IPv6)+len(perm.Groups) == 0 {
		return badRequest(codePermissionMalformed, "The permission must name at least one source or destination: IpRanges, Ipv6Ranges or UserIdGroupPairs.")
	}
	if len(perm.IPv4)+len(perm.IPv6)+len(perm.Groups) > maxListEntries {
		return awsproto.InvalidParameterValue("Too many peers in one permission.")
	}
	for _, r := range perm.IPv4 {
		if err := validateRuleDescription(r.Description); err != nil {
			return err
		}
	}
	for _, r := range perm.IPv6 {
		if err := validateRuleDescription(r.Description); err != nil {
			return err
		}
	}
	for _, g := range perm.Groups {
		if err := validateRuleDescription(g.Description); err != nil {
			return err
		}
		if g.GroupID != "" {
			if err := kindGroup.check(g.GroupID); err != nil {
				return err
			}
		}
	}
	return nil
}

// permissionHead decodes the protocol and port range of a permission.
func permissionHead(rawProto, rawFrom, rawTo string, hasFrom, hasTo bool) (permission, error) {
	proto, err := normalizeProtocol(rawProto)
	if err != nil {
		return permission{}, err
	}
	perm := permission{Protocol: proto, FromPort: -1, ToPort: -1}
	parsePort := func(raw string, min, max int64) (int32, error) {
		n, err := strconv.ParseInt(strings.TrimSpace(raw), 10, 32)
		if err != nil || n < min || n > max {
			return 0, awsproto.InvalidParameterValue("Invalid value '%s' for portRange. Must be an integer between %d and %d.", raw, min, max)
		}
		return int32(n), nil
	}
	switch proto {
	case protoTCP, protoUDP:
		if !hasFrom || !hasTo || rawFrom == "" || rawTo == "" {
			return permission{}, awsproto.InvalidParameterValue("Invalid value 'null' for portRange. Must specify both from and to ports with TCP/UDP.")
		}
		from, err := parsePort(rawFrom, -1, 65535)
		if err != nil {
			return permission{}, err
		}
		to, err := parsePort(rawTo, -1, 65535)
		if err != nil {
			return permission{}, err
		}
		switch {
		case from == -1 && to == -1:
			from, to = 0, 65535 // "all ports", as the AWS CLI's --port all sends it
		case from == -1 || to == -1:
			return permission{}, awsproto.InvalidParameterValue("Invalid value '%s-%s' for portRange.", rawFrom, rawTo)
		case from > to:
			return permission{}, awsproto.InvalidParameterValue("Invalid value '%d-%d' for portRange. The from port must not exceed the to port.", from, to)
		}
		perm.FromPort, perm.ToPort = from, to
	case protoICMP, protoICMPv6:
		if hasFrom && rawFrom != "" {
			if perm.FromPort, err = parsePort(rawFrom, -1, 255); err != nil {
				return permission{}, err
			}
		}
		if hasTo && rawTo != "" {
			if perm.ToPort, err = parsePort(rawTo, -1, 255); err != nil {
				return permission{}, err
			}
		}
		if perm.FromPort == -1 && perm.ToPort != -1 {
			return permission{}, awsproto.InvalidParameterValue("Invalid value '%d' for ICMP code. The code must be -1 when the type is -1.", perm.ToPort)
		}
	}
	return perm, nil
}

// normalizeProtocol maps a protocol name or number to AWS's canonical form.
func normalizeProtocol(raw string) (string, error) {
	v := strings.ToLower(strings.TrimSpace(raw))
	switch v {
	case "tcp", "6":
		return protoTCP, nil
	case "udp", "17":
		return protoUDP, nil
	case "icmp", "1":
		return protoICMP, nil
	case "icmpv6", "58":
		return protoICMPv6, nil
	case "-1", "all":
		return protoAll, nil
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 && n <= 255 && strconv.Itoa(n) == v {
		return v, nil
	}
	return "", awsproto.InvalidParameterValue("Invalid value '%s' for IP protocol. Unknown protocol.", raw)
}

// errMalformedCIDR is AWS's answer to a bad CIDR in a rule.
func errMalformedCIDR(cidr string) *awsproto.Error {
	return awsproto.InvalidParameterValue("CIDR block %s is malformed", cidr)
}

// ruleDescriptionChars are the characters AWS allows in rule and group
// descriptions, besides letters and digits.
const ruleDescriptionChars = " ._-:/()#,@[]+=&;{}!$*"

// validateRuleDescription applies AWS's limits on rule descriptions.
func validateRuleDescription(d string) error {
	if !validDescription(d) {
		return awsproto.InvalidParameterValue("Invalid rule description. Valid descriptions are strings less than 256 characters from the following set:  a-zA-Z0-9. _-:/()#,@[]+=&;{}!$*")
	}
	return nil
}

// validDescription reports whether d fits AWS's rule/group description
// rules: at most 255 characters from ruleDescriptionChars, letters and digits.
func validDescription(d string) bool {
	if utf8.RuneCountInString(d) > 255 {
		return false
	}
	for _, r := range d {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune(ruleDescriptionChars, r)) {
			return false
		}
	}
	return true
}

// ruleKey identifies a rule for duplicate and revoke matching: direction,
// protocol, ports and peer (not the description).
type ruleKey struct {
	egress   bool
	proto    string
	from, to int32
	peer     string
}

// keyOf returns the identity of a rule.
func keyOf(r store.SecurityGroupRule) ruleKey {
	peer := r.CidrIpv4
	if r.CidrIpv6 != "" {
		peer = r.CidrIpv6
	}
	if r.ReferencedGroupID != "" {
		peer = r.ReferencedGroupID
	}
	return ruleKey{r.IsEgress, r.IpProtocol, r.FromPort, r.ToPort, peer}
}

// describeRule words a rule as AWS's InvalidPermission messages do, e.g.
// "peer: 0.0.0.0/0, TCP, from port: 22, to port: 22, ALLOW".
func describeRule(r store.SecurityGroupRule) string {
	k := keyOf(r)
	var b strings.Builder
	b.WriteString("peer: " + k.peer + ", ")
	switch r.IpProtocol {
	case protoAll:
		b.WriteString("ALL")
	case protoICMP, protoICMPv6:
		b.WriteString(strings.ToUpper(r.IpProtocol) + ", type: " + itoa32(r.FromPort) + ", code: " + itoa32(r.ToPort))
	case protoTCP, protoUDP:
		b.WriteString(strings.ToUpper(r.IpProtocol) + ", from port: " + itoa32(r.FromPort) + ", to port: " + itoa32(r.ToPort))
	default:
		b.WriteString("protocol " + r.IpProtocol)
	}
	b.WriteString(", ALLOW")
	return b.String()
}
