package sigv4

import (
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

// specV2 is docs/aws-compat.md §1.2's second vector: a presigned
// openTunnel URL carrying every X-Amz-* parameter, X-Amz-Security-Token
// and X-Amz-Expires included; it verifies at specV2At.
var (
	specV2   = cliPresignURL("10.0.0.0", "1", "session_token", "7dce7aa3501e3f3e2b039fa9548431a6d4762a3a7cce4b913f1482c669be7f6d")
	specV2At = time.Date(2020, 1, 1, 1, 1, 31, 0, time.UTC)
)

// TestRepeatedPresignParameters: a presigned URL that sends one of its
// X-Amz-* parameters twice is refused by the verifier itself with
// ReasonMalformed (IncompleteSignature at the edge), whether the second
// value repeats the first or differs, and wherever it stands in the
// query. Without the check a second X-Amz-Signature verified (the
// canonical query leaves every X-Amz-Signature out).
func TestRepeatedPresignParameters(t *testing.T) {
	u, err := url.Parse(specV2)
	if err != nil {
		t.Fatal(err)
	}
	orig := u.Query()
	type tc struct {
		name, raw string // raw: the URL's query
		want      Reason
		param     string // named in the message
	}
	tests := []tc{{"as signed", u.RawQuery, 0, ""}}
	for _, name := range presignParams {
		v := orig.Get(name)
		other := "x"
		if name == "X-Amz-Signature" {
			other = strings.Repeat("0", 64)
		}
		tests = append(tests,
			tc{name + " repeated, same value, at the end", u.RawQuery + "&" + name + "=" + url.QueryEscape(v), ReasonMalformed, name},
			tc{name + " repeated, other value, at the end", u.RawQuery + "&" + name + "=" + url.QueryEscape(other), ReasonMalformed, name},
			tc{name + " repeated, other value, first", name + "=" + url.QueryEscape(other) + "&" + u.RawQuery, ReasonMalformed, name},
			tc{name + " repeated, empty value", u.RawQuery + "&" + name + "=", ReasonMalformed, name},
		)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := getRequest(t, specV2)
			r.URL.RawQuery = tc.raw
			v := &Verifier{Now: func() time.Time { return specV2At }, Lookup: staticLookup("access_key", "secret_key", "session_token")}
			res, err := v.Verify(context.Background(), r, nil)
			if got := reason(err); got != tc.want {
				t.Fatalf("got %v (result %+v), want reason %d", err, res, tc.want)
			}
			if err != nil && !strings.Contains(err.Error(), "'"+tc.param+"' appears more than once") {
				t.Fatalf("message %q does not name %s", err, tc.param)
			}
			// ParsePresigned (which the front door also calls) refuses it too.
			q, perr := url.ParseQuery(tc.raw)
			if perr != nil {
				t.Fatal(perr)
			}
			if _, err := ParsePresigned(q); reason(err) != tc.want {
				t.Fatalf("ParsePresigned: got %v, want reason %d", err, tc.want)
			}
		})
	}
}

// TestRepeatedAuthHeaders: a header-signed request that sends
// Authorization, X-Amz-Date or X-Amz-Security-Token twice is refused
// with ReasonMalformed, whatever the second value; signed once it
// verifies.
func TestRepeatedAuthHeaders(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	const body = "Action=GetCallerIdentity&Version=2011-06-15"
	sign := func(t *testing.T) *http.Request {
		req, _ := http.NewRequest(http.MethodPost, "https://127.0.0.1:8443/", strings.NewReader(body))
		creds := aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "s", SessionToken: "tok"}
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, bodySHA(body), "sts", "us-east-1", now); err != nil {
			t.Fatal(err)
		}
		return req
	}
	tests := []struct {
		name   string
		header string
		second func(r *http.Request) string // the value added
		want   Reason
	}{
		{"as signed", "", nil, 0},
		{"Authorization twice, same", "Authorization", func(r *http.Request) string { return r.Header.Get("Authorization") }, ReasonMalformed},
		{"Authorization twice, other", "Authorization", func(*http.Request) string { return "AWS4-HMAC-SHA256 Credential=x" }, ReasonMalformed},
		{"X-Amz-Date twice, same", "X-Amz-Date", func(r *http.Request) string { return r.Header.Get("X-Amz-Date") }, ReasonMalformed},
		{"X-Amz-Date twice, other", "X-Amz-Date", func(*http.Request) string { return "20261122T120500Z" }, ReasonMalformed},
		{"X-Amz-Security-Token twice, same", "X-Amz-Security-Token", func(r *http.Request) string { return r.Header.Get("X-Amz-Security-Token") }, ReasonMalformed},
		{"X-Amz-Security-Token twice, other", "X-Amz-Security-Token", func(*http.Request) string { return "other" }, ReasonMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := sign(t)
			if tc.second != nil {
				r.Header.Add(tc.header, tc.second(r))
			}
			v := &Verifier{Now: func() time.Time { return now }, Lookup: staticLookup("AKIDEXAMPLE", "s", "tok")}
			_, err := v.Verify(context.Background(), r, []byte(body))
			if reason(err) != tc.want {
				t.Fatalf("got %v, want reason %d", err, tc.want)
			}
			if err != nil && !strings.Contains(err.Error(), "'"+tc.header+"' appears more than once") {
				t.Fatalf("message %q does not name %s", err, tc.header)
			}
		})
	}
}

