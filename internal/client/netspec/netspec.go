// Package netspec is the file format of `postern apply -f`: an operator's
// private networks — VPCs with their subnets, security groups and rules,
// registered instances and Instance Connect Endpoints — declared in one
// YAML file. Parse decodes strictly (unknown keys are errors) and checks
// the references between resources; applying is the CLI's job.
package netspec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Version is the file version this build reads.
const Version = 1

// Spec is a whole file.
type Spec struct {
	Version int   `yaml:"version"`
	Vpcs    []Vpc `yaml:"vpcs"`
}

// Vpc is a private network. Name is its Name tag, by which apply finds it.
type Vpc struct {
	Name           string            `yaml:"name"`
	Cidr           string            `yaml:"cidr"`
	Ipv6Cidr       string            `yaml:"ipv6_cidr"`
	Tags           map[string]string `yaml:"tags"`
	Subnets        []Subnet          `yaml:"subnets"`
	SecurityGroups []SecurityGroup   `yaml:"security_groups"`
	Instances      []Instance        `yaml:"instances"`
	Endpoints      []Endpoint        `yaml:"endpoints"`
}

// Subnet is a CIDR inside the VPC.
type Subnet struct {
	Name             string `yaml:"name"`
	Cidr             string `yaml:"cidr"`
	Ipv6Cidr         string `yaml:"ipv6_cidr"`
	AvailabilityZone string `yaml:"availability_zone"`
}

// SecurityGroup is a group and its complete rule set: apply adds the rules
// listed and removes the ones not listed.
type SecurityGroup struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	Ingress     []Rule `yaml:"ingress"`
	// Egress nil keeps AWS's default (all traffic out); a list, even
	// empty, replaces it.
	Egress []Rule `yaml:"egress"`
}

// Rule allows traffic from (ingress) or to (egress) one peer.
type Rule struct {
	Protocol string `yaml:"protocol"` // tcp, udp, icmp, all
	Port     string `yaml:"port"`     // "22", "8000-8080"; empty for all
	Cidr     string `yaml:"cidr"`     // an IPv4 or IPv6 CIDR, or
	Group    string `yaml:"group"`    // the name of a group of this VPC
}

// Instance is an existing server to register.
type Instance struct {
	Name           string   `yaml:"name"`
	Subnet         string   `yaml:"subnet"`
	PrivateIP      string   `yaml:"private_ip"`
	Ipv6Address    string   `yaml:"ipv6_address"`
	Platform       string   `yaml:"platform"`
	SecurityGroups []string `yaml:"security_groups"`
}

// Endpoint is an Instance Connect Endpoint.
type Endpoint struct {
	Name             string   `yaml:"name"`
	Subnet           string   `yaml:"subnet"`
	SecurityGroups   []string `yaml:"security_groups"`
	PreserveClientIP bool     `yaml:"preserve_client_ip"`
}

