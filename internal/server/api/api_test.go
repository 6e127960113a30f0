package api_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/postern/postern/internal/server/api"
	"github.com/postern/postern/internal/wire/awsproto"
)

// TestEdgeErrors sends malformed and badly signed requests to the edge and
// checks the AWS code, status and error format each protocol's clients
// expect.
func TestEdgeErrors(t *testing.T) {
	e := startEdge(t, edgeOptions{maxBody: 4096, services: func(p edgeParts) []*api.Service { return []*api.Service{p.iam, p.sts, p.ec2} }})
	sign := func(service, akid, secret, body string) *http.Request {
		return e.signedAs(t, aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret}, service, "", body, "", nil)
	}
	good := func(service, body string) *http.Request { return e.signed(t, service, "", body, "", nil) }
	wantRegions := []string{edgeRegion} // us-east-1: IAM and STS are signed for it anyway
	tests := []struct {
		name   string
		req    *http.Request
		status int
		code   string
		format string // "iam" or "ec2"
	}{
		{"ok", good("sts", "Action=GetCallerIdentity&Version=2011-06-15"), 200, "", "iam"},
		{"unsigned", func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, e.url+"/", strings.NewReader("Action=ListUsers"))
			return r
		}(), 403, "MissingAuthenticationToken", "iam"},
		{"unknown key", sign("iam", "AKIAUNKNOWN000000000", "x", "Action=ListUsers&Version=2010-05-08"), 403, "InvalidClientTokenId", "iam"},
		{"unknown key ec2", sign("ec2", "AKIAUNKNOWN000000000", "x", "Action=DescribeVpcs&Version=2016-11-15"), 401, "AuthFailure", "ec2"},
		{"wrong secret", sign("iam", e.admin.AccessKeyID, "wrong", "Action=ListUsers&Version=2010-05-08"), 403, "SignatureDoesNotMatch", "iam"},
		{"tampered body", swapBody(good("iam", "Action=ListUsers&Version=2010-05-08"), "Action=DeleteUser&Version=2010-05-08"), 403, "SignatureDoesNotMatch", "iam"},
		{"old signature ec2", sign("ec2", e.admin.AccessKeyID, e.admin.SecretAccessKey, "Action=DescribeVpcs&Version=2016-11-15"), 200, "", "ec2"},
		{"no action", good("iam", "Version=2010-05-08"), 400, "MissingAction", "iam"},
		{"unknown action", good("iam", "Action=LaunchRockets&Version=2010-05-08"), 400, "InvalidAction", "iam"},
		{"unknown action ec2", good("ec2", "Action=LaunchRockets&Version=2016-11-15"), 400, "InvalidAction", "ec2"},
		{"unknown service", good("s3", "Action=ListBuckets"), 400, "UnknownService", "iam"},
		{"oversized body", good("iam", "Action=ListUsers&Version=2010-05-08&Pad="+strings.Repeat("x", 5000)), 413, "RequestEntityTooLarge", "iam"},
		{"bad form", good("iam", "Action=ListUsers&%zz"), 400, "MalformedQueryString", "iam"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := send(t, tc.req)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if resp.Header.Get("x-amzn-RequestId") == "" {
				t.Error("no x-amzn-RequestId header")
			}
			// Every answer names the regions the server accepts, its own
			// first: the CLI's region hint reads them, not the message.
			if got := awsproto.ParseRegions(resp.Header.Get(awsproto.HeaderRegions)); !slices.Equal(got, wantRegions) {
				t.Errorf("%s: %q, want %q", awsproto.HeaderRegions, got, wantRegions)
			}
			if tc.code == "" {
				return
			}
			if !strings.Contains(string(body), "<Code>"+tc.code+"</Code>") {
				t.Fatalf("body lacks code %s: %s", tc.code, body)
			}
			switch tc.format {
			case "ec2":
				if !strings.Contains(string(body), "<Response><Errors><Error>") || !strings.Contains(string(body), "<RequestID>") {
					t.Fatalf("not an EC2 error document: %s", body)
				}
			default:
				if !strings.Contains(string(body), "<ErrorResponse") || !strings.Contains(string(body), "<Type>Sender</Type>") {
					t.Fatalf("not an IAM error document: %s", body)
				}
			}
			if strings.Contains(string(body), "goroutine") || strings.Contains(string(body), ".go:") {
				t.Fatalf("internal detail leaked: %s", body)
			}
		})
	}
}
