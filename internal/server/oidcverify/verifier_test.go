package oidcverify_test

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/server/oidcverify"
	"github.com/postern/postern/internal/testutil/oidcop"
	"github.com/postern/postern/internal/testutil/testclock"
)

var alice = oidcop.User{
	Subject: "sub-alice", Username: "alice", Password: "correct horse", Email: "alice@example.com",
	Claims: map[string]any{oidcverify.TagsClaim: map[string]any{
		"principal_tags":      map[string]any{"username": []string{"alice"}, "team": []string{"red"}},
		"transitive_tag_keys": []string{"team"},
	}},
}

const client = "postern-cli"

func startOP(t *testing.T, alg string) *oidcop.Provider {
	t.Helper()
	return oidcop.Start(t, oidcop.Options{
		Alg:     alg,
		Clients: []oidcop.Client{{ID: client, Native: true, RedirectURIs: []string{"http://127.0.0.1/callback"}}},
		Users:   []oidcop.User{alice},
	})
}

func newVerifier(t *testing.T, cfg oidcverify.Config) *oidcverify.Verifier {
	t.Helper()
	v, err := oidcverify.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

func TestVerifyAcceptsProviderTokens(t *testing.T) {
	for _, alg := range []string{"RS256", "ES256"} {
		t.Run(alg, func(t *testing.T) {
			p := startOP(t, alg)
			v := newVerifier(t, oidcverify.Config{IssuerURL: p.Issuer, ClientIDs: []string{"other", client}, Thumbprints: []string{p.Thumbprint}})
			c, err := v.Verify(ctx(t), p.IDToken(t, client, alice))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if c.Issuer != p.Issuer || c.Subject != alice.Subject || c.ClientID != client || c.Email != alice.Email {
				t.Errorf("claims %+v", c)
			}
			if c.Algorithm != alg || c.KeyID != p.KeyID() {
				t.Errorf("alg %s kid %s, want %s %s", c.Algorithm, c.KeyID, alg, p.KeyID())
			}
			if len(c.AMR) != 1 || c.AMR[0] != "pwd" {
				t.Errorf("amr %v, want [pwd]", c.AMR)
			}
			if c.PrincipalTags["username"] != "alice" || c.PrincipalTags["team"] != "red" || len(c.PrincipalTags) != 2 {
				t.Errorf("principal tags %v", c.PrincipalTags)
			}
			if len(c.TransitiveTagKeys) != 1 || c.TransitiveTagKeys[0] != "team" {
				t.Errorf("transitive tag keys %v", c.TransitiveTagKeys)
			}
			if c.Raw["email"] != alice.Email || c.Raw["sub"] != alice.Subject {
				t.Errorf("raw claims %v", c.Raw)
			}
			if c.Expiry.Sub(c.IssuedAt) != time.Hour {
				t.Errorf("lifetime %v, want the provider's 1h", c.Expiry.Sub(c.IssuedAt))
			}
			// A second token uses the cached keys.
			if _, err := v.Verify(ctx(t), p.IDToken(t, client, alice)); err != nil {
				t.Fatal(err)
			}
			if n := v.Fetches(); n != 1 {
				t.Errorf("%d fetches for two tokens, want 1", n)
			}
		})
	}
}

// tamper changes one character of part i (0 header, 1 payload, 2
// signature) of a compact JWS, keeping it valid base64url.
func tamper(t *testing.T, jwt string, i int) string {
	t.Helper()
	parts := strings.Split(jwt, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatal(err)
	}
	if i == 1 {
		s := strings.Replace(string(b), alice.Subject, "sub-mallory", 1)
		if s == string(b) {
			t.Fatal("subject not in payload")
		}
		b = []byte(s)
	} else {
		b[len(b)/2] ^= 0x01
	}
	parts[i] = base64.RawURLEncoding.EncodeToString(b)
	return strings.Join(parts, ".")
}

// unsigned builds a token with header h and the payload of jwt, and an
// empty or junk signature.
func reheader(jwt, h, sig string) string {
	parts := strings.Split(jwt, ".")
	return base64.RawURLEncoding.EncodeToString([]byte(h)) + "." + parts[1] + "." + sig
}

func TestVerifyRefuses(t *testing.T) {
	p := startOP(t, "ES256")
	other := startOP(t, "ES256")
	tok := p.IDToken(t, client, alice)
	foreign := other.IDToken(t, client, alice)

	for _, tc := range []struct {
		name      string
		token     string
		clientIDs []string
		advance   time.Duration
		want      error
		fetches   int // fetches the verification makes (from a fresh verifier)
	}{
		{name: "valid", token: tok, want: nil, fetches: 1},
		{name: "another issuer", token: foreign, want: oidcverify.ErrInvalidToken, fetches: 0},
		{name: "tampered signature", token: tamper(t, tok, 2), want: oidcverify.ErrInvalidToken, fetches: 1},
		{name: "tampered payload", token: tamper(t, tok, 1), want: oidcverify.ErrInvalidToken, fetches: 1},
		{name: "alg none", token: reheader(tok, `{"alg":"none"}`, ""), want: oidcverify.ErrInvalidToken},
		{name: "alg HS256", token: reheader(tok, `{"alg":"HS256","kid":"`+p.KeyID()+`"}`, "c2lnbmF0dXJl"), want: oidcverify.ErrInvalidToken},
		{name: "not a JWT", token: "not.a.jwt", want: oidcverify.ErrInvalidToken},
		{name: "empty", token: "", want: oidcverify.ErrInvalidToken},
		{name: "too long", token: strings.Repeat("a", oidcverify.MaxTokenBytes+1), want: oidcverify.ErrInvalidToken},
		{name: "wrong audience", token: tok, clientIDs: []string{"someone-else"}, want: oidcverify.ErrRejectedClaim, fetches: 1},
		{name: "expired", token: tok, advance: time.Hour + oidcverify.DefaultSkew + time.Second, want: oidcverify.ErrExpired, fetches: 1},
		{name: "expired within skew", token: tok, advance: time.Hour + oidcverify.DefaultSkew - time.Minute, want: nil, fetches: 1},
		{name: "issued in the future", token: tok, advance: -(oidcverify.DefaultSkew + time.Minute), want: oidcverify.ErrInvalidToken, fetches: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := testclock.New(time.Now())
			clock.Advance(tc.advance)
			ids := tc.clientIDs
			if ids == nil {
				ids = []string{client}
			}
			v := newVerifier(t, oidcverify.Config{IssuerURL: p.Issuer, ClientIDs: ids, Thumbprints: []string{p.Thumbprint}, Now: clock.Now})
			_, err := v.Verify(ctx(t), tc.token)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
			} else if !errors.Is(err, tc.want) {
				t.Fatalf("Verify: %v, want %v", err, tc.want)
			}
			for _, s := range []error{oidcverify.ErrInvalidToken, oidcverify.ErrRejectedClaim, oidcverify.ErrExpired, oidcverify.ErrCommunication} {
				if s != tc.want && errors.Is(err, s) {
					t.Errorf("error %v also wraps %v", err, s)
				}
			}
			if v.Fetches() != tc.fetches {
				t.Errorf("%d fetches, want %d", v.Fetches(), tc.fetches)
			}
		})
	}
}

