package policy

import "testing"

// TestReadsContext: ReadsContext reports a document that has a Condition
// or a policy variable in Resource/NotResource, and only such a document
// (the Authorizer leaves a request's global keys unbuilt otherwise, so a
// document it misses would be evaluated without them).
func TestReadsContext(t *testing.T) {
	tests := []struct {
		name string
		docs []string
		want bool
	}{
		{"plain allow", []string{`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:*","Resource":"*"}]}`}, false},
		{"not resource, no variable", []string{`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","NotResource":"arn:aws:ec2:*:*:vpc/*"}]}`}, false},
		{"variable in resource", []string{`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetUser","Resource":"arn:aws:iam::*:user/${aws:username}"}]}`}, true},
		{"variable in not resource", []string{`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"iam:*","NotResource":"arn:aws:iam::*:user/${aws:username}"}]}`}, true},
		{"2008 version: a variable is literal text", []string{`{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetUser","Resource":"arn:aws:iam::*:user/${aws:username}"}]}`}, false},
		{"condition", []string{`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"true"}}}]}`}, true},
		{"condition in the second document", []string{
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:*","Resource":"*"}]}`,
			`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}`,
		}, true},
		{"condition in a later statement", []string{`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:*","Resource":"*"},{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:username":"x"}}}]}`}, true},
		{"no documents", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var srcs []Source
			for _, d := range tt.docs {
				doc, err := Parse(d, IdentityPolicy)
				if err != nil {
					t.Fatal(err)
				}
				srcs = append(srcs, Source{Name: "p", Doc: doc})
			}
			srcs = append(srcs, Source{Name: "nil document"})
			if got := ReadsContext(srcs); got != tt.want {
				t.Fatalf("ReadsContext = %v, want %v", got, tt.want)
			}
		})
	}
}