// FuzzVerifyPresigned appends fuzzed parameters to a URL that verifies:
// whatever it accepts carries each X-Amz-* parameter once, with the
// signed values, and nothing panics.
func FuzzVerifyPresigned(f *testing.F) {
	f.Add("")
	f.Add("&X-Amz-Signature=7dce7aa3501e3f3e2b039fa9548431a6d4762a3a7cce4b913f1482c669be7f6d")
	f.Add("&X-Amz-Date=20200101T010101Z")
	f.Add("&remotePort=23")
	f.Add("&X-Amz-Security-Token=&x-amz-signature=0")
	f.Add("&%58-Amz-Expires=60")
	u, err := url.Parse(specV2)
	if err != nil {
		f.Fatal(err)
	}
	want := u.Query()
	f.Fuzz(func(t *testing.T, extra string) {
		r := getRequest(t, specV2)
		r.URL.RawQuery += extra
		v := &Verifier{Now: func() time.Time { return specV2At }, Lookup: staticLookup("access_key", "secret_key", "session_token")}
		res, err := v.Verify(context.Background(), r, nil)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %v is not a *sigv4.Error", err)
			}
			return
		}
		q := r.URL.Query()
		for _, name := range presignParams {
			if len(q[name]) != 1 || q.Get(name) != want.Get(name) {
				t.Fatalf("accepted %q: %s = %q", r.URL.RawQuery, name, q[name])
			}
		}
		if res.Signature != want.Get("X-Amz-Signature") || res.SessionToken != "session_token" {
			t.Fatalf("accepted %q: %+v", r.URL.RawQuery, res)
		}
	})
}

func bodySHA(body string) string {
	sum := sha256.Sum256([]byte(body))
	return hex.EncodeToString(sum[:])
}

// TestRepeatedAuthComponents: an Authorization header that gives
// Credential, SignedHeaders or Signature twice is refused with
// ReasonMalformed, naming the component, even when the last of each is
// the signed one (without the check the last one won and it verified).
func TestRepeatedAuthComponents(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	const body = "Action=GetCallerIdentity&Version=2011-06-15"
	tests := []struct {
		name, first string // first: a component put before the signed ones
		want        Reason
	}{
		{"as signed", "", 0},
		{"Signature twice", "Signature=" + strings.Repeat("0", 64), ReasonMalformed},
		{"Credential twice", "Credential=AKIDOTHER/20261122/us-east-1/sts/aws4_request", ReasonMalformed},
		{"SignedHeaders twice", "SignedHeaders=host", ReasonMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, "https://127.0.0.1:8443/", strings.NewReader(body))
			creds := aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "s"}
			if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, bodySHA(body), "sts", "us-east-1", now); err != nil {
				t.Fatal(err)
			}
			if tc.first != "" {
				rest, ok := strings.CutPrefix(req.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ")
				if !ok {
					t.Fatalf("Authorization %q", req.Header.Get("Authorization"))
				}
				req.Header.Set("Authorization", "AWS4-HMAC-SHA256 "+tc.first+", "+rest)
			}
			v := &Verifier{Now: func() time.Time { return now }, Lookup: staticLookup("AKIDEXAMPLE", "s", "")}
			_, err := v.Verify(context.Background(), req, []byte(body))
			if reason(err) != tc.want {
				t.Fatalf("got %v, want reason %d", err, tc.want)
			}
			if err != nil && !strings.Contains(err.Error(), "'"+strings.Split(tc.first, "=")[0]+"' appears more than once") {
				t.Fatalf("message %q does not name the component", err)
			}
		})
	}
}