func TestKeyRotation(t *testing.T) {
	p := startOP(t, "RS256")
	clock := testclock.New(time.Now())
	v := newVerifier(t, oidcverify.Config{IssuerURL: p.Issuer, ClientIDs: []string{client}, Thumbprints: []string{p.Thumbprint}, Now: clock.Now, MinRefetch: time.Minute})
	old := p.IDToken(t, client, alice)
	if _, err := v.Verify(ctx(t), old); err != nil {
		t.Fatal(err)
	}
	p.Restart(t)
	fresh := p.IDToken(t, client, alice)

	// Within MinRefetch of the last fetch, an unknown key is refused
	// without a fetch.
	if _, err := v.Verify(ctx(t), fresh); !errors.Is(err, oidcverify.ErrInvalidToken) {
		t.Fatalf("new key before the refetch interval: %v, want ErrInvalidToken", err)
	}
	if n := v.Fetches(); n != 1 {
		t.Fatalf("%d fetches, want 1 (rate-limited)", n)
	}
	clock.Advance(time.Minute + time.Second)
	if _, err := v.Verify(ctx(t), fresh); err != nil {
		t.Fatalf("new key after the refetch interval: %v", err)
	}
	if n := v.Fetches(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
	// The old key left the JWKS: its token is refused, also after a
	// refetch.
	if _, err := v.Verify(ctx(t), old); !errors.Is(err, oidcverify.ErrInvalidToken) {
		t.Fatalf("token of the rotated-out key: %v, want ErrInvalidToken", err)
	}
	clock.Advance(time.Minute + time.Second)
	if _, err := v.Verify(ctx(t), old); !errors.Is(err, oidcverify.ErrInvalidToken) {
		t.Fatalf("token of the rotated-out key after a refetch: %v, want ErrInvalidToken", err)
	}
	if n := v.Fetches(); n != 3 {
		t.Fatalf("%d fetches, want 3", n)
	}
	// Keys older than the TTL are fetched again even for a known kid.
	clock.Advance(oidcverify.DefaultKeyTTL - 30*time.Minute)
	tok := p.IDToken(t, client, alice)
	clock.Advance(31 * time.Minute)
	_, err := v.Verify(ctx(t), tok)
	if err != nil {
		t.Fatalf("after the key TTL: %v", err)
	}
	if n := v.Fetches(); n != 4 {
		t.Fatalf("%d fetches, want 4 (TTL expired)", n)
	}
}

func TestTLSTrust(t *testing.T) {
	p := startOP(t, "ES256")
	tok := p.IDToken(t, client, alice)
	pool := x509.NewCertPool()
	pool.AddCert(p.CACert)
	for _, tc := range []struct {
		name        string
		thumbprints []string
		roots       *x509.CertPool
		untrusted   bool
	}{
		{name: "thumbprint", thumbprints: []string{p.Thumbprint}},
		{name: "thumbprint upper case among others", thumbprints: []string{strings.Repeat("ab", 20), strings.ToUpper(p.Thumbprint)}},
		{name: "thumbprint mismatch, not in the system roots", thumbprints: []string{strings.Repeat("0", 40)}, untrusted: true},
		{name: "no thumbprint, not in the system roots", untrusted: true},
		{name: "no thumbprint, in the trusted roots", roots: pool},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newVerifier(t, oidcverify.Config{IssuerURL: p.Issuer, ClientIDs: []string{client}, Thumbprints: tc.thumbprints, RootCAs: tc.roots})
			_, err := v.Verify(ctx(t), tok)
			if !tc.untrusted {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			if !errors.Is(err, oidcverify.ErrCommunication) || !errors.Is(err, oidcverify.ErrUntrustedCertificate) {
				t.Fatalf("Verify: %v, want ErrCommunication and ErrUntrustedCertificate", err)
			}
			if errors.Is(err, oidcverify.ErrInvalidToken) {
				t.Errorf("an untrusted certificate is not an invalid token: %v", err)
			}
		})
	}
	if got := oidcverify.Thumbprint(p.CACert); got != p.Thumbprint {
		t.Errorf("Thumbprint %s, oidcop says %s", got, p.Thumbprint)
	}
}

