package sigv4

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/aws/aws-sdk-go-v2/aws"
)

func staticLookup(akid, secret, token string) LookupFunc {
	return func(_ context.Context, a, tok string) (Credential, error) {
		if a != akid {
			return Credential{}, &Error{Reason: ReasonUnknownKey, Message: "The security token included in the request is invalid."}
		}
		if tok != token {
			return Credential{}, &Error{Reason: ReasonInvalidToken, Message: "The security token included in the request is invalid."}
		}
		return Credential{SecretAccessKey: secret}, nil
	}
}

// cliPresignURL builds an openTunnel URL exactly as the AWS CLI does
// (docs/aws-compat.md §1.1–1.2): its query order, X-Amz-Expires=60.
func cliPresignURL(ip, maxDur, token, sig string) string {
	q := "instanceConnectEndpointId=eice-123&remotePort=22&privateIpAddress=" + url.QueryEscape(ip)
	if maxDur != "" {
		q += "&maxTunnelDuration=" + maxDur
	}
	q += "&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=access_key%2F20200101%2Fus-west-2%2Fec2-instance-connect%2Faws4_request&X-Amz-Date=20200101T010101Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host"
	if token != "" {
		q += "&X-Amz-Security-Token=" + url.QueryEscape(token)
	}
	return "https://eice-123.ec2-instance-connect-endpoint.us-west-2.amazonaws.com/openTunnel?" + q + "&X-Amz-Signature=" + sig
}

func getRequest(t *testing.T, raw string) *http.Request {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Request{Method: http.MethodGet, URL: u, Host: u.Host, Header: http.Header{}}
}

// TestSpecVectors checks the three presign vectors of docs/aws-compat.md §1.2.
func TestSpecVectors(t *testing.T) {
	at := time.Date(2020, 1, 1, 1, 1, 31, 0, time.UTC)
	tests := []struct {
		name, ip, maxDur, token, sig string
	}{
		{"v1 ipv4 max 1", "10.0.0.0", "1", "", "3a56740422a5b9aebd22d860b7a30c729e459a6f71a83bc0de3a2b44b7353f28"},
		{"v2 session token", "10.0.0.0", "1", "session_token", "7dce7aa3501e3f3e2b039fa9548431a6d4762a3a7cce4b913f1482c669be7f6d"},
		{"v3 ipv6", "2600:1f10:4f8e:db01:73f5:6b9d:c0da:1c27", "", "", "6ada39314fdee2cd93d07c4b748d9dc6b18de0b9b1fd0f0649a0caa62bd27353"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := &Verifier{Now: func() time.Time { return at }, Lookup: staticLookup("access_key", "secret_key", tc.token)}
			res, err := v.Verify(context.Background(), getRequest(t, cliPresignURL(tc.ip, tc.maxDur, tc.token, tc.sig)), nil)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Presigned || res.Region != "us-west-2" || res.Service != "ec2-instance-connect" || res.SessionToken != tc.token {
				t.Fatalf("result %+v", res)
			}
			if want := time.Date(2020, 1, 1, 1, 2, 1, 0, time.UTC); !res.Expires.Equal(want) {
				t.Fatalf("expires %v, want %v", res.Expires, want)
			}
			// 61 seconds later the URL has expired.
			v.Now = func() time.Time { return time.Date(2020, 1, 1, 1, 2, 2, 0, time.UTC) }
			if _, err := v.Verify(context.Background(), getRequest(t, cliPresignURL(tc.ip, tc.maxDur, tc.token, tc.sig)), nil); reason(err) != ReasonExpired {
				t.Fatalf("after expiry: %v", err)
			}
		})
	}
}

func reason(err error) Reason {
	if e, ok := err.(*Error); ok {
		return e.Reason
	}
	return 0
}

