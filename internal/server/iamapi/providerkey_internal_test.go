package iamapi

import (
	"net/url"
	"testing"
)

// A token's iss and the provider's Url find the same provider whatever
// their case, trailing slash or escaping of the path (the token lookup
// once kept the path as written while the ARN kept it escaped, so a path
// that needs escaping never matched).
func TestProviderKeySameForURLAndIssuer(t *testing.T) {
	tests := []struct{ created, iss string }{
		{"https://Example.COM", "https://example.com"},
		{"https://example.com/tenant/", "https://example.com/tenant"},
		{"https://example.com/my%20tenant", "https://example.com/my tenant"},
		{"https://example.com:8443/a", "https://EXAMPLE.com:8443/a/"},
	}
	for _, tc := range tests {
		a, err1 := url.Parse(tc.created)
		b, err2 := url.Parse(tc.iss)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if ka, kb := providerKey(a), providerKey(b); ka != kb {
			t.Errorf("Url %q → %q, iss %q → %q", tc.created, ka, tc.iss, kb)
		}
	}
}