// Parse decodes and validates a spec.
func Parse(r io.Reader) (*Spec, error) {
	data, err := io.ReadAll(io.LimitReader(r, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("netspec: read: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var s Spec
	if err := dec.Decode(&s); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("netspec: %w", err)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// Validate checks names, CIDRs, ports and references.
func (s *Spec) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if s.Version != Version {
		bad("version is %d, this build reads version %d", s.Version, Version)
	}
	vpcNames := map[string]bool{}
	for i, v := range s.Vpcs {
		where := fmt.Sprintf("vpcs[%d] %q", i, v.Name)
		if v.Name == "" {
			bad("vpcs[%d]: name is required", i)
		} else if vpcNames[v.Name] {
			bad("%s: name used twice", where)
		}
		vpcNames[v.Name] = true
		vpcPrefix, err := netip.ParsePrefix(v.Cidr)
		if err != nil || !vpcPrefix.Addr().Is4() {
			bad("%s: cidr %q is not an IPv4 CIDR", where, v.Cidr)
		}
		subnets := map[string]bool{}
		for j, sn := range v.Subnets {
			w := fmt.Sprintf("%s subnets[%d] %q", where, j, sn.Name)
			if sn.Name == "" || subnets[sn.Name] {
				bad("%s: name is required and must be unique in the VPC", w)
			}
			subnets[sn.Name] = true
			p, err := netip.ParsePrefix(sn.Cidr)
			if err != nil {
				bad("%s: cidr %q is not a CIDR", w, sn.Cidr)
			} else if vpcPrefix.IsValid() && (!vpcPrefix.Contains(p.Addr()) || p.Bits() < vpcPrefix.Bits()) {
				bad("%s: cidr %s is not inside the VPC's %s", w, sn.Cidr, v.Cidr)
			}
		}
		groups := map[string]bool{"default": true}
		for j, g := range v.SecurityGroups {
			if g.Name == "" || (groups[g.Name] && g.Name != "default") {
				bad("%s security_groups[%d]: name is required and must be unique in the VPC", where, j)
			}
			groups[g.Name] = true
		}
		for _, g := range v.SecurityGroups {
			for k, r := range append(append([]Rule{}, g.Ingress...), g.Egress...) {
				w := fmt.Sprintf("%s group %q rule %d", where, g.Name, k+1)
				if _, err := r.IPProtocol(); err != nil {
					bad("%s: %v", w, err)
				}
				if _, _, err := r.Ports(); err != nil {
					bad("%s: %v", w, err)
				}
				switch {
				case (r.Cidr == "") == (r.Group == ""):
					bad("%s: give exactly one of cidr and group", w)
				case r.Cidr != "":
					if _, err := netip.ParsePrefix(r.Cidr); err != nil {
						bad("%s: cidr %q is not a CIDR", w, r.Cidr)
					}
				case !groups[r.Group]:
					bad("%s: group %q is not a group of this VPC", w, r.Group)
				}
			}
		}
		names := map[string]bool{}
		for j, in := range v.Instances {
			w := fmt.Sprintf("%s instances[%d] %q", where, j, in.Name)
			if in.Name == "" || names[in.Name] {
				bad("%s: name is required and must be unique", w)
			}
			names[in.Name] = true
			if !subnets[in.Subnet] {
				bad("%s: subnet %q is not a subnet of this VPC", w, in.Subnet)
			}
			if in.PrivateIP == "" && in.Ipv6Address == "" {
				bad("%s: private_ip or ipv6_address is required", w)
			}
			for _, g := range in.SecurityGroups {
				if !groups[g] {
					bad("%s: security group %q is not a group of this VPC", w, g)
				}
			}
		}
		for j, e := range v.Endpoints {
			w := fmt.Sprintf("%s endpoints[%d] %q", where, j, e.Name)
			if e.Name == "" || names[e.Name] {
				bad("%s: name is required and must be unique", w)
			}
			names[e.Name] = true
			if !subnets[e.Subnet] {
				bad("%s: subnet %q is not a subnet of this VPC", w, e.Subnet)
			}
			for _, g := range e.SecurityGroups {
				if !groups[g] {
					bad("%s: security group %q is not a group of this VPC", w, g)
				}
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("netspec: %w", errors.Join(errs...))
	}
	return nil
}

// IPProtocol is the rule's protocol as EC2 names it ("tcp", "-1", …).
func (r Rule) IPProtocol() (string, error) {
	switch p := strings.ToLower(r.Protocol); p {
	case "tcp", "udp", "icmp", "icmpv6":
		return p, nil
	case "all", "-1":
		return "-1", nil
	case "":
		return "", errors.New("protocol is required (tcp, udp, icmp or all)")
	default:
		if n, err := strconv.Atoi(p); err == nil && n >= 0 && n <= 255 {
			return p, nil
		}
		return "", fmt.Errorf("protocol %q is not tcp, udp, icmp, all or a number", r.Protocol)
	}
}

// Ports returns the rule's port range; -1, -1 for all.
func (r Rule) Ports() (int32, int32, error) {
	if r.Port == "" || r.Port == "-1" || r.Port == "all" {
		return -1, -1, nil
	}
	from, to, isRange := strings.Cut(r.Port, "-")
	a, err1 := strconv.ParseUint(from, 10, 16)
	b := a
	var err2 error
	if isRange {
		b, err2 = strconv.ParseUint(to, 10, 16)
	}
	if err1 != nil || err2 != nil || b < a {
		return 0, 0, fmt.Errorf("port %q is not a port (22) or a range (8000-8080)", r.Port)
	}
	return int32(a), int32(b), nil
}