// TestSDKSigner signs with the AWS SDK for Go v2 and verifies here.
func TestSDKSigner(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	signer := v4.NewSigner()
	ctx := context.Background()
	tests := []struct {
		name, host, token, body, service string
		extra                            map[string]string
	}{
		{"query api with port", "127.0.0.1:8443", "", "Action=GetCallerIdentity&Version=2011-06-15", "sts", nil},
		{"session token", "localhost:8443", "tok/with+chars=", "Action=ListUsers&Version=2010-05-08", "iam", nil},
		{"json target", "postern.example.com", "", `{"InstanceId":"i-1"}`, "ec2-instance-connect", map[string]string{"X-Amz-Target": "AWSEC2InstanceConnectService.SendSSHPublicKey"}},
		{"empty body", "127.0.0.1:1", "", "", "ec2", nil},
		{"spaces in header", "127.0.0.1:1", "", "x", "ec2", map[string]string{"X-Custom": "a   b  c"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, "https://"+tc.host+"/", strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for k, v := range tc.extra {
				req.Header.Set(k, v)
			}
			sum := sha256.Sum256([]byte(tc.body))
			creds := aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret/with+chars", SessionToken: tc.token}
			if err := signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), tc.service, "us-east-1", now); err != nil {
				t.Fatal(err)
			}
			v := &Verifier{Now: func() time.Time { return now.Add(time.Minute) }, Lookup: staticLookup("AKIDEXAMPLE", "secret/with+chars", tc.token), Regions: []string{"us-east-1"}}
			res, err := v.Verify(ctx, req, []byte(tc.body))
			if err != nil {
				t.Fatalf("verify: %v (Authorization %s)", err, req.Header.Get("Authorization"))
			}
			if res.Service != tc.service || res.Presigned {
				t.Fatalf("result %+v", res)
			}
			// The body is covered by the signature.
			if _, err := v.Verify(ctx, req, append([]byte(tc.body), 'x')); reason(err) != ReasonSignatureMismatch {
				t.Fatalf("changed body: %v", err)
			}
		})
	}

	t.Run("presign without X-Amz-Expires", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, "https://localhost:8443/openTunnel?instanceConnectEndpointId=eice-1&privateIpAddress=127.0.0.1&remotePort=22", nil)
		creds := aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "s", SessionToken: "tok"}
		// A fresh signer: the SDK caches derived keys by access key id and
		// scope, not by secret, and an earlier case used another secret.
		signed, _, err := v4.NewSigner().PresignHTTP(ctx, creds, req, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "ec2-instance-connect", "us-east-1", now)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(signed, "X-Amz-Expires") {
			t.Fatalf("the SDK now sends X-Amz-Expires: %s", signed)
		}
		v := &Verifier{Now: func() time.Time { return now.Add(time.Minute) }, Lookup: staticLookup("AKIDEXAMPLE", "s", "tok")}
		r := getRequest(t, signed)
		res, err := v.Verify(ctx, r, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Expires.Equal(now.Add(15 * time.Minute)) {
			t.Fatalf("default expiry %v", res.Expires)
		}
		v.Now = func() time.Time { return now.Add(16 * time.Minute) }
		if _, err := v.Verify(ctx, getRequest(t, signed), nil); reason(err) != ReasonExpired {
			t.Fatalf("after default expiry: %v", err)
		}
	})
}

