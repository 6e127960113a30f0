package oidcverify

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
)

// Defaults for Config's zero fields.
const (
	DefaultSkew          = 5 * time.Minute
	DefaultFetchTimeout  = 10 * time.Second
	DefaultMaxFetchBytes = 1 << 20
	DefaultKeyTTL        = time.Hour
	DefaultMinRefetch    = time.Minute
	// MaxTokenBytes is the longest token accepted (AWS's limit on
	// WebIdentityToken).
	MaxTokenBytes = 20000
)

// supportedAlgs are the signature algorithms accepted.
var supportedAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.ES256}

// Config describes one provider.
type Config struct {
	// IssuerURL is the provider's issuer, https://host[:port][/path],
	// matched exactly against tokens' iss and the discovery document.
	IssuerURL string
	// ClientIDs are the accepted audiences (IAM's ClientIDList).
	ClientIDs []string
	// Thumbprints are SHA-1 fingerprints (40 hex digits, any case) of the
	// top certificate of a chain the provider's hosts may present.
	Thumbprints []string
	// RootCAs verify a chain no thumbprint admits; nil: the system roots.
	RootCAs *x509.CertPool
	// Logger gets key fetches and failures; nil: discard.
	Logger *slog.Logger
	// Now is the clock for token times and fetch pacing; nil: time.Now.
	Now func() time.Time
	// Skew is the clock skew allowed on exp, nbf and iat (default 5m).
	Skew time.Duration
	// FetchTimeout bounds each discovery and JWKS fetch (default 10s).
	FetchTimeout time.Duration
	// MaxFetchBytes bounds each fetched document (default 1 MiB).
	MaxFetchBytes int64
	// KeyTTL is how long fetched keys are used before they are fetched
	// again (default 1h).
	KeyTTL time.Duration
	// MinRefetch is the least time between two fetches (default 1m): a
	// token naming an unknown key fetches the keys again at most this
	// often.
	MinRefetch time.Duration
}

// Verifier verifies tokens of one provider. It is safe for concurrent
// use; its configuration is fixed (make a new Verifier when the
// provider's client ids or thumbprints change).
type Verifier struct {
	issuer    string
	clientIDs []string
	now       func() time.Time
	skew      time.Duration
	log       *slog.Logger
	keys      *keySet
	idv       *oidc.IDTokenVerifier
}

// New checks cfg and returns its Verifier. It fetches nothing: discovery
// and keys are fetched on first use.
func New(cfg Config) (*Verifier, error) {
	u, err := url.Parse(cfg.IssuerURL)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("oidcverify: issuer %q is not an https URL without query, fragment or user", cfg.IssuerURL)
	}
	if len(cfg.ClientIDs) == 0 {
		return nil, errors.New("oidcverify: no client ids")
	}
	thumbs := make([]string, 0, len(cfg.Thumbprints))
	for _, t := range cfg.Thumbprints {
		b, err := hex.DecodeString(t)
		if err != nil || len(b) != 20 {
			return nil, fmt.Errorf("oidcverify: thumbprint %q is not 40 hex digits", t)
		}
		thumbs = append(thumbs, strings.ToLower(t))
	}
	v := &Verifier{
		issuer:    cfg.IssuerURL,
		clientIDs: slices.Clone(cfg.ClientIDs),
		now:       cfg.Now,
		skew:      cfg.Skew,
		log:       cfg.Logger,
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.skew <= 0 {
		v.skew = DefaultSkew
	}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	timeout := cmp(cfg.FetchTimeout, DefaultFetchTimeout)
	maxBytes := cfg.MaxFetchBytes
	if maxBytes <= 0 {
		maxBytes = DefaultMaxFetchBytes
	}
	v.keys = &keySet{
		issuer:     cfg.IssuerURL,
		client:     newHTTPClient(thumbs, cfg.RootCAs, timeout, maxBytes),
		timeout:    timeout,
		ttl:        cmp(cfg.KeyTTL, DefaultKeyTTL),
		minRefetch: cmp(cfg.MinRefetch, DefaultMinRefetch),
		now:        v.now,
		log:        v.log,
	}
	algs := make([]string, len(supportedAlgs))
	for i, a := range supportedAlgs {
		algs[i] = string(a)
	}
	v.idv = oidc.NewVerifier(cfg.IssuerURL, v.keys, &oidc.Config{
		SkipClientIDCheck:    true, // aud among several client ids, or azp: below
		SkipExpiryCheck:      true, // exp, nbf, iat with the skew: below
		SupportedSigningAlgs: algs,
		Now:                  v.now,
	})
	return v, nil
}

