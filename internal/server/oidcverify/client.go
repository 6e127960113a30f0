package oidcverify

import (
	"crypto/x509"
	"net/http"
	"strings"
	"time"
)

// HTTPClient returns a client that trusts a provider's hosts as the
// Verifier does (and as AWS trusts an IAM OIDC provider): a chain whose
// top certificate's SHA-1 thumbprint is listed, or one that verifies
// against roots (nil: the system's). Responses are bounded by
// DefaultMaxFetchBytes; timeout 0 means DefaultFetchTimeout. The
// console's sign-in uses it for the provider's discovery document and
// token endpoint.
func HTTPClient(thumbprints []string, roots *x509.CertPool, timeout time.Duration) *http.Client {
	thumbs := make([]string, 0, len(thumbprints))
	for _, t := range thumbprints {
		thumbs = append(thumbs, strings.ToLower(t))
	}
	return newHTTPClient(thumbs, roots, cmp(timeout, DefaultFetchTimeout), DefaultMaxFetchBytes).Client
}