// TestFetchFailures: a provider that answers nothing useful is
// ErrCommunication, and a failed fetch is not retried within MinRefetch.
func TestFetchFailures(t *testing.T) {
	p := startOP(t, "RS256")
	tok := p.IDToken(t, client, alice)

	// A TLS server with a huge JWKS: the size limit stops the read.
	huge := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/.well-known/openid-configuration" {
			w.Write([]byte(`{"issuer":"` + p.Issuer + `","jwks_uri":"https://` + r.Host + `/keys"}`))
			return
		}
		w.Write([]byte(`{"keys":[` + strings.Repeat(" ", 2<<20) + `]}`))
	}))
	t.Cleanup(huge.Close)

	// A listener that closes every connection at once.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()

	for _, tc := range []struct {
		name string
		cfg  oidcverify.Config
	}{
		{name: "connection closed", cfg: oidcverify.Config{IssuerURL: "https://" + ln.Addr().String()}},
		{name: "discovery names another issuer", cfg: oidcverify.Config{IssuerURL: "https://" + huge.Listener.Addr().String(), Thumbprints: []string{oidcverify.Thumbprint(huge.Certificate())}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := testclock.New(time.Now())
			tc.cfg.ClientIDs, tc.cfg.Now = []string{client}, clock.Now
			v := newVerifier(t, tc.cfg)
			// The token names this issuer, so verification gets as far as
			// fetching keys.
			tok := reissue(t, tok, tc.cfg.IssuerURL)
			for i := 0; i < 2; i++ {
				_, err := v.Verify(ctx(t), tok)
				if !errors.Is(err, oidcverify.ErrCommunication) || errors.Is(err, oidcverify.ErrUntrustedCertificate) || errors.Is(err, oidcverify.ErrInvalidToken) {
					t.Fatalf("Verify %d: %v, want ErrCommunication only", i, err)
				}
			}
			if n := v.Fetches(); n != 1 {
				t.Errorf("%d fetches, want 1 (no retry within MinRefetch)", n)
			}
		})
	}

	// The huge JWKS behind a discovery document that names the provider
	// correctly.
	t.Run("JWKS over the size limit", func(t *testing.T) {
		srv := httptest.NewUnstartedServer(nil)
		srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			if r.URL.Path == "/.well-known/openid-configuration" {
				w.Write([]byte(`{"issuer":"https://` + r.Host + `","jwks_uri":"https://` + r.Host + `/keys","authorization_endpoint":"https://` + r.Host + `/a","token_endpoint":"https://` + r.Host + `/t"}`))
				return
			}
			w.Write([]byte(`{"keys":[` + strings.Repeat(" ", 2<<20) + `]}`))
		})
		srv.StartTLS()
		t.Cleanup(srv.Close)
		issuer := "https://" + srv.Listener.Addr().String()
		v := newVerifier(t, oidcverify.Config{IssuerURL: issuer, ClientIDs: []string{client}, Thumbprints: []string{oidcverify.Thumbprint(srv.Certificate())}})
		_, err := v.Verify(ctx(t), reissue(t, tok, issuer))
		if !errors.Is(err, oidcverify.ErrCommunication) || !strings.Contains(err.Error(), "larger than the limit") {
			t.Fatalf("Verify: %v, want ErrCommunication for the size limit", err)
		}
	})
}

// reissue replaces the iss claim of jwt's payload (the signature no
// longer matches, which these tests never reach).
func reissue(t *testing.T, jwt, issuer string) string {
	t.Helper()
	parts := strings.Split(jwt, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := jsonUnmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m["iss"] = issuer
	b, err = jsonMarshal(m)
	if err != nil {
		t.Fatal(err)
	}
	parts[1] = base64.RawURLEncoding.EncodeToString(b)
	return strings.Join(parts, ".")
}

var (
	jsonUnmarshal = json.Unmarshal
	jsonMarshal   = json.Marshal
)
