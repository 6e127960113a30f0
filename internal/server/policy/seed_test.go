package policy

import (
	"os"
	"path/filepath"
	"testing"
)

// The two policies of the EC2 Instance Connect Endpoint documentation,
// byte for byte: the permissions to create an endpoint and the
// permissions to connect through one.
const (
	seedCreateFile = "seed_create_endpoint.json"
	seedOpenFile   = "seed_open_tunnel.json"
	seedEndpoint   = "arn:aws:ec2:region:account-id:instance-connect-endpoint/eice-123456789abcdef"
)

func readTestdata(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mustParse(t testing.TB, doc string, kind Kind) *Document {
	t.Helper()
	d, err := Parse(doc, kind)
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, doc)
	}
	return d
}

// ctxOf builds a Context from key/value pairs.
func ctxOf(kv ...string) Context {
	c := Context{}
	for i := 0; i+1 < len(kv); i += 2 {
		c.Set(kv[i], kv[i+1])
	}
	return c
}

// tunnelCtx is the context the front door builds for OpenTunnel.
func tunnelCtx(port, ip, maxDuration string) Context {
	c := Context{}
	if port != "" {
		c.Set("ec2-instance-connect:remotePort", port)
	}
	if ip != "" {
		c.Set("ec2-instance-connect:privateIpAddress", ip)
	}
	if maxDuration != "" {
		c.Set("ec2-instance-connect:maxTunnelDuration", maxDuration)
	}
	c.Set("aws:SourceIp", "198.51.100.7")
	c.Set("aws:username", "alice")
	return c
}

