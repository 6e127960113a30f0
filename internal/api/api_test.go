package api_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/postern/postern/internal/api"
	"github.com/postern/postern/internal/ec2api"
	"github.com/postern/postern/internal/iamapi"
	"github.com/postern/postern/internal/identity"
	"github.com/postern/postern/internal/sealer"
	"github.com/postern/postern/internal/store/sqlstore"
)

// TestEdgeErrors sends malformed and badly signed requests to the edge and
// checks the AWS code, status and error format each protocol's clients
// expect.
func TestEdgeErrors(t *testing.T) {
	ctx := context.Background()
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "t.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	key := make([]byte, sealer.KeySize)
	rand.Read(key)
	seal, _ := sealer.New(key)
	authn, _ := identity.NewAuthenticator(identity.AuthConfig{Store: st, Sealer: seal, AccountID: "123456789012", Region: "us-east-1"})
	authz := identity.NewAuthorizer(st, nil)
	cfg := iamapi.Config{Store: st, Sealer: seal, Authorizer: authz, AccountID: "123456789012"}
	iamSvc, _ := iamapi.NewIAM(cfg)
	stsSvc, _ := iamapi.NewSTS(cfg)
	ec2Svc, err := ec2api.NewEC2(ec2api.Config{Store: st, AccountID: "123456789012", Region: "us-east-1", DNSName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	d, err := api.New(api.Config{Authenticator: authn, Authorizer: authz, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		MaxBody: 4096, Services: []*api.Service{iamSvc, stsSvc, ec2Svc}})
	if err != nil {
		t.Fatal(err)
	}
	admin, err := iamapi.Bootstrap(ctx, cfg, "admin")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(d)
	defer srv.Close()

	sign := func(service, akid, secret, body string, edit func(*http.Request)) *http.Request {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if edit != nil {
			edit(req)
		}
		sum := sha256.Sum256([]byte(body))
		_ = v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret}, req, hex.EncodeToString(sum[:]), service, "us-east-1", time.Now())
		return req
	}
	good := func(service, body string) *http.Request {
		return sign(service, admin.AccessKeyID, admin.SecretAccessKey, body, nil)
	}
	tests := []struct {
		name   string
		req    *http.Request
		status int
		code   string
		format string // "iam" or "ec2"
	}{
		{"ok", good("sts", "Action=GetCallerIdentity&Version=2011-06-15"), 200, "", "iam"},
		{"unsigned", func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, srv.URL+"/", strings.NewReader("Action=ListUsers"))
			return r
		}(), 403, "MissingAuthenticationToken", "iam"},
		{"unknown key", sign("iam", "AKIAUNKNOWN000000000", "x", "Action=ListUsers&Version=2010-05-08", nil), 403, "InvalidClientTokenId", "iam"},
		{"unknown key ec2", sign("ec2", "AKIAUNKNOWN000000000", "x", "Action=DescribeVpcs&Version=2016-11-15", nil), 401, "AuthFailure", "ec2"},
		{"wrong secret", sign("iam", admin.AccessKeyID, "wrong", "Action=ListUsers&Version=2010-05-08", nil), 403, "SignatureDoesNotMatch", "iam"},
		{"tampered body", func() *http.Request {
			r := good("iam", "Action=ListUsers&Version=2010-05-08")
			tampered := "Action=DeleteUser&Version=2010-05-08"
			r.Body = io.NopCloser(strings.NewReader(tampered))
			r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(tampered)), nil }
			r.ContentLength = int64(len(tampered))
			return r
		}(), 403, "SignatureDoesNotMatch", "iam"},
		{"old signature ec2", sign("ec2", admin.AccessKeyID, admin.SecretAccessKey, "Action=DescribeVpcs&Version=2016-11-15", func(r *http.Request) {}), 200, "", "ec2"},
		{"no action", good("iam", "Version=2010-05-08"), 400, "MissingAction", "iam"},
		{"unknown action", good("iam", "Action=LaunchRockets&Version=2010-05-08"), 400, "InvalidAction", "iam"},
		{"unknown action ec2", good("ec2", "Action=LaunchRockets&Version=2016-11-15"), 400, "InvalidAction", "ec2"},
		{"unknown service", good("s3", "Action=ListBuckets"), 400, "UnknownService", "iam"},
		{"oversized body", good("iam", "Action=ListUsers&Version=2010-05-08&Pad="+strings.Repeat("x", 5000)), 413, "RequestEntityTooLarge", "iam"},
		{"bad form", good("iam", "Action=ListUsers&%zz"), 400, "MalformedQueryString", "iam"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.DefaultClient.Do(tc.req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if resp.Header.Get("x-amzn-RequestId") == "" {
				t.Error("no x-amzn-RequestId header")
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
