package oidcverify

import (
	"context"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// httpClient fetches the provider's documents over TLS trusted as AWS
// trusts an OIDC provider, with a timeout and a size limit on each.
type httpClient struct {
	*http.Client
	maxBytes int64
}

// untrustedError is an untrusted certificate: it wraps both
// ErrUntrustedCertificate and ErrCommunication.
type untrustedError struct{ msg string }

func (e *untrustedError) Error() string { return e.msg }
func (e *untrustedError) Unwrap() []error {
	return []error{ErrUntrustedCertificate, ErrCommunication}
}

var errTooLarge = errors.New("response larger than the limit")

func newHTTPClient(thumbprints []string, roots *x509.CertPool, timeout time.Duration, maxBytes int64) *httpClient {
	dialer := &net.Dialer{Timeout: timeout}
	transport := &http.Transport{
		// No proxy: the trust check below runs on the connection to the
		// provider itself.
		Proxy: nil,
		DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			raw, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			conn := tls.Client(raw, &tls.Config{
				ServerName: host,
				MinVersion: tls.VersionTLS12,
				// The chain is verified in VerifyConnection, by thumbprint
				// or against the roots.
				InsecureSkipVerify: true,
				VerifyConnection: func(cs tls.ConnectionState) error {
					return verifyChain(cs.PeerCertificates, host, thumbprints, roots)
				},
			})
			hctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			if err := conn.HandshakeContext(hctx); err != nil {
				raw.Close()
				return nil, err
			}
			return conn, nil
		},
		ResponseHeaderTimeout: timeout,
		MaxIdleConns:          4,
		IdleConnTimeout:       90 * time.Second,
	}
	c := &httpClient{maxBytes: maxBytes}
	c.Client = &http.Client{
		Timeout:   timeout,
		Transport: &limitTransport{rt: transport, max: maxBytes},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 3 {
				return errors.New("more than 3 redirects")
			}
			if req.URL.Scheme != "https" {
				return fmt.Errorf("redirect to non-https %s", req.URL.Redacted())
			}
			return nil
		},
	}
	return c
}

// verifyChain admits a presented chain whose top certificate's SHA-1
// thumbprint is listed and which verifies (leaf for host) up to that
// certificate, or which verifies against roots (nil: the system's).
func verifyChain(certs []*x509.Certificate, host string, thumbprints []string, roots *x509.CertPool) error {
	if len(certs) == 0 {
		return &untrustedError{"the provider presented no certificate"}
	}
	top := certs[len(certs)-1]
	sum := sha1.Sum(top.Raw)
	thumb := hex.EncodeToString(sum[:])
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if slices.Contains(thumbprints, thumb) {
		pinned := x509.NewCertPool()
		pinned.AddCert(top)
		_, err := certs[0].Verify(x509.VerifyOptions{Roots: pinned, Intermediates: inter, DNSName: host})
		if err == nil {
			return nil
		}
		return &untrustedError{fmt.Sprintf("certificate of %s does not verify up to the thumbprinted certificate %s: %v", host, thumb, err)}
	}
	_, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: host})
	if err == nil {
		return nil
	}
	return &untrustedError{fmt.Sprintf("certificate of %s: thumbprint %s of the chain's top certificate is not in the provider's list, and the chain does not verify against the trusted roots (%v)", host, thumb, err)}
}

// wrap classifies a fetch error.
func (c *httpClient) wrap(what string, err error) error {
	var ue *untrustedError
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", what, ue)
	}
	return communication("%s: %v", what, err)
}

// get fetches url's body (200 only).
func (c *httpClient) get(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, communication("%s: %v", url, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return nil, c.wrap(url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, communication("%s: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, communication("%s: HTTP %s", url, resp.Status)
	}
	return body, nil
}

// limitTransport fails reading a body past max bytes.
type limitTransport struct {
	rt  http.RoundTripper
	max int64
}

func (t *limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.rt.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &limitedBody{rc: resp.Body, left: t.max}
	return resp, nil
}

type limitedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, errTooLarge
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return n, errTooLarge
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// parseJWKS decodes a JWKS document key by key with go-jose, keeping the
// usable signing keys and saying why it skipped the others. A document
// that is not {"keys": [...]} is an error.
func parseJWKS(body []byte) ([]jose.JSONWebKey, []string, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, nil, fmt.Errorf("not a JWKS: %v", err)
	}
	if doc.Keys == nil {
		return nil, nil, errors.New("not a JWKS: no keys member")
	}
	var keys []jose.JSONWebKey
	var skipped []string
	for i, raw := range doc.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil {
			skipped = append(skipped, fmt.Sprintf("key %d: %v", i, err))
			continue
		}
		if ok, why := usableKey(&k); !ok {
			skipped = append(skipped, fmt.Sprintf("key %d (kid %q): %s", i, k.KeyID, why))
			continue
		}
		keys = append(keys, k)
	}
	return keys, skipped, nil
}

// Thumbprint is the SHA-1 fingerprint of cert in lower-case hex, as IAM
// lists an OIDC provider's thumbprints.
func Thumbprint(cert *x509.Certificate) string {
	sum := sha1.Sum(cert.Raw)
	return strings.ToLower(hex.EncodeToString(sum[:]))
}
