package policy

import (
	"errors"
	"strings"
	"testing"
)

// TestParseDuplicateKeys: a document that names a member twice in one
// object, at any depth, is refused with AWS's syntax message, so that
// {"Effect":"Deny",…,"Effect":"Allow"} cannot mean Allow; the same name in
// different objects is fine.
func TestParseDuplicateKeys(t *testing.T) {
	tests := []struct {
		name string
		kind Kind
		doc  string
		dup  string // the key named in the message; "" when valid
	}{
		{"effect twice", IdentityPolicy, stmt(`{"Effect":"Deny","Action":"*","Resource":"*","Effect":"Allow"}`), "Effect"},
		{"action twice", IdentityPolicy, stmt(`{"Effect":"Allow","Action":"iam:GetUser","Action":"*","Resource":"*"}`), "Action"},
		{"statement twice", IdentityPolicy, `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}],"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`, "Statement"},
		{"version twice", IdentityPolicy, `{"Version":"2008-10-17","Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`, "Version"},
		{"condition operator twice", IdentityPolicy, stmt(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:username":"a"},"StringEquals":{"aws:username":"b"}}}`), "StringEquals"},
		{"condition key twice", IdentityPolicy, stmt(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NumericLessThanEquals":{"ec2-instance-connect:maxTunnelDuration":"600","ec2-instance-connect:maxTunnelDuration":"3600"}}}`), "ec2-instance-connect:maxTunnelDuration"},
		{"principal type twice", ResourcePolicy, stmt(`{"Effect":"Allow","Principal":{"AWS":"111122223333","AWS":"*"},"Action":"sts:AssumeRole"}`), "AWS"},
		{"escaped repeat", IdentityPolicy, stmt(`{"Effect":"Deny","Action":"*","Resource":"*","\u0045ffect":"Allow"}`), "Effect"},
		{"same keys in two statements", IdentityPolicy, stmt(`{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"iam:*","Resource":"*"}`), ""},
		{"condition key case differs", IdentityPolicy, stmt(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:username":"a","aws:UserName":"a"}}}`), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Parse(tc.doc, tc.kind)
			if tc.dup == "" {
				if err != nil {
					t.Fatalf("valid document refused: %v", err)
				}
				return
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("accepted (%d statements, first %s), want a ParseError", len(d.Statements), d.Statements[0].Effect)
			}
			if !strings.HasPrefix(pe.Msg, msgSyntax) || !strings.Contains(pe.Msg, quote(tc.dup)) {
				t.Fatalf("message %q, want %q naming %q", pe.Msg, msgSyntax, tc.dup)
			}
		})
	}
}