func cmp(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Close closes the Verifier's idle connections to the provider (call it
// when replacing a Verifier).
func (v *Verifier) Close() { v.keys.client.CloseIdleConnections() }

// Issuer is the provider's issuer URL.
func (v *Verifier) Issuer() string { return v.issuer }

// Verify verifies raw and returns its claims. Errors wrap one of the
// package's sentinels.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Claims, error) {
	if len(raw) > MaxTokenBytes {
		return nil, invalid("token longer than %d bytes", MaxTokenBytes)
	}
	jws, err := jose.ParseSigned(raw, supportedAlgs)
	if err != nil {
		return nil, invalid("not a JWS compact token signed with RS256 or ES256: %v", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, invalid("token has %d signatures, want one", len(jws.Signatures))
	}
	// The issuer first, unverified, so that another provider's token
	// does not make this one fetch keys.
	unverified, err := parseClaims(jws.UnsafePayloadWithoutVerification())
	if err != nil {
		return nil, err
	}
	if unverified.Issuer != v.issuer {
		return nil, invalid("token issued by %q, not by this provider (%q)", unverified.Issuer, v.issuer)
	}

	tr := &trace{}
	if _, err := v.idv.Verify(context.WithValue(ctx, traceKey{}, tr), raw); err != nil {
		if tr.err != nil {
			return nil, tr.err
		}
		return nil, invalid("%v", err)
	}
	if tr.payload == nil {
		return nil, invalid("signature not verified") // cannot happen: go-oidc verifies through keySet
	}
	c, err := parseClaims(tr.payload)
	if err != nil {
		return nil, err
	}
	if c.Issuer != v.issuer {
		return nil, invalid("token issued by %q, not by this provider (%q)", c.Issuer, v.issuer)
	}
	c.KeyID, c.Algorithm = tr.kid, tr.alg

	now := v.now()
	if now.After(c.Expiry.Add(v.skew)) {
		return nil, refusal(ErrExpired, "Token expired: current date/time %s must be before the expiration date/time %s",
			now.UTC().Format(time.RFC3339), c.Expiry.Format(time.RFC3339))
	}
	if !c.NotBefore.IsZero() && c.NotBefore.After(now.Add(v.skew)) {
		return nil, invalid("token not valid before %s (now %s)", c.NotBefore.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if c.IssuedAt.After(now.Add(v.skew)) {
		return nil, invalid("token issued in the future (%s, now %s)", c.IssuedAt.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}

	for _, a := range c.Audience {
		if slices.Contains(v.clientIDs, a) {
			c.ClientID = a
			break
		}
	}
	if c.ClientID == "" && c.AuthorizedParty != "" && slices.Contains(v.clientIDs, c.AuthorizedParty) {
		c.ClientID = c.AuthorizedParty
	}
	if c.ClientID == "" {
		return nil, rejected("Incorrect token audience: %q (azp %q) is not among the provider's client ids", c.Audience, c.AuthorizedParty)
	}
	return c, nil
}

// trace carries what keySet learnt out of go-oidc's verifier, whose
// errors do not wrap.
type trace struct {
	err      error
	payload  []byte
	kid, alg string
}

type traceKey struct{}

// keySet is the provider's JWKS, cached; it implements oidc.KeySet.
type keySet struct {
	issuer     string
	client     *httpClient
	timeout    time.Duration
	ttl        time.Duration
	minRefetch time.Duration
	now        func() time.Time
	log        *slog.Logger

	fetchMu sync.Mutex // held while fetching: one fetch at a time

	mu      sync.Mutex // guards the fields below
	set     []jose.JSONWebKey
	fetched time.Time // last successful fetch
	lastTry time.Time // last fetch attempt
	lastErr error     // last fetch's error, nil after a success
	fetches int       // fetch attempts (for tests)
}

// VerifySignature implements oidc.KeySet.
func (ks *keySet) VerifySignature(ctx context.Context, raw string) ([]byte, error) {
	tr, _ := ctx.Value(traceKey{}).(*trace)
	if tr == nil {
		tr = &trace{}
	}
	payload, err := ks.verify(ctx, raw, tr)
	tr.err, tr.payload = err, payload
	return payload, err
}

func (ks *keySet) verify(ctx context.Context, raw string, tr *trace) ([]byte, error) {
	jws, err := jose.ParseSigned(raw, supportedAlgs)
	if err != nil {
		return nil, invalid("malformed token: %v", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, invalid("token has %d signatures, want one", len(jws.Signatures))
	}
	hdr := jws.Signatures[0].Header
	tr.kid, tr.alg = hdr.KeyID, hdr.Algorithm
	keys, err := ks.keysFor(ctx, hdr.KeyID)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, invalid("the provider publishes no key %q", hdr.KeyID)
	}
	for _, k := range keys {
		if k.Algorithm != "" && k.Algorithm != hdr.Algorithm {
			continue
		}
		if payload, err := jws.Verify(k.Key); err == nil {
			return payload, nil
		}
	}
	return nil, invalid("signature does not verify with the provider's key %q", hdr.KeyID)
}

// keysFor returns the cached keys that may have signed a token naming
// kid, fetching the keys first when the cache is older than the TTL or
// holds no such key, and no fetch happened within minRefetch.
func (ks *keySet) keysFor(ctx context.Context, kid string) ([]jose.JSONWebKey, error) {
	if keys, ok := ks.cached(kid); ok {
		return keys, nil
	}
	ks.fetchMu.Lock()
	defer ks.fetchMu.Unlock()

	ks.mu.Lock()
	now := ks.now()
	match := matching(ks.set, kid)
	fresh := !ks.fetched.IsZero() && now.Sub(ks.fetched) < ks.ttl
	if fresh && len(match) > 0 {
		ks.mu.Unlock()
		return match, nil // fetched while this call waited
	}
	if !ks.lastTry.IsZero() && now.Sub(ks.lastTry) < ks.minRefetch {
		lastErr, everFetched := ks.lastErr, !ks.fetched.IsZero()
		ks.mu.Unlock()
		if len(match) == 0 && !everFetched && lastErr != nil {
			return nil, lastErr
		}
		return match, nil
	}
	ks.lastTry = now
	ks.fetches++
	ks.mu.Unlock()

	set, err := ks.fetch(ctx)

	ks.mu.Lock()
	defer ks.mu.Unlock()
	if err != nil {
		ks.lastErr = err
		ks.log.Warn("oidc provider keys not fetched", "issuer", ks.issuer, "err", err)
		if len(match) > 0 {
			return match, nil // keep using the cached key
		}
		return nil, err
	}
	ks.set, ks.fetched, ks.lastErr = set, now, nil
	ks.log.Info("oidc provider keys fetched", "issuer", ks.issuer, "keys", len(set))
	return matching(set, kid), nil
}

// cached returns the keys for kid when the cache is fresh and has some.
func (ks *keySet) cached(kid string) ([]jose.JSONWebKey, bool) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if ks.fetched.IsZero() || ks.now().Sub(ks.fetched) >= ks.ttl {
		return nil, false
	}
	m := matching(ks.set, kid)
	return m, len(m) > 0
}

// matching returns the signing keys a token naming kid may use: the keys
// with that kid, or every key when kid is empty.
func matching(set []jose.JSONWebKey, kid string) []jose.JSONWebKey {
	var out []jose.JSONWebKey
	for _, k := range set {
		if kid == "" || k.KeyID == kid {
			out = append(out, k)
		}
	}
	return out
}

// fetch runs discovery and fetches the JWKS. A caller that gives up does
// not cut the fetch short (its failure would be remembered for
// minRefetch): the fetch is bounded by the fetch timeout alone.
func (ks *keySet) fetch(ctx context.Context) ([]jose.JSONWebKey, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ks.timeout)
	defer cancel()
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, ks.client.Client), ks.issuer)
	if err != nil {
		return nil, ks.client.wrap("discovery", err)
	}
	var doc struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := p.Claims(&doc); err != nil {
		return nil, communication("discovery document: %v", err)
	}
	u, err := url.Parse(doc.JWKSURI)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, communication("discovery document's jwks_uri %q is not an https URL", doc.JWKSURI)
	}
	body, err := ks.client.get(ctx, doc.JWKSURI)
	if err != nil {
		return nil, err
	}
	keys, skipped, err := parseJWKS(body)
	if err != nil {
		return nil, communication("JWKS at %s: %v", doc.JWKSURI, err)
	}
	for _, s := range skipped {
		ks.log.Warn("oidc provider key skipped", "issuer", ks.issuer, "why", s)
	}
	return keys, nil
}

// usableKey says whether k is a public signing key this package can use
// (RSA of at least 2048 bits or ECDSA P-256), and if not why.
func usableKey(k *jose.JSONWebKey) (bool, string) {
	if k.Use != "" && k.Use != "sig" {
		return false, "use " + k.Use
	}
	if !k.Valid() {
		return false, "invalid key"
	}
	pub := k.Public()
	if !pub.Valid() {
		return false, "no public key"
	}
	*k = pub
	switch key := k.Key.(type) {
	case *rsa.PublicKey:
		if key.N.BitLen() < 2048 {
			return false, "RSA key shorter than 2048 bits"
		}
		return true, ""
	case *ecdsa.PublicKey:
		if key.Curve.Params().Name != "P-256" {
			return false, "curve " + key.Curve.Params().Name
		}
		return true, ""
	}
	return false, fmt.Sprintf("key type %T", k.Key)
}