// TestFailures covers skew, malformed input and lookups that fail.
func TestFailures(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	signer := v4.NewSigner()
	sign := func(at time.Time, token string) *http.Request {
		req, _ := http.NewRequest(http.MethodPost, "https://127.0.0.1:8443/", strings.NewReader("Action=X"))
		sum := sha256.Sum256([]byte("Action=X"))
		_ = signer.SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "s", SessionToken: token}, req, hex.EncodeToString(sum[:]), "sts", "us-east-1", at)
		return req
	}
	tests := []struct {
		name string
		req  *http.Request
		tok  string
		want Reason
	}{
		{"ok", sign(now, ""), "", 0},
		{"14 min old", sign(now.Add(-14*time.Minute), ""), "", 0},
		{"16 min old", sign(now.Add(-16*time.Minute), ""), "", ReasonSkew},
		{"16 min ahead", sign(now.Add(16*time.Minute), ""), "", ReasonSkew},
		{"token expected", sign(now, ""), "tok", ReasonInvalidToken},
		{"token wrong", sign(now, "other"), "tok", ReasonInvalidToken},
		{"no date", func() *http.Request { r := sign(now, ""); r.Header.Del("X-Amz-Date"); return r }(), "", ReasonIncomplete},
		{"bad date", func() *http.Request { r := sign(now, ""); r.Header.Set("X-Amz-Date", "yesterday"); return r }(), "", ReasonMalformed},
		{"host unsigned", func() *http.Request {
			r := sign(now, "")
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "host;", "", 1))
			return r
		}(), "", ReasonIncomplete},
		{"other algorithm", func() *http.Request {
			r := sign(now, "")
			r.Header.Set("Authorization", "AWS4-HMAC-SHA512"+strings.TrimPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256"))
			return r
		}(), "", ReasonIncomplete},
		{"content sha mismatch", func() *http.Request {
			r := sign(now, "")
			r.Header.Set("X-Amz-Content-Sha256", strings.Repeat("0", 64))
			return r
		}(), "", ReasonSignatureMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := &Verifier{Now: func() time.Time { return now }, Lookup: staticLookup("AKIDEXAMPLE", "s", tc.tok)}
			_, err := v.Verify(context.Background(), tc.req, []byte("Action=X"))
			if reason(err) != tc.want {
				t.Fatalf("got %v, want reason %d", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line message %q", err)
			}
		})
	}
}

func TestPresignedParseErrors(t *testing.T) {
	good := cliPresignURL("10.0.0.0", "1", "", "3a56740422a5b9aebd22d860b7a30c729e459a6f71a83bc0de3a2b44b7353f28")
	tests := []struct {
		name string
		edit func(q url.Values)
		want Reason
	}{
		{"no auth at all", func(q url.Values) {
			for k := range q {
				if strings.HasPrefix(k, "X-Amz-") {
					q.Del(k)
				}
			}
		}, ReasonMissingAuth},
		{"no signature", func(q url.Values) { q.Del("X-Amz-Signature") }, ReasonIncomplete},
		{"no credential", func(q url.Values) { q.Del("X-Amz-Credential") }, ReasonIncomplete},
		{"bad algorithm", func(q url.Values) { q.Set("X-Amz-Algorithm", "AWS4-HMAC-MD5") }, ReasonMalformed},
		{"bad expires", func(q url.Values) { q.Set("X-Amz-Expires", "-1") }, ReasonMalformed},
		{"huge expires", func(q url.Values) { q.Set("X-Amz-Expires", "99999999") }, ReasonMalformed},
		{"bad credential", func(q url.Values) { q.Set("X-Amz-Credential", "a/b") }, ReasonMalformed},
		{"date scope mismatch", func(q url.Values) { q.Set("X-Amz-Date", "20200102T010101Z") }, ReasonSignatureMismatch},
		{"short signature", func(q url.Values) { q.Set("X-Amz-Signature", "abc") }, ReasonMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := getRequest(t, good)
			q := r.URL.Query()
			tc.edit(q)
			r.URL.RawQuery = q.Encode()
			v := &Verifier{Now: func() time.Time { return time.Date(2020, 1, 1, 1, 1, 2, 0, time.UTC) }, Lookup: staticLookup("access_key", "secret_key", "")}
			if _, err := v.Verify(context.Background(), r, nil); reason(err) != tc.want {
				t.Fatalf("got %v, want %d", err, tc.want)
			}
		})
	}
}

