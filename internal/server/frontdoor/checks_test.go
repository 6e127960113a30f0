package frontdoor

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/server/audit"
	"github.com/postern/postern/internal/store"
)

func TestParsePorts(t *testing.T) {
	got, err := ParsePorts([]string{"22", " 3389", "8000-8999", "*"})
	if err != nil || !slices.Equal(got, []PortRange{{22, 22}, {3389, 3389}, {8000, 8999}, {1, 65535}}) {
		t.Fatalf("%v %v", got, err)
	}
	for _, bad := range []string{"0", "65536", "9-8", "a", "1-", "-5", ""} {
		if _, err := ParsePorts([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if r := portRefusal(DefaultPorts); r.Message != "The specified RemotePort is not valid. Specify either 22 or 3389 as the RemotePort and retry your request." {
		t.Errorf("AWS wording changed: %q", r.Message)
	}
}

func rule(egress bool, proto string, from, to int32, cidr, group string) store.SecurityGroupRule {
	r := store.SecurityGroupRule{IsEgress: egress, IpProtocol: proto, FromPort: from, ToPort: to, ReferencedGroupID: group}
	if p, err := netip.ParsePrefix(cidr); err == nil {
		if p.Addr().Is4() {
			r.CidrIpv4 = cidr
		} else {
			r.CidrIpv6 = cidr
		}
	}
	return r
}

func TestSecurityGroupRules(t *testing.T) {
	inst := &store.Instance{SecurityGroupIDs: []string{"sg-dev"}}
	a := netip.MustParseAddr("10.0.1.10")
	egress := []struct {
		name  string
		rules []store.SecurityGroupRule
		want  bool
	}{
		{"all traffic anywhere", []store.SecurityGroupRule{rule(true, "-1", -1, -1, "0.0.0.0/0", "")}, true},
		{"tcp 22 to the instance's group", []store.SecurityGroupRule{rule(true, "tcp", 22, 22, "", "sg-dev")}, true},
		{"tcp 22 to another group", []store.SecurityGroupRule{rule(true, "tcp", 22, 22, "", "sg-other")}, false},
		{"tcp range", []store.SecurityGroupRule{rule(true, "tcp", 20, 30, "10.0.0.0/16", "")}, true},
		{"wrong port", []store.SecurityGroupRule{rule(true, "tcp", 3389, 3389, "10.0.0.0/16", "")}, false},
		{"udp only", []store.SecurityGroupRule{rule(true, "udp", 22, 22, "10.0.0.0/16", "")}, false},
		{"other network", []store.SecurityGroupRule{rule(true, "tcp", 22, 22, "10.1.0.0/16", "")}, false},
		{"ingress rule only", []store.SecurityGroupRule{rule(false, "-1", -1, -1, "0.0.0.0/0", "")}, false},
		{"ipv6 rule for ipv4", []store.SecurityGroupRule{rule(true, "-1", -1, -1, "::/0", "")}, false},
	}
	for _, tc := range egress {
		if got := egressAllows(tc.rules, a, 22, inst); got != tc.want {
			t.Errorf("egress %s: %v", tc.name, got)
		}
	}
	subnet := netip.MustParsePrefix("10.0.2.0/24")
	src := ingressSource{groups: []string{"sg-eice"}, nets: []netip.Prefix{subnet}}
	ingress := []struct {
		name  string
		rules []store.SecurityGroupRule
		src   ingressSource
		want  bool
	}{
		{"from the endpoint's group", []store.SecurityGroupRule{rule(false, "tcp", 22, 22, "", "sg-eice")}, src, true},
		{"from another group", []store.SecurityGroupRule{rule(false, "tcp", 22, 22, "", "sg-x")}, src, false},
		{"from the VPC CIDR", []store.SecurityGroupRule{rule(false, "tcp", 22, 22, "10.0.0.0/16", "")}, src, true},
		{"from the endpoint's subnet", []store.SecurityGroupRule{rule(false, "tcp", 22, 22, "10.0.2.0/24", "")}, src, true},
		{"from part of the subnet", []store.SecurityGroupRule{rule(false, "tcp", 22, 22, "10.0.2.0/25", "")}, src, false},
		{"from elsewhere", []store.SecurityGroupRule{rule(false, "tcp", 22, 22, "10.0.3.0/24", "")}, src, false},
		{"anywhere", []store.SecurityGroupRule{rule(false, "-1", -1, -1, "0.0.0.0/0", "")}, src, true},
		{"client ip preserved, allowed", []store.SecurityGroupRule{rule(false, "tcp", 22, 22, "203.0.113.0/24", "")},
			ingressSource{clientIP: netip.MustParseAddr("203.0.113.9")}, true},
		{"client ip preserved, VPC rule", []store.SecurityGroupRule{rule(false, "tcp", 22, 22, "10.0.0.0/16", "")},
			ingressSource{clientIP: netip.MustParseAddr("203.0.113.9")}, false},
	}
	for _, tc := range ingress {
		if got := ingressAllows(tc.rules, 22, tc.src); got != tc.want {
			t.Errorf("ingress %s: %v", tc.name, got)
		}
	}
}

// FuzzParseParams: arbitrary query values never panic the parser, and
// what it accepts is in range.
func FuzzParseParams(f *testing.F) {
	f.Add("eice-0123456789abcdef0", "22", "10.0.0.1", "")
	f.Add("eice-1", "3389", "fd00::1", "3600")
	f.Add("eice-$", "0", "1.2.3.4%eth0", "-1")
	// Durations whose product with a second overflows int64.
	f.Add("eice-1", "22", "10.0.0.1", "36028797018964468")
	f.Add("eice-1", "22", "10.0.0.1", "9223372036854775807")
	f.Add("eice-1", "+22", "10.0.0.1", "+60")
	f.Fuzz(func(t *testing.T, id, port, ip, dur string) {
		req := &request{params: audit.OpenTunnelParams{InstanceConnectEndpointID: id, RemotePort: port, PrivateIPAddress: ip, MaxTunnelDuration: dur}}
		if ref := parseParams(req, time.Hour); ref != nil {
			if ref.Status != 400 || ref.Code == "" || ref.Message == "" {
				t.Fatalf("refusal %+v", ref)
			}
			return
		}
		if req.port < 1 || req.port > 65535 || !req.addr.IsValid() || req.duration < time.Second || req.duration > time.Hour {
			t.Fatalf("accepted out of range: %+v", req)
		}
		// What IAM and the audit record see is the same number.
		if want := strconv.Itoa(int(req.duration / time.Second)); dur != "" && strings.TrimLeft(dur, "0") != want {
			t.Fatalf("maxTunnelDuration %q became %s s", dur, want)
		}
		if strings.TrimLeft(port, "0") != strconv.Itoa(req.port) {
			t.Fatalf("remotePort %q became %d", port, req.port)
		}
	})
}
