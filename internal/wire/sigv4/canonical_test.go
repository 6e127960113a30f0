package sigv4

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// The allocation-saving forms (appendCanonicalRequest, signatureMatches,
// uriEncode's no-copy path) give exactly what the plain forms give.
func TestFastFormsMatchPlainForms(t *testing.T) {
	key := SigningKey("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", Scope{Date: "20261206", Region: "eu-west-1", Service: "sts"})
	scope := Scope{AccessKeyID: "AKIDEXAMPLE", Date: "20261206", Region: "eu-west-1", Service: "sts"}
	tests := []struct {
		name, path, query string
		headers           map[string][]string
		signed            []string
	}{
		{"root", "/", "", map[string][]string{"X-Amz-Date": {"20261206T044200Z"}}, []string{"host", "x-amz-date"}},
		{"escaped path", "/a b/ü~x", "b=2&a=1&a=%20", map[string][]string{"X-Amz-Date": {"20261206T044200Z"}}, []string{"host", "x-amz-date"}},
		{"folded and repeated headers", "/x", "", map[string][]string{"X-Amz-Date": {"20261206T044200Z"}, "X-Multi": {" a  b ", "c"}}, []string{"host", "x-amz-date", "x-multi"}},
		{"long canonical request", "/" + strings.Repeat("seg/", 400), "", map[string][]string{"X-Amz-Date": {"20261206T044200Z"}}, []string{"host", "x-amz-date"}},
		{"empty, repeated and space-only values", "/", "a=1&a=1&a=", map[string][]string{"X-Amz-Date": {"20261206T044200Z"}, "X-E": {""}, "X-R": {"", " z ", "   "}}, []string{"host", "x-amz-date", "x-e", "x-r"}},
		{"header list past the stack buffer", "/", "", longHeaders(200), append([]string{"host", "x-amz-date"}, longHeaderNames(200)...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := &url.URL{Scheme: "https", Host: "sts.example", Path: tc.path, RawQuery: tc.query}
			r := &http.Request{Method: "POST", URL: u, Host: u.Host, Header: http.Header(tc.headers)}
			q := CanonicalQuery(u.Query(), "")
			canon, err := CanonicalRequest(r, q, tc.signed, emptySHA256)
			if err != nil {
				t.Fatal(err)
			}
			var buf [16]byte
			fast, err := appendCanonicalRequest(buf[:0], r, q, tc.signed, emptySHA256)
			if err != nil || string(fast) != canon {
				t.Fatalf("appendCanonicalRequest = %q, %v; want %q", fast, err, canon)
			}
			if got, want := uriEncode(tc.path, false), string(appendURIEncoded(nil, tc.path, false)); got != want {
				t.Fatalf("uriEncode(%q) = %q, want %q", tc.path, got, want)
			}
			sig := Signature(key, StringToSign("20261206T044200Z", scope, canon))
			// One signing key for every check: its HMAC states are reused,
			// so a state left dirty by one check would fail the next.
			sk := &signingKey{key: key}
			for range 3 {
				if !signatureMatches(sk, "20261206T044200Z", scope, fast, sig) {
					t.Fatal("signatureMatches refused the plain form's signature")
				}
				bad := []byte(sig)
				bad[0] ^= 1
				if signatureMatches(sk, "20261206T044200Z", scope, fast, string(bad)) || signatureMatches(sk, "20261206T044200Z", scope, fast, sig[:63]) {
					t.Fatal("signatureMatches accepted a wrong signature")
				}
			}
		})
	}
}

// longHeaders are n signed headers x-h000.. (after x-amz-date in order),
// 20-byte values: a canonical request past VerifyRequest's 1 KiB buffer.
func longHeaders(n int) map[string][]string {
	h := map[string][]string{"X-Amz-Date": {"20261206T044200Z"}}
	for _, name := range longHeaderNames(n) {
		h[http.CanonicalHeaderKey(name)] = []string{strings.Repeat("v", 20)}
	}
	return h
}

func longHeaderNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "x-h" + strconv.Itoa(1000 + i)[1:]
	}
	return out
}
