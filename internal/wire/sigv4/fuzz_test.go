package sigv4

import (
	"net/url"
	"testing"
)

func FuzzParseAuthorization(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261122/us-east-1/ec2/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=6584c97267fc777abe86041685dd06cadb608c4ec3865c5bfd833d192bee312f")
	f.Add("AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request,SignedHeaders=host,Signature=")
	f.Add("AWS4-HMAC-SHA256")
	f.Add("Basic abc")
	f.Add("AWS4-HMAC-SHA256 Credential=,,,=,")
	f.Fuzz(func(t *testing.T, h string) {
		a, err := ParseAuthorization(h)
		if err == nil && (a.Scope.AccessKeyID == "" || len(a.SignedHeaders) == 0 || len(a.Signature) != 64) {
			t.Fatalf("accepted an incomplete header %q: %+v", h, a)
		}
	})
}

func FuzzParseQuery(f *testing.F) {
	f.Add("instanceConnectEndpointId=eice-123&remotePort=22&privateIpAddress=10.0.0.0&maxTunnelDuration=1&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=access_key%2F20200101%2Fus-west-2%2Fec2-instance-connect%2Faws4_request&X-Amz-Date=20200101T010101Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=3a56740422a5b9aebd22d860b7a30c729e459a6f71a83bc0de3a2b44b7353f28")
	f.Add("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=0")
	f.Add("X-Amz-Signature=&X-Amz-Credential=%2F%2F%2F%2F")
	f.Add("%zz")
	f.Add("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=a%2F20200101%2Fr%2Fs%2Faws4_request&X-Amz-Date=20200101T010101Z&X-Amz-SignedHeaders=host&X-Amz-Signature=3a56740422a5b9aebd22d860b7a30c729e459a6f71a83bc0de3a2b44b7353f28&X-Amz-Signature=0")
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		p, err := ParsePresigned(q)
		if err == nil && (p.Scope.AccessKeyID == "" || len(p.Signature) != 64 || p.Expires < 0) {
			t.Fatalf("accepted %q: %+v", raw, p)
		}
		for _, name := range presignParams {
			if err == nil && len(q[name]) > 1 {
				t.Fatalf("accepted %q, which repeats %s", raw, name)
			}
		}
		_ = CanonicalQuery(q, "X-Amz-Signature")
	})
}
