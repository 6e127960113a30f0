package oidcverify_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/postern/postern/internal/server/oidcverify"
)

// keyServer is a TLS server publishing discovery and a JWKS for a key
// the test signs with: for claim shapes the real provider never issues
// (an azp that differs from aud, no kid, nbf in the future).
type keyServer struct {
	issuer string
	thumb  string
	key    *ecdsa.PrivateKey
}

func startKeyServer(t *testing.T) *keyServer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ks := &keyServer{key: key}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			json.NewEncoder(w).Encode(map[string]any{
				"issuer": ks.issuer, "jwks_uri": ks.issuer + "/keys",
				"authorization_endpoint": ks.issuer + "/auth", "token_endpoint": ks.issuer + "/token",
				"id_token_signing_alg_values_supported": []string{"ES256"},
			})
		case "/keys":
			json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
				{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"},
			}})
		default:
			http.NotFound(w, r)
		}
	}))
	srv.StartTLS()
	t.Cleanup(srv.Close)
	ks.issuer = "https://" + srv.Listener.Addr().String()
	ks.thumb = oidcverify.Thumbprint(srv.Certificate())
	return ks
}

func (ks *keyServer) sign(t *testing.T, kid string, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: ks.key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestVerifyClaimRules(t *testing.T) {
	ks := startKeyServer(t)
	now := time.Now()
	claims := func(extra map[string]any) map[string]any {
		m := map[string]any{"iss": ks.issuer, "sub": "s1", "aud": "app", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		for k, v := range extra {
			if v == nil {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		return m
	}
	for _, tc := range []struct {
		name     string
		kid      string
		claims   map[string]any
		want     error
		clientID string
	}{
		{name: "aud matches", kid: "k1", claims: claims(nil), clientID: "app"},
		{name: "one of several aud values", kid: "k1", claims: claims(map[string]any{"aud": []string{"x", "app"}}), clientID: "app"},
		{name: "azp admits when no aud does", kid: "k1", claims: claims(map[string]any{"aud": "https://api.example", "azp": "app"}), clientID: "app"},
		{name: "neither aud nor azp", kid: "k1", claims: claims(map[string]any{"aud": "x", "azp": "y"}), want: oidcverify.ErrRejectedClaim},
		{name: "no kid: every key tried", claims: claims(nil), clientID: "app"},
		{name: "unknown kid", kid: "k2", claims: claims(nil), want: oidcverify.ErrInvalidToken},
		{name: "nbf beyond the skew", kid: "k1", claims: claims(map[string]any{"nbf": now.Add(10 * time.Minute).Unix()}), want: oidcverify.ErrInvalidToken},
		{name: "nbf within the skew", kid: "k1", claims: claims(map[string]any{"nbf": now.Add(time.Minute).Unix()}), clientID: "app"},
		{name: "no exp", kid: "k1", claims: claims(map[string]any{"exp": nil}), want: oidcverify.ErrInvalidToken},
		{name: "no aud", kid: "k1", claims: claims(map[string]any{"aud": nil}), want: oidcverify.ErrInvalidToken},
		{name: "bad session tags", kid: "k1", claims: claims(map[string]any{oidcverify.TagsClaim: map[string]any{"principal_tags": map[string]any{"k": []string{"a", "b"}}}}), want: oidcverify.ErrRejectedClaim},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newVerifier(t, oidcverify.Config{IssuerURL: ks.issuer, ClientIDs: []string{"app"}, Thumbprints: []string{ks.thumb}})
			c, err := v.Verify(ctx(t), ks.sign(t, tc.kid, tc.claims))
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("Verify: %v, want %v", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if c.ClientID != tc.clientID {
				t.Errorf("ClientID %q, want %q", c.ClientID, tc.clientID)
			}
		})
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, cfg := range []oidcverify.Config{
		{IssuerURL: "http://op.example", ClientIDs: []string{"a"}},
		{IssuerURL: "https://op.example?x=1", ClientIDs: []string{"a"}},
		{IssuerURL: "op.example", ClientIDs: []string{"a"}},
		{IssuerURL: "https://op.example"},
		{IssuerURL: "https://op.example", ClientIDs: []string{"a"}, Thumbprints: []string{"abc"}},
		{IssuerURL: "https://op.example", ClientIDs: []string{"a"}, Thumbprints: []string{"zz" + string(make([]byte, 38))}},
	} {
		if _, err := oidcverify.New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}
