package cli

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// TestResumeTokenLikeAWSCLI: the NextToken text is byte for byte what the
// AWS CLI (botocore 1.43) printed for the same position, and reading it
// back gives the position again. Expected strings were printed by `aws`
// against a Postern server, or by Python's base64(json.dumps(...)).
func TestResumeTokenLikeAWSCLI(t *testing.T) {
	cases := []struct {
		name, input string
		tok         resumeToken
		want        string
	}{
		{"first page, mid-page", "Marker", resumeToken{truncate: 2}, "eyJNYXJrZXIiOiBudWxsLCAiYm90b190cnVuY2F0ZV9hbW91bnQiOiAyfQ=="},
		{"later page, mid-page", "Marker", resumeToken{service: aws.String("2"), truncate: 1}, "eyJNYXJrZXIiOiAiMiIsICJib3RvX3RydW5jYXRlX2Ftb3VudCI6IDF9"},
		{"page boundary", "Marker", resumeToken{service: aws.String("2")}, "eyJNYXJrZXIiOiAiMiJ9"},
		{"cloudtrail", "NextToken", resumeToken{service: aws.String("MTc5NjUxMjg2NTk5NDU0NnxmYjVmMDcwZC01NzEzLTQ4YTktYmFhNC0yNDY0MzI5MGJmZDY"), truncate: 1},
			"eyJOZXh0VG9rZW4iOiAiTVRjNU5qVXhNamcyTlRrNU5EVTBObnhtWWpWbU1EY3daQzAxTnpFekxUUTRZVGt0WW1GaE5DMHlORFkwTXpJNU1HSm1aRFkiLCAiYm90b190cnVuY2F0ZV9hbW91bnQiOiAxfQ=="},
		{"escapes as json.dumps", "NextToken", resumeToken{service: aws.String("é/<&\U0001F600\x7f\"\\\n\x01 ~")},
			"eyJOZXh0VG9rZW4iOiAiXHUwMGU5LzwmXHVkODNkXHVkZTAwXHUwMDdmXCJcXFxuXHUwMDAxIH4ifQ=="},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := encodeToken(c.input, c.tok); got != c.want {
				t.Fatalf("encodeToken = %s, want %s", got, c.want)
			}
			back := decodeToken(c.input, c.want)
			if aws.ToString(back.service) != aws.ToString(c.tok.service) || (back.service == nil) != (c.tok.service == nil) || back.truncate != c.tok.truncate {
				t.Fatalf("decodeToken = {%v %d}, want {%v %d}", aws.ToString(back.service), back.truncate, aws.ToString(c.tok.service), c.tok.truncate)
			}
		})
	}
}

// TestStartingTokenFallbacks: a --starting-token that is not the JSON
// form is read as botocore reads it: "token___n" is the old form, anything
// else is the service's own token.
func TestStartingTokenFallbacks(t *testing.T) {
	cases := []struct {
		in       string
		service  *string
		truncate int
	}{
		{"garbage", aws.String("garbage"), 0},
		{"abc___3", aws.String("abc"), 3},
		{"None___2", nil, 2},
		{"a___b", aws.String("a___b"), 0},
		{"MTc5NjUxMjg2NTk5NDU0NnxmYjVm", aws.String("MTc5NjUxMjg2NTk5NDU0NnxmYjVm"), 0},
	}
	for _, c := range cases {
		got := decodeToken("NextToken", c.in)
		if (got.service == nil) != (c.service == nil) || aws.ToString(got.service) != aws.ToString(c.service) || got.truncate != c.truncate {
			t.Errorf("decodeToken(%q) = {%v %d}, want {%v %d}", c.in, aws.ToString(got.service), got.truncate, aws.ToString(c.service), c.truncate)
		}
	}
}
