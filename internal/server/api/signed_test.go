package api_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/smithy-go"
)

const emptyBodySHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// presigned is a URL presigned with the SDK's signer (as for a GET) and
// then sent with method, body and extra (unsigned) headers.
func (e edge) presigned(t *testing.T, method, service, query string, signedHeader map[string]string, body string, extra map[string]string) *http.Request {
	t.Helper()
	req, _ := http.NewRequest(method, e.url+"/?"+query, nil)
	for k, v := range signedHeader {
		req.Header.Set(k, v)
	}
	u, hdr, err := v4.NewSigner().PresignHTTP(context.Background(), e.admin, req, emptyBodySHA, service, edgeRegion, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	out, _ := http.NewRequest(method, u, rd)
	for k, v := range hdr {
		if !strings.EqualFold(k, "Host") {
			for _, x := range v {
				out.Header.Add(k, x)
			}
		}
	}
	for k, v := range extra {
		out.Header.Set(k, v)
	}
	return out
}

// swapBody replaces a request's body after signing.
func swapBody(r *http.Request, body string) *http.Request {
	r.Body = io.NopCloser(strings.NewReader(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil }
	r.ContentLength = int64(len(body))
	return r
}

type edgeCase struct {
	name   string
	req    func(t *testing.T) *http.Request
	status int
	code   string // "" when the call must succeed
	msg    string // part of the error message
}

func runEdgeCases(t *testing.T, cases []edgeCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := send(t, tc.req(t))
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if tc.code == "" {
				return
			}
			if !strings.Contains(string(body), "<Code>"+tc.code+"</Code>") && !strings.Contains(string(body), `"__type":"`+tc.code+`"`) {
				t.Fatalf("body lacks code %s: %s", tc.code, body)
			}
			if !strings.Contains(string(body), tc.msg) {
				t.Fatalf("body lacks %q: %s", tc.msg, body)
			}
		})
	}
}

