package sigv4

import (
	"net/url"
	"sort"
	"strings"
	"testing"
)

// canonicalQueryPairs is CanonicalQuery as it was written first: every
// pair encoded, all pairs sorted by encoded key then encoded value.
func canonicalQueryPairs(q url.Values, skip string) string {
	type kv struct{ k, v string }
	var pairs []kv
	for k, vs := range q {
		if k == skip {
			continue
		}
		for _, v := range vs {
			pairs = append(pairs, kv{uriEncode(k, true), uriEncode(v, true)})
		}
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	s := make([]string, len(pairs))
	for i, p := range pairs {
		s[i] = p.k + "=" + p.v
	}
	return strings.Join(s, "&")
}

// TestCanonicalQueryMatchesPairSort: CanonicalQuery (keys sorted once,
// values only where repeated, one buffer) gives what sorting every
// encoded pair gives.
func TestCanonicalQueryMatchesPairSort(t *testing.T) {
	for _, tc := range []struct{ name, raw, skip string }{
		{"empty", "", ""},
		{"only the skipped", "X-Amz-Signature=abc", "X-Amz-Signature"},
		{"a presigned openTunnel URL", "instanceConnectEndpointId=eice-0123456789abcdef0&maxTunnelDuration=3600&privateIpAddress=10.0.1.23&remotePort=22&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20261122%2Fus-east-1%2Fec2-instance-connect%2Faws4_request&X-Amz-Date=20261122T120000Z&X-Amz-SignedHeaders=host&X-Amz-Signature=3a56740422a5b9aebd22d860b7a30c729e459a6f71a83bc0de3a2b44b7353f28", "X-Amz-Signature"},
		{"repeated keys, values out of order", "b=2&a=z&a=1&a=%20&a=", ""},
		{"keys that sort differently encoded", "a~=1&a%20=2&a.=3&A=4&a_=5&a-=6&%C3%BC=7", ""},
		{"values needing encoding, repeated", "k=%2F&k=%2A&k=~&k=%E2%82%AC&k=a+b", ""},
		{"an empty key", "=1&=0&x=", ""},
		{"many keys (past the stack array)", strings.Repeat("k", 1) + "0=0&k1=1&k2=2&k3=3&k4=4&k5=5&k6=6&k7=7&k8=8&k9=9&k10=10&k11=11&k12=12&k13=13&k14=14&k15=15&k16=16&k17=17&k18=18&k19=19", "k7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, err := url.ParseQuery(tc.raw)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := CanonicalQuery(q, tc.skip), canonicalQueryPairs(q, tc.skip); got != want {
				t.Fatalf("CanonicalQuery = %q, want %q", got, want)
			}
		})
	}
	// A key with no values at all (not from a parse) is left out, as
	// before.
	if got := CanonicalQuery(url.Values{"a": nil, "b": {"1"}}, ""); got != "b=1" {
		t.Fatalf("CanonicalQuery with an empty value list = %q, want %q", got, "b=1")
	}
}

func FuzzCanonicalQuery(f *testing.F) {
	f.Add("b=2&a=z&a=1&a=%20&a=", "")
	f.Add("X-Amz-Signature=1&X-Amz-Date=2", "X-Amz-Signature")
	f.Fuzz(func(t *testing.T, raw, skip string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		if got, want := CanonicalQuery(q, skip), canonicalQueryPairs(q, skip); got != want {
			t.Fatalf("CanonicalQuery(%q, %q) = %q, want %q", raw, skip, got, want)
		}
	})
}