func BenchmarkVerifyRequest(b *testing.B) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	body := []byte("Action=DescribeInstanceConnectEndpoints&MaxResults=50&Version=2016-11-15")
	req, _ := http.NewRequest(http.MethodPost, "https://127.0.0.1:8443/", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Amz-Sdk-Invocation-Id", "58f12251-6737-4f99-93a2-c5648f94cff4")
	req.Header.Set("Amz-Sdk-Request", "attempt=1; max=3")
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "s"}, req, hex.EncodeToString(sum[:]), "ec2", "us-east-1", now); err != nil {
		b.Fatal(err)
	}
	v := &Verifier{Now: func() time.Time { return now }, Lookup: staticLookup("AKIDEXAMPLE", "s", "")}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, req, body); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPayloadMustBeSigned: the signature of a header-signed request always
// covers the body's own SHA-256, and a presigned request carries no body.
func TestPayloadMustBeSigned(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	const body = "Action=GetCallerIdentity&Version=2011-06-15"
	sum := sha256.Sum256([]byte(body))
	bodyHash := hex.EncodeToString(sum[:])
	creds := aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "s"}
	// sign signs body over payloadHash with header set first (so that the
	// SDK signs it).
	sign := func(payloadHash string, header map[string]string) *http.Request {
		req, _ := http.NewRequest(http.MethodPost, "https://127.0.0.1:8443/", strings.NewReader(body))
		for k, v := range header {
			req.Header.Set(k, v)
		}
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, payloadHash, "sts", "us-east-1", now); err != nil {
			t.Fatal(err)
		}
		return req
	}
	presign := func() *http.Request {
		req, _ := http.NewRequest(http.MethodGet, "https://127.0.0.1:8443/?Action=GetCallerIdentity&Version=2011-06-15", nil)
		u, _, err := v4.NewSigner().PresignHTTP(context.Background(), creds, req, emptySHA256, "sts", "us-east-1", now)
		if err != nil {
			t.Fatal(err)
		}
		return getRequest(t, u)
	}
	tests := []struct {
		name string
		req  *http.Request
		body string
		want Reason
	}{
		{"body hash", sign(bodyHash, nil), body, 0},
		{"body hash in a signed header", sign(bodyHash, map[string]string{"X-Amz-Content-Sha256": bodyHash}), body, 0},
		{"UNSIGNED-PAYLOAD", sign("UNSIGNED-PAYLOAD", map[string]string{"X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD"}), body, ReasonSignatureMismatch},
		{"UNSIGNED-PAYLOAD, other body", sign("UNSIGNED-PAYLOAD", map[string]string{"X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD"}), "Action=ListUsers&Version=2010-05-08", ReasonSignatureMismatch},
		{"STREAMING-AWS4-HMAC-SHA256-PAYLOAD", sign("STREAMING-AWS4-HMAC-SHA256-PAYLOAD", map[string]string{"X-Amz-Content-Sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"}), body, ReasonSignatureMismatch},
		{"STREAMING-UNSIGNED-PAYLOAD-TRAILER", sign("STREAMING-UNSIGNED-PAYLOAD-TRAILER", map[string]string{"X-Amz-Content-Sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER"}), body, ReasonSignatureMismatch},
		{"signed over UNSIGNED-PAYLOAD without the header", sign("UNSIGNED-PAYLOAD", nil), body, ReasonSignatureMismatch},
		{"two body hash headers", func() *http.Request {
			r := sign(bodyHash, map[string]string{"X-Amz-Content-Sha256": bodyHash})
			r.Header.Add("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
			return r
		}(), body, ReasonSignatureMismatch},
		{"presigned, no body", presign(), "", 0},
		{"presigned with a body", presign(), "Action=ListUsers&Version=2010-05-08", ReasonIncomplete},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := &Verifier{Now: func() time.Time { return now }, Lookup: staticLookup("AKIDEXAMPLE", "s", "")}
			_, err := v.Verify(context.Background(), tc.req, []byte(tc.body))
			if reason(err) != tc.want {
				t.Fatalf("got %v, want reason %d", err, tc.want)
			}
		})
	}
}
