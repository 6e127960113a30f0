package policy

import "testing"

func TestRegionalARN(t *testing.T) {
	tests := []struct{ in, want string }{
		{"arn:aws:ec2:::security-group/*", "arn:aws:ec2:*:*:security-group/*"},
		{"arn:aws:ec2:us-east-1::subnet/*", "arn:aws:ec2:us-east-1:*:subnet/*"},
		{"arn:aws:ec2:us-east-1:123456789012:subnet/*", "arn:aws:ec2:us-east-1:123456789012:subnet/*"},
		{"arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/*"},
		{"arn:aws:iam::123456789012:user/a", "arn:aws:iam::123456789012:user/a"},
		{"*", "*"},
		{"arn:aws:ec2", "arn:aws:ec2"},
	}
	for _, tc := range tests {
		if got := regionalARN(tc.in); got != tc.want {
			t.Errorf("regionalARN(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
