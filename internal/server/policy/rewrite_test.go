package policy

import (
	"errors"
	"strings"
	"testing"
)

func TestMapAWSPrincipals(t *testing.T) {
	const bob = "arn:aws:iam::123456789012:user/bob"
	const bobID = "AIDAAAAAAAAAAAAAAAAAB"
	toID := func(v string) (string, error) {
		if v == bob {
			return bobID, nil
		}
		return v, nil
	}
	tests := []struct {
		name, doc, want string
	}{
		{"string value",
			`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"` + bob + `"},"Action":"sts:AssumeRole"}]}`,
			`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"` + bobID + `"},"Action":"sts:AssumeRole"}]}`},
		{"array, formatting and other values kept",
			"{\n \"Version\" : \"2012-10-17\",\n \"Statement\" : {\"Effect\":\"Allow\", \"Principal\" : { \"Service\":\"ec2.amazonaws.com\" , \"AWS\" : [ \"123456789012\" ,\n\t\"" + bob + "\" ] },\n \"Action\":\"sts:AssumeRole\",\"Condition\":{\"StringEquals\":{\"aws:PrincipalArn\":\"" + bob + "\"}}}}",
			"{\n \"Version\" : \"2012-10-17\",\n \"Statement\" : {\"Effect\":\"Allow\", \"Principal\" : { \"Service\":\"ec2.amazonaws.com\" , \"AWS\" : [ \"123456789012\" ,\n\t\"" + bobID + "\" ] },\n \"Action\":\"sts:AssumeRole\",\"Condition\":{\"StringEquals\":{\"aws:PrincipalArn\":\"" + bob + "\"}}}}"},
		{"escaped value",
			`{"Statement":[{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::123456789012:user\/bob"},"Action":"sts:AssumeRole"}]}`,
			`{"Statement":[{"Effect":"Deny","NotPrincipal":{"AWS":"` + bobID + `"},"Action":"sts:AssumeRole"}]}`},
		{"star and no AWS member unchanged",
			`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"},{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`,
			`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"},{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Parse(tc.doc, ResourcePolicy); err != nil {
				t.Fatalf("test document does not parse: %v", err)
			}
			got, err := MapAWSPrincipals(tc.doc, toID)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
			back, err := MapAWSPrincipals(got, func(v string) (string, error) {
				if v == bobID {
					return bob, nil
				}
				return v, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Parse(back, ResourcePolicy); err != nil || !strings.Contains(back, "Statement") {
				t.Fatalf("mapped back %s: %v", back, err)
			}
		})
	}
	stop := errors.New("stop")
	if _, err := MapAWSPrincipals(tests[0].doc, func(string) (string, error) { return "", stop }); !errors.Is(err, stop) {
		t.Fatalf("error from fn: got %v", err)
	}
}

// TestPrincipalByUniqueID: with the caller's unique id given, a user or
// role named in a stored policy matches by id only.
func TestPrincipalByUniqueID(t *testing.T) {
	const (
		acct   = "123456789012"
		bob    = "arn:aws:iam::" + acct + ":user/bob"
		bobID  = "AIDAAAAAAAAAAAAAAAAAB"
		newID  = "AIDAAAAAAAAAAAAAAAAAC"
		ops    = "arn:aws:iam::" + acct + ":role/ops"
		opsID  = "AROAAAAAAAAAAAAAAAAAB"
		newOps = "AROAAAAAAAAAAAAAAAAAC"
		sess   = "arn:aws:sts::" + acct + ":assumed-role/ops/s1"
	)
	trust := func(p string) string {
		return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + p + `"},"Action":"sts:AssumeRole"}]}`
	}
	tests := []struct {
		name      string
		principal string // in the stored policy
		caller    Principal
		want      bool
	}{
		{"user by id", bobID, Principal{ARN: bob, ID: bobID}, true},
		{"new user of the same name", bobID, Principal{ARN: bob, ID: newID}, false},
		{"unbound user ARN matches no caller with an id", bob, Principal{ARN: bob, ID: bobID}, false},
		{"unbound user ARN, caller without id (as written)", bob, Principal{ARN: bob}, true},
		{"role by id: its session", opsID, Principal{ARN: sess, ID: opsID}, true},
		{"new role of the same name: its session", opsID, Principal{ARN: sess, ID: newOps}, false},
		{"unbound role ARN: session with an id", ops, Principal{ARN: sess, ID: opsID}, false},
		{"session ARN still by ARN", sess, Principal{ARN: sess, ID: newOps}, true},
		{"account still by account", acct, Principal{ARN: bob, ID: newID}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Parse(trust(tc.principal), ResourcePolicy)
			if err != nil {
				t.Fatal(err)
			}
			p := tc.caller
			if p.Account == "" && tc.principal != acct {
				p.Account = "no-account" // as AssumeRole asks "named, not by account?"
			}
			dec := Evaluate([]Source{{Name: "trust", Doc: d}}, Request{Action: "sts:AssumeRole", Resource: ops, Principal: &p})
			if dec.Allowed != tc.want {
				t.Fatalf("allowed = %v, want %v (%s)", dec.Allowed, tc.want, dec)
			}
		})
	}
}
