package oidcop_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/testutil/oidcop"
)

var alice = oidcop.User{
	Subject: "sub-alice", Username: "alice", Password: "correct horse", Email: "alice@example.com",
	Claims: map[string]any{"https://aws.amazon.com/tags": map[string]any{
		"principal_tags":      map[string]any{"username": []string{"alice"}},
		"transitive_tag_keys": []string{"username"},
	}},
}

func start(t *testing.T, alg string) *oidcop.Provider {
	return oidcop.Start(t, oidcop.Options{
		Alg: alg,
		Clients: []oidcop.Client{
			{ID: "native-app", Native: true, RedirectURIs: []string{"http://127.0.0.1/callback"}},
			{ID: "web-app", Secret: "web-secret", RedirectURIs: []string{"http://127.0.0.1:1/cb"}},
			{ID: "device-app", Device: true},
		},
		Users: []oidcop.User{alice},
	})
}

// payload decodes a JWT's claims without verifying it (oidcverify's
// tests verify).
func payload(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS compact token: %q", jwt)
	}
	data, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func header(t *testing.T, jwt string) map[string]any {
	t.Helper()
	data, err := base64.RawURLEncoding.DecodeString(strings.Split(jwt, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestCodeFlow(t *testing.T) {
	for _, tc := range []struct{ alg, client string }{
		{"RS256", "native-app"}, {"ES256", "native-app"}, {"RS256", "web-app"},
	} {
		t.Run(tc.alg+"/"+tc.client, func(t *testing.T) {
			p := start(t, tc.alg)
			tok := p.IDToken(t, tc.client, alice)
			h, c := header(t, tok), payload(t, tok)
			if h["alg"] != tc.alg || h["kid"] != p.KeyID() {
				t.Errorf("header %v, want alg %s kid %s", h, tc.alg, p.KeyID())
			}
			if c["iss"] != p.Issuer || c["sub"] != alice.Subject || c["aud"] == nil || c["email"] != alice.Email {
				t.Errorf("claims %v", c)
			}
			if _, ok := c["https://aws.amazon.com/tags"].(map[string]any); !ok {
				t.Errorf("no session tags claim: %v", c)
			}
			if amr, _ := c["amr"].([]any); len(amr) != 1 || amr[0] != "pwd" {
				t.Errorf("amr %v, want [pwd]", c["amr"])
			}
		})
	}
}

func TestCodeFlowWrongPasswordRefused(t *testing.T) {
	p := start(t, "RS256")
	bad := alice
	bad.Password = "wrong"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := p.CodeFlow(ctx, "native-app", bad); err == nil || !strings.Contains(err.Error(), "refused the sign-in") {
		t.Fatalf("CodeFlow with a wrong password: %v, want a refused sign-in", err)
	}
}

func TestRestartRotatesKeyOnSameIssuer(t *testing.T) {
	p := start(t, "ES256")
	issuer, kid, thumb := p.Issuer, p.KeyID(), p.Thumbprint
	p.Restart(t)
	if p.Issuer != issuer || p.Thumbprint != thumb || p.KeyID() == kid {
		t.Fatalf("after restart issuer %s thumbprint %s kid %s; before %s %s %s", p.Issuer, p.Thumbprint, p.KeyID(), issuer, thumb, kid)
	}
	if got := header(t, p.IDToken(t, "native-app", alice))["kid"]; got != p.KeyID() {
		t.Errorf("token kid %v, want %s", got, p.KeyID())
	}
}

func TestDeviceFlow(t *testing.T) {
	p := start(t, "RS256")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d, err := p.Discover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	hc := p.HTTPClient()
	post := func(endpoint string, form url.Values) (int, map[string]any) {
		t.Helper()
		resp, err := hc.PostForm(endpoint, form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&m); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, m
	}
	status, auth := post(d.DeviceAuthorizationEndpoint, url.Values{"client_id": {"device-app"}, "scope": {"openid email"}})
	if status != http.StatusOK {
		t.Fatalf("device authorization: %d %v", status, auth)
	}
	userCode, _ := auth["user_code"].(string)
	deviceCode, _ := auth["device_code"].(string)
	if userCode == "" || deviceCode == "" || auth["verification_uri"] != p.Issuer+"/device" {
		t.Fatalf("device authorization response %v", auth)
	}
	poll := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {deviceCode}, "client_id": {"device-app"}}

	// Before approval the token endpoint says to wait.
	if status, m := post(d.TokenEndpoint, poll); status != http.StatusBadRequest || m["error"] != "authorization_pending" {
		t.Fatalf("poll before approval: %d %v, want authorization_pending", status, m)
	}

	// A wrong password on the provider's page does not approve it.
	bad := alice
	bad.Password = "wrong"
	if err := p.TryDeviceApprove(ctx, userCode, bad); err == nil {
		t.Fatal("device approval with a wrong password succeeded")
	}

	p.DeviceApprove(t, userCode, alice)
	// The provider asks clients to poll no faster than its interval; the
	// approval came before this poll, so one poll (after the interval,
	// or a slow_down answer) gets the token. Bounded: at most 4 polls.
	interval := time.Duration(auth["interval"].(float64)) * time.Second
	var tok map[string]any
	for i := 0; i < 4; i++ {
		status, m := post(d.TokenEndpoint, poll)
		if status == http.StatusOK {
			tok = m
			break
		}
		if m["error"] != "slow_down" && m["error"] != "authorization_pending" {
			t.Fatalf("poll: %d %v", status, m)
		}
		select {
		case <-time.After(interval):
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
	}
	if tok == nil {
		t.Fatal("no token after 4 polls")
	}
	idt, _ := tok["id_token"].(string)
	if idt == "" {
		t.Fatalf("token response without id_token: %v", tok)
	}
	if c := payload(t, idt); c["sub"] != alice.Subject || c["aud"] == nil || c["iss"] != p.Issuer {
		t.Errorf("device flow ID token claims %v", c)
	}
}

// TestSignInForAnotherProgram: a program (postern login, say) makes the
// authorization URL and serves the loopback redirect; SignIn is the
// browser, and the program's server gets the code.
func TestSignInForAnotherProgram(t *testing.T) {
	p := start(t, "RS256")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d, err := p.Discover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	codes := make(chan url.Values, 1)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		codes <- r.URL.Query()
		io.WriteString(w, "you may close this window")
	}))
	defer app.Close()
	redirect := app.URL + "/callback"
	authURL := d.AuthorizationEndpoint + "?" + url.Values{
		"client_id": {"native-app"}, "redirect_uri": {redirect}, "response_type": {"code"},
		"scope": {"openid"}, "state": {"st"},
		"code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"},
	}.Encode()
	final, body := p.SignIn(t, authURL, alice)
	if !strings.HasPrefix(final.String(), redirect) || body != "you may close this window" {
		t.Fatalf("browser ended at %s with %q", final, body)
	}
	q := <-codes
	if q.Get("state") != "st" || q.Get("code") == "" {
		t.Fatalf("callback query %v", q)
	}
	// The code is good at the token endpoint with the PKCE verifier
	// (RFC 7636's example pair).
	resp, err := p.HTTPClient().PostForm(d.TokenEndpoint, url.Values{
		"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "redirect_uri": {redirect},
		"client_id": {"native-app"}, "code_verifier": {"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok oidcop.Tokens
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.IDToken == "" {
		t.Fatalf("token response %d: %+v %v", resp.StatusCode, tok, err)
	}
	if c := payload(t, tok.IDToken); c["sub"] != alice.Subject {
		t.Errorf("claims %v", c)
	}
}

func TestIDTokenLifetime(t *testing.T) {
	p := oidcop.Start(t, oidcop.Options{
		IDTokenLifetime: 2 * time.Minute,
		Clients:         []oidcop.Client{{ID: "native-app", Native: true, RedirectURIs: []string{"http://127.0.0.1/callback"}}},
		Users:           []oidcop.User{alice},
	})
	c := payload(t, p.IDToken(t, "native-app", alice))
	exp, _ := c["exp"].(float64)
	iat, _ := c["iat"].(float64)
	if exp-iat != 120 {
		t.Fatalf("exp-iat = %v, want 120", exp-iat)
	}
	if p.Alg != "RS256" {
		t.Errorf("default alg %s", p.Alg)
	}
}