func TestSeedPoliciesParse(t *testing.T) {
	create := mustParse(t, readTestdata(t, seedCreateFile), IdentityPolicy)
	if create.Version != Version2012 || len(create.Statements) != 3 {
		t.Fatalf("create policy: version %q, %d statements", create.Version, len(create.Statements))
	}
	if got := create.Statements[0].Resource; len(got) != 1 || got[0] != "arn:aws:ec2:region:account-id:subnet/*" {
		t.Errorf("create policy resource = %q", got)
	}
	open := mustParse(t, readTestdata(t, seedOpenFile), IdentityPolicy)
	want := []Condition{
		{Operator: "IpAddress", Key: "ec2-instance-connect:privateIpAddress", Values: []string{"10.0.1.0/31"}},
		{Operator: "NumericEquals", Key: "ec2-instance-connect:remotePort", Values: []string{"22"}},
		{Operator: "NumericLessThanEquals", Key: "ec2-instance-connect:maxTunnelDuration", Values: []string{"60"}},
	}
	got := open.Statements[0].Conditions
	if len(got) != len(want) {
		t.Fatalf("conditions = %+v", got)
	}
	for i := range want {
		if got[i].Operator != want[i].Operator || got[i].Key != want[i].Key || len(got[i].Values) != 1 || got[i].Values[0] != want[i].Values[0] {
			t.Errorf("condition %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestSeedDecisions(t *testing.T) {
	create := Source{Name: "create", Doc: mustParse(t, readTestdata(t, seedCreateFile), IdentityPolicy)}
	open := Source{Name: "connect", Doc: mustParse(t, readTestdata(t, seedOpenFile), IdentityPolicy)}
	denyOutside := Source{Name: "deny-outside", Doc: mustParse(t, `{"Version":"2012-10-17","Statement":[{
		"Sid":"OnlyFromOffice","Effect":"Deny","Action":"ec2-instance-connect:OpenTunnel","Resource":"*",
		"Condition":{"NotIpAddress":{"aws:SourceIp":["198.51.100.0/24","2001:db8::/32"]}}}]}`, IdentityPolicy)}

	tests := []struct {
		name     string
		policies []Source
		action   string
		resource string
		ctx      Context
		want     Effect
		policy   string
		index    int
		sid      string
	}{
		// Connecting (seed policy 2).
		{"tunnel port 22 ip .0 60s", []Source{open}, "ec2-instance-connect:OpenTunnel", seedEndpoint, tunnelCtx("22", "10.0.1.0", "60"), Allow, "connect", 0, "EC2InstanceConnect"},
		{"tunnel ip .1", []Source{open}, "ec2-instance-connect:OpenTunnel", seedEndpoint, tunnelCtx("22", "10.0.1.1", "60"), Allow, "connect", 0, "EC2InstanceConnect"},
		{"tunnel 1s", []Source{open}, "ec2-instance-connect:OpenTunnel", seedEndpoint, tunnelCtx("22", "10.0.1.1", "1"), Allow, "connect", 0, "EC2InstanceConnect"},
		{"tunnel action case", []Source{open}, "EC2-Instance-Connect:openTUNNEL", seedEndpoint, tunnelCtx("22", "10.0.1.1", "30"), Allow, "connect", 0, "EC2InstanceConnect"},
		{"tunnel port 3389", []Source{open}, "ec2-instance-connect:OpenTunnel", seedEndpoint, tunnelCtx("3389", "10.0.1.0", "60"), ImplicitDeny, "", 0, ""},
		{"tunnel ip .2", []Source{open}, "ec2-instance-connect:OpenTunnel", seedEndpoint, tunnelCtx("22", "10.0.1.2", "60"), ImplicitDeny, "", 0, ""},
		{"tunnel ipv6", []Source{open}, "ec2-instance-connect:OpenTunnel", seedEndpoint, tunnelCtx("22", "2001:db8::1", "60"), ImplicitDeny, "", 0, ""},
		{"tunnel 61s", []Source{open}, "ec2-instance-connect:OpenTunnel", seedEndpoint, tunnelCtx("22", "10.0.1.0", "61"), ImplicitDeny, "", 0, ""},
		{"tunnel default 3600s", []Source{open}, "ec2-instance-connect:OpenTunnel", seedEndpoint, tunnelCtx("22", "10.0.1.0", "3600"), ImplicitDeny, "", 0, ""},
		{"tunnel duration absent", []Source{open}, "ec2-instance-connect:OpenTunnel", seedEndpoint, tunnelCtx("22", "10.0.1.0", ""), ImplicitDeny, "", 0, ""},
		{"tunnel other endpoint", []Source{open}, "ec2-instance-connect:OpenTunnel", "arn:aws:ec2:region:account-id:instance-connect-endpoint/eice-0000000000000000", tunnelCtx("22", "10.0.1.0", "60"), ImplicitDeny, "", 0, ""},
		{"tunnel real region endpoint", []Source{open}, "ec2-instance-connect:OpenTunnel", "arn:aws:ec2:us-east-1:123456789012:instance-connect-endpoint/eice-123456789abcdef", tunnelCtx("22", "10.0.1.0", "60"), ImplicitDeny, "", 0, ""},
		{"describe instances", []Source{open}, "ec2:DescribeInstances", "*", nil, Allow, "connect", 1, "Describe"},
		{"describe endpoints", []Source{open}, "ec2:DescribeInstanceConnectEndpoints", "*", nil, Allow, "connect", 1, "Describe"},
		{"not granted", []Source{open}, "ec2:TerminateInstances", "*", nil, ImplicitDeny, "", 0, ""},
		{"send key not granted", []Source{open}, "ec2-instance-connect:SendSSHPublicKey", "arn:aws:ec2:region:account-id:instance/i-1", nil, ImplicitDeny, "", 0, ""},
		// An explicit deny in another policy wins over the seed's allow.
		{"deny outside office", []Source{open, denyOutside}, "ec2-instance-connect:OpenTunnel", seedEndpoint,
			func() Context { c := tunnelCtx("22", "10.0.1.0", "60"); c.Set("aws:SourceIp", "203.0.113.9"); return c }(), Deny, "deny-outside", 0, "OnlyFromOffice"},
		{"office allowed", []Source{denyOutside, open}, "ec2-instance-connect:OpenTunnel", seedEndpoint, tunnelCtx("22", "10.0.1.0", "60"), Allow, "connect", 0, "EC2InstanceConnect"},

		// Creating (seed policy 1).
		{"create in subnet", []Source{create}, "ec2:CreateInstanceConnectEndpoint", "arn:aws:ec2:region:account-id:subnet/subnet-0123", nil, Allow, "create", 0, "GrantAllActionsInAllSubnets"},
		{"service linked role", []Source{create}, "iam:CreateServiceLinkedRole", "arn:aws:ec2:region:account-id:subnet/subnet-0123", nil, Allow, "create", 0, "GrantAllActionsInAllSubnets"},
		{"eni in security group", []Source{create}, "ec2:CreateNetworkInterface", "arn:aws:ec2:::security-group/sg-1", nil, Allow, "create", 1, ""},
		// The empty region and account of the policy's EC2 ARN stand for
		// any (see regionalARN), so a fully qualified security group ARN
		// is matched by statement 1, as the AWS tutorial intends.
		{"eni in qualified sg", []Source{create}, "ec2:CreateNetworkInterface", "arn:aws:ec2:us-east-1:123456789012:security-group/sg-1", nil, Allow, "create", 1, ""},
		{"eni in other service's empty arn", []Source{create}, "ec2:CreateNetworkInterface", "arn:aws:ec2:us-east-1:123456789012:subnet/sg-1", nil, ImplicitDeny, "", 0, ""},
		{"describe endpoints 2", []Source{create}, "ec2:DescribeInstanceConnectEndpoints", "*", nil, Allow, "create", 2, "DescribeInstanceConnectEndpoints"},
		{"create on endpoint arn", []Source{create}, "ec2:DeleteInstanceConnectEndpoint", seedEndpoint, nil, ImplicitDeny, "", 0, ""},
		{"both policies", []Source{create, open}, "ec2:DescribeInstanceConnectEndpoints", "*", nil, Allow, "create", 2, "DescribeInstanceConnectEndpoints"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Evaluate(tt.policies, Request{Action: tt.action, Resource: tt.resource, Context: tt.ctx})
			checkDecision(t, d, tt.want, tt.policy, tt.index, tt.sid)
		})
	}
}

// checkDecision checks a decision's effect and, unless it is an implicit
// deny, the statement it names.
func checkDecision(t *testing.T, d Decision, want Effect, policy string, index int, sid string) {
	t.Helper()
	if d.Effect != want || d.Allowed != (want == Allow) {
		t.Fatalf("decision = %v (allowed %v), want %v", d, d.Allowed, want)
	}
	if want == ImplicitDeny {
		if d.Matched != nil {
			t.Fatalf("implicit deny names %v", d.Matched)
		}
		return
	}
	if d.Matched == nil {
		t.Fatalf("decision %v names no statement", d.Effect)
	}
	if m := d.Matched; m.Policy != policy || m.Index != index || m.Sid != sid || m.Effect != want {
		t.Fatalf("matched %+v, want policy %q index %d sid %q", *m, policy, index, sid)
	}
}
