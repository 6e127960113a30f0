package netspec

import (
	"os"
	"strings"
	"testing"
)

func TestExampleParses(t *testing.T) {
	f, err := os.Open("../../../examples/network.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Vpcs) != 1 || len(s.Vpcs[0].SecurityGroups) != 2 || len(s.Vpcs[0].Endpoints) != 1 {
		t.Fatalf("spec %+v", s)
	}
}

func TestInvalid(t *testing.T) {
	base := "version: 1\nvpcs:\n  - name: v\n    cidr: 10.0.0.0/16\n    subnets: [{name: s, cidr: 10.0.1.0/24}]\n"
	tests := []struct{ name, doc, want string }{
		{"version", "version: 2\n", "reads version 1"},
		{"unknown key", "version: 1\nvpc: []\n", "field vpc not found"},
		{"bad cidr", "version: 1\nvpcs: [{name: v, cidr: x}]\n", "not an IPv4 CIDR"},
		{"subnet outside", "version: 1\nvpcs: [{name: v, cidr: 10.0.0.0/16, subnets: [{name: s, cidr: 10.9.0.0/24}]}]\n", "not inside the VPC"},
		{"unknown subnet", base + "    endpoints: [{name: e, subnet: nope}]\n", `subnet "nope"`},
		{"unknown group", base + "    instances: [{name: i, subnet: s, private_ip: 10.0.1.5, security_groups: [g]}]\n", `security group "g"`},
		{"rule peer", base + "    security_groups: [{name: g, ingress: [{protocol: tcp, port: '22'}]}]\n", "exactly one of cidr and group"},
		{"bad port", base + "    security_groups: [{name: g, ingress: [{protocol: tcp, port: '99999', cidr: 0.0.0.0/0}]}]\n", "is not a port"},
		{"bad protocol", base + "    security_groups: [{name: g, ingress: [{protocol: smtp, cidr: 0.0.0.0/0}]}]\n", "protocol"},
		{"duplicate vpc", "version: 1\nvpcs: [{name: v, cidr: 10.0.0.0/16}, {name: v, cidr: 10.1.0.0/16}]\n", "used twice"},
		{"instance without address", base + "    instances: [{name: i, subnet: s}]\n", "private_ip or ipv6_address"},
	}
	for _, tc := range tests {
		_, err := Parse(strings.NewReader(tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("version: 1\nvpcs: [{name: v, cidr: 10.0.0.0/16}]\n")
	f.Add("version: 1\nvpcs:\n  - name: v\n    cidr: 10.0.0.0/16\n    security_groups: [{name: g, ingress: [{protocol: tcp, port: 1-2, group: default}]}]\n")
	f.Add("{")
	f.Fuzz(func(t *testing.T, doc string) {
		s, err := Parse(strings.NewReader(doc))
		if err == nil && s == nil {
			t.Fatal("nil spec without error")
		}
	})
}
