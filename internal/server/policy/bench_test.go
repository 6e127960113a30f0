package policy

import (
	"fmt"
	"testing"
)

// benchPolicies returns n parsed policies of three statements each, with
// wildcards, a variable and conditions; only the last one allows the
// benchmark request, so Evaluate has to look at all of them.
func benchPolicies(b *testing.B, n int) []Source {
	b.Helper()
	out := make([]Source, 0, n)
	for i := range n {
		doc := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[
			{"Sid":"Tunnel","Effect":"Allow","Action":["ec2:Describe*","ec2-instance-connect:OpenTunnel"],
			 "Resource":"arn:aws:ec2:*:*:instance-connect-endpoint/eice-%017d",
			 "Condition":{"NumericEquals":{"ec2-instance-connect:remotePort":"22"},"IpAddress":{"aws:SourceIp":"10.%d.0.0/16"},
			              "NumericLessThanEquals":{"ec2-instance-connect:maxTunnelDuration":"3600"}}},
			{"Sid":"Home","Effect":"Allow","Action":["s3:Get*","s3:List*"],"Resource":"arn:aws:s3:::home-%d/${aws:username}/*",
			 "Condition":{"StringLike":{"aws:PrincipalTag/team":["red-*","blue-?"]}}},
			{"Sid":"NoAdmins","Effect":"Deny","Action":"iam:*","Resource":"arn:aws:iam::*:user/admin-%d",
			 "Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`, i, i%250, i, i)
		d, err := Parse(doc, IdentityPolicy)
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, Source{Name: fmt.Sprintf("arn:aws:iam::123456789012:policy/p%03d", i), Doc: d})
	}
	return out
}

// BenchmarkEvaluate100 decides one OpenTunnel request against 100
// policies, the 100th of which allows it.
func BenchmarkEvaluate100(b *testing.B) {
	policies := benchPolicies(b, 100)
	ctx := Context{}
	ctx.Set("ec2-instance-connect:remotePort", "22")
	ctx.Set("ec2-instance-connect:privateIpAddress", "10.0.1.1")
	ctx.Set("ec2-instance-connect:maxTunnelDuration", "3600")
	ctx.Set("aws:SourceIp", "10.99.1.1")
	ctx.Set("aws:username", "alice")
	ctx.Set("aws:SecureTransport", "true")
	ctx.Set("aws:CurrentTime", "2024-01-01T00:00:00Z")
	req := Request{
		Action:   "ec2-instance-connect:OpenTunnel",
		Resource: fmt.Sprintf("arn:aws:ec2:us-east-1:123456789012:instance-connect-endpoint/eice-%017d", 99),
		Context:  ctx,
	}
	d := Evaluate(policies, req)
	if !d.Allowed || d.Matched.Policy != "arn:aws:iam::123456789012:policy/p099" {
		b.Fatalf("decision %v", d)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		Evaluate(policies, req)
	}
}

// BenchmarkParse measures parsing and compiling the connect seed policy.
func BenchmarkParse(b *testing.B) {
	doc := readTestdata(b, seedOpenFile)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(doc, IdentityPolicy); err != nil {
			b.Fatal(err)
		}
	}
}