// TestPayloadMustBeSigned: every service refuses a request whose body the
// signature does not cover (UNSIGNED-PAYLOAD, streaming payloads, a body
// or an X-Amz-Target under a presigned URL, an unsigned X-Amz-Target),
// while what the real clients send keeps working.
func TestPayloadMustBeSigned(t *testing.T) {
	e := startEdge(t, edgeOptions{})
	const lookup = "CloudTrail_20131101.LookupEvents"
	unsigned := map[string]string{"X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD"}
	runEdgeCases(t, []edgeCase{
		{"header-signed query call", func(t *testing.T) *http.Request {
			return e.signed(t, "iam", "", "Action=GetUser&Version=2010-05-08", "", nil)
		}, 200, "", ""},
		{"header-signed JSON call", func(t *testing.T) *http.Request {
			return e.signed(t, "cloudtrail", "", `{"MaxResults":1}`, "", map[string]string{"X-Amz-Target": lookup})
		}, 200, "", ""},
		{"body hash header that matches", func(t *testing.T) *http.Request {
			sum := sha256.Sum256([]byte("Action=GetUser&Version=2010-05-08"))
			return e.signed(t, "iam", "", "Action=GetUser&Version=2010-05-08", "", map[string]string{"X-Amz-Content-Sha256": hex.EncodeToString(sum[:])})
		}, 200, "", ""},
		{"presigned query GET", func(t *testing.T) *http.Request {
			return e.presigned(t, http.MethodGet, "sts", "Action=GetCallerIdentity&Version=2011-06-15", nil, "", nil)
		}, 200, "", ""},
		{"unsigned payload, body swapped after signing", func(t *testing.T) *http.Request {
			// Same length: Content-Length is signed.
			r := e.signed(t, "iam", "", "Action=ListRoles&Version=2010-05-08", "UNSIGNED-PAYLOAD", unsigned)
			return swapBody(r, "Action=ListUsers&Version=2010-05-08")
		}, 403, "SignatureDoesNotMatch", "x-amz-content-sha256"},
		{"unsigned payload, body as signed", func(t *testing.T) *http.Request {
			return e.signed(t, "sts", "", "Action=GetCallerIdentity&Version=2011-06-15", "UNSIGNED-PAYLOAD", unsigned)
		}, 403, "SignatureDoesNotMatch", "x-amz-content-sha256"},
		{"unsigned payload ec2", func(t *testing.T) *http.Request {
			return e.signed(t, "ec2", "", "Action=DescribeVpcs&Version=2016-11-15", "UNSIGNED-PAYLOAD", unsigned)
		}, 403, "SignatureDoesNotMatch", "x-amz-content-sha256"},
		{"unsigned payload JSON", func(t *testing.T) *http.Request {
			return e.signed(t, "cloudtrail", "", `{}`, "UNSIGNED-PAYLOAD", map[string]string{"X-Amz-Target": lookup, "X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD"})
		}, 403, "SignatureDoesNotMatch", "x-amz-content-sha256"},
		{"streaming payload", func(t *testing.T) *http.Request {
			h := "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
			return e.signed(t, "iam", "", "Action=GetUser&Version=2010-05-08", h, map[string]string{"X-Amz-Content-Sha256": h})
		}, 403, "SignatureDoesNotMatch", "x-amz-content-sha256"},
		{"unsigned payload signed, header dropped", func(t *testing.T) *http.Request {
			r := e.signed(t, "iam", "", "Action=ListRoles&Version=2010-05-08", "UNSIGNED-PAYLOAD", unsigned)
			r.Header.Del("X-Amz-Content-Sha256")
			return swapBody(r, "Action=ListUsers&Version=2010-05-08")
		}, 403, "SignatureDoesNotMatch", ""},
		{"presigned POST with a body", func(t *testing.T) *http.Request {
			return e.presigned(t, http.MethodPost, "iam", "Version=2010-05-08", nil, "Action=ListUsers", map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
		}, 400, "IncompleteSignature", "body"},
		{"presigned POST with an unsigned X-Amz-Target", func(t *testing.T) *http.Request {
			return e.presigned(t, http.MethodPost, "cloudtrail", "", nil, "", map[string]string{"X-Amz-Target": lookup})
		}, 400, "IncompleteSignature", "presigned"},
		{"presigned POST with a JSON body and target", func(t *testing.T) *http.Request {
			return e.presigned(t, http.MethodPost, "cloudtrail", "", nil, `{"MaxResults":50}`, map[string]string{"X-Amz-Target": lookup})
		}, 400, "IncompleteSignature", ""},
		{"presigned GET with a signed X-Amz-Target", func(t *testing.T) *http.Request {
			return e.presigned(t, http.MethodGet, "cloudtrail", "", map[string]string{"X-Amz-Target": lookup}, "", nil)
		}, 400, "IncompleteSignature", "presigned"},
		{"presigned POST, action in the query", func(t *testing.T) *http.Request {
			return e.presigned(t, http.MethodPost, "sts", "Action=GetCallerIdentity&Version=2011-06-15", nil, "", nil)
		}, 400, "IncompleteSignature", "GET"},
		{"header-signed JSON, X-Amz-Target added after signing", func(t *testing.T) *http.Request {
			r := e.signed(t, "cloudtrail", "", `{"MaxResults":1}`, "", nil)
			r.Header.Set("X-Amz-Target", lookup)
			return r
		}, 400, "IncompleteSignature", "X-Amz-Target"},
	})
}

// TestParametersAppearOnce: a parameter sent twice (in the form body, in
// the query, or in both) is refused, as AWS refuses it, and so is a JSON
// body with a repeated member.
func TestParametersAppearOnce(t *testing.T) {
	e := startEdge(t, edgeOptions{})
	const lookup = "CloudTrail_20131101.LookupEvents"
	form := func(service, body string) func(t *testing.T) *http.Request {
		return func(t *testing.T) *http.Request { return e.signed(t, service, "", body, "", nil) }
	}
	json := func(body string) func(t *testing.T) *http.Request {
		return func(t *testing.T) *http.Request {
			return e.signed(t, "cloudtrail", "", body, "", map[string]string{"X-Amz-Target": lookup})
		}
	}
	runEdgeCases(t, []edgeCase{
		{"lists are indexed, not repeated", form("ec2", "Action=DescribeVpcs&Version=2016-11-15&Filter.1.Name=vpc-id&Filter.1.Value.1=vpc-1&Filter.1.Value.2=vpc-2"), 200, "", ""},
		{"IAM parameter twice", form("iam", "Action=GetUser&Version=2010-05-08&UserName=admin&UserName=mallory"), 400, "InvalidQueryParameter", "UserName"},
		{"Action twice", form("iam", "Action=GetUser&Action=ListUsers&Version=2010-05-08"), 400, "InvalidQueryParameter", "Action"},
		{"STS parameter twice", form("sts", "Action=GetCallerIdentity&Version=2011-06-15&Version=2011-06-15"), 400, "InvalidQueryParameter", "Version"},
		{"EC2 parameter twice", form("ec2", "Action=DescribeVpcs&Version=2016-11-15&MaxResults=5&MaxResults=1000"), 400, "InvalidQueryParameter", "MaxResults"},
		{"EC2 list member twice", form("ec2", "Action=DescribeVpcs&Version=2016-11-15&VpcId.1=vpc-1&VpcId.1=vpc-2"), 400, "InvalidQueryParameter", "VpcId.1"},
		{"same name encoded two ways", form("iam", "Action=GetUser&Version=2010-05-08&UserName=admin&User%4Eame=mallory"), 400, "InvalidQueryParameter", "UserName"},
		{"in the query and the body", func(t *testing.T) *http.Request {
			return e.signed(t, "iam", "Action=ListUsers", "Action=GetUser&Version=2010-05-08", "", nil)
		}, 400, "InvalidQueryParameter", "Action"},
		{"twice in a presigned query", func(t *testing.T) *http.Request {
			return e.presigned(t, http.MethodGet, "sts", "Action=GetCallerIdentity&Version=2011-06-15&Version=2011-06-15", nil, "", nil)
		}, 400, "InvalidQueryParameter", "Version"},
		{"X-Amz-Signature twice in a presigned query", func(t *testing.T) *http.Request {
			r := e.presigned(t, http.MethodGet, "sts", "Action=GetCallerIdentity&Version=2011-06-15", nil, "", nil)
			r.URL.RawQuery += "&X-Amz-Signature=" + r.URL.Query().Get("X-Amz-Signature")
			return r
		}, 400, "IncompleteSignature", "X-Amz-Signature&#39; appears more than once"},
		{"X-Amz-Date twice in a signed request", func(t *testing.T) *http.Request {
			r := e.signed(t, "sts", "", "Action=GetCallerIdentity&Version=2011-06-15", "", nil)
			r.Header.Add("X-Amz-Date", r.Header.Get("X-Amz-Date"))
			return r
		}, 400, "IncompleteSignature", "X-Amz-Date&#39; appears more than once"},
		{"Authorization twice", func(t *testing.T) *http.Request {
			r := e.signed(t, "sts", "", "Action=GetCallerIdentity&Version=2011-06-15", "", nil)
			r.Header.Add("Authorization", r.Header.Get("Authorization"))
			return r
		}, 400, "IncompleteSignature", "Authorization&#39; appears more than once"},
		{"JSON member once", json(`{"MaxResults":1}`), 200, "", ""},
		{"JSON member twice", json(`{"MaxResults":1,"MaxResults":50}`), 400, "SerializationException", "MaxResults"},
		{"JSON member twice, other case", json(`{"MaxResults":1,"maxResults":50}`), 400, "SerializationException", "maxResults"},
		{"JSON member twice, nested", json(`{"LookupAttributes":[{"AttributeKey":"EventName","AttributeValue":"x","AttributeKey":"Username"}]}`), 400, "SerializationException", "AttributeKey"},
		{"JSON member twice, escaped", json(`{"MaxResults":1,"Max\u0052esults":50}`), 400, "SerializationException", "MaxResults"},
	})
}

// TestPolicyDuplicateKeysRefused: through the AWS SDK for Go v2, every IAM
// call that takes a policy document refuses one that repeats a member
// ({"Effect":"Deny",…,"Effect":"Allow"}) with MalformedPolicyDocument.
func TestPolicyDuplicateKeysRefused(t *testing.T) {
	e := startEdge(t, edgeOptions{})
	ctx := context.Background()
	c := iam.NewFromConfig(aws.Config{Region: edgeRegion, Credentials: credentials.StaticCredentialsProvider{Value: e.admin}},
		func(o *iam.Options) { o.BaseEndpoint = aws.String(e.url) })
	const denyThenAllow = `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"iam:*","Resource":"*","Effect":"Allow"}]}`
	const trustTwice = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root","AWS":"*"},"Action":"sts:AssumeRole"}]}`
	const good = `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"iam:*","Resource":"*"}]}`
	tests := []struct {
		name string
		call func(doc string) error
		doc  string
		ok   bool
	}{
		{"PutUserPolicy", func(doc string) error {
			_, err := c.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("admin"), PolicyName: aws.String("p"), PolicyDocument: aws.String(doc)})
			return err
		}, denyThenAllow, false},
		{"CreatePolicy", func(doc string) error {
			_, err := c.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("p"), PolicyDocument: aws.String(doc)})
			return err
		}, denyThenAllow, false},
		{"CreateRole trust policy", func(doc string) error {
			_, err := c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("r"), AssumeRolePolicyDocument: aws.String(doc)})
			return err
		}, trustTwice, false},
		{"PutUserPolicy without repeats", func(doc string) error {
			_, err := c.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("admin"), PolicyName: aws.String("q"), PolicyDocument: aws.String(doc)})
			return err
		}, good, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call(tc.doc)
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != "MalformedPolicyDocument" || !strings.Contains(ae.ErrorMessage(), "more than once") {
				t.Fatalf("got %v, want MalformedPolicyDocument naming the repeated key", err)
			}
		})
	}
}
