// Package login signs a person in at their OpenID provider and turns the
// ID token into AWS credentials, for `postern login`: the
// authorization-code flow with PKCE in the user's browser (a loopback
// redirect listener on 127.0.0.1), the device-authorization flow for a
// machine without a browser, refresh-token renewal, STS
// AssumeRoleWithWebIdentity (unsigned, as the AWS SDK sends it) into the
// chosen role, and a per-profile credentials cache under the user's home
// (mode 0600 in a 0700 folder, written atomically).
//
// OAuth and OpenID Connect are golang.org/x/oauth2 and
// github.com/coreos/go-oidc/v3 (discovery, PKCE, device polling with the
// provider's interval and slow_down, ID-token signature, issuer, audience
// and nonce checks); nothing here speaks JOSE itself.
package login

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Sentinel errors.
var (
	// ErrStateMismatch: the browser came back to the loopback listener
	// with a state other than the one sent (a forged or stale redirect).
	ErrStateMismatch = errors.New("the sign-in response's state does not match the request's")
	// ErrDenied: the provider (or the person) refused the sign-in.
	ErrDenied = errors.New("the identity provider refused the sign-in")
	// ErrNoIDToken: the token endpoint answered without an ID token.
	ErrNoIDToken = errors.New("the identity provider returned no ID token (is the openid scope allowed?)")
	// ErrNoDeviceFlow: the provider does not offer the device flow.
	ErrNoDeviceFlow = errors.New("the identity provider offers no device authorization endpoint")
)

// DefaultScopes are asked for when a profile names none: openid for the
// ID token, offline_access for a refresh token, email and profile for a
// readable session name.
var DefaultScopes = []string{oidc.ScopeOpenID, "email", "profile", oidc.ScopeOfflineAccess}

// ProviderConfig says which provider and client to sign in with.
type ProviderConfig struct {
	// Issuer is the provider's issuer URL exactly as its tokens' "iss"
	// says it (some end in a slash); the discovery document is at
	// Issuer (without a trailing slash) + "/.well-known/openid-configuration".
	Issuer string
	// ClientID is the OAuth client registered for Postern at the
	// provider (a public, native client); ClientSecret is empty for one.
	ClientID, ClientSecret string
	// Scopes default to DefaultScopes.
	Scopes []string
	// HTTPClient talks to the provider (nil: http.DefaultClient).
	HTTPClient *http.Client
}

// Provider is a discovered provider, ready for sign-ins.
type Provider struct {
	cfg      ProviderConfig
	op       *oidc.Provider
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
	// revocation is the discovery document's revocation_endpoint, if any.
	revocation string
}

// Tokens are what a sign-in or refresh yields.
type Tokens struct {
	// IDToken is the verified ID token (compact JWS).
	IDToken string
	// RefreshToken is empty when the provider gave none.
	RefreshToken string
	// Subject, Email and Username are claims of the ID token, for the
	// session name and messages.
	Subject, Email, Username string
	// Expiry is the ID token's exp.
	Expiry time.Time
}

// Discover fetches the provider's discovery document.
func Discover(ctx context.Context, cfg ProviderConfig) (*Provider, error) {
	if cfg.Issuer == "" || cfg.ClientID == "" {
		return nil, errors.New("the profile names no OpenID provider: set postern_oidc_issuer and postern_oidc_client_id (postern login --configure)")
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = DefaultScopes
	}
	// The key set keeps the context it was made with for its own fetches:
	// give it one that outlives this call.
	op, err := oidc.NewProvider(oidc.ClientContext(context.WithoutCancel(ctx), cfg.HTTPClient), cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("discover the identity provider %s: %w", cfg.Issuer, err)
	}
	var extra struct {
		Revocation string `json:"revocation_endpoint"`
	}
	_ = op.Claims(&extra) // optional member
	ep := op.Endpoint()
	if cfg.ClientSecret == "" {
		ep.AuthStyle = oauth2.AuthStyleInParams
	}
	return &Provider{
		cfg: cfg,
		op:  op,
		oauth: oauth2.Config{
			ClientID:     cfg.ClientID,
			ClientSecret: cfg.ClientSecret,
			Endpoint:     ep,
			Scopes:       cfg.Scopes,
		},
		verifier:   op.Verifier(&oidc.Config{ClientID: cfg.ClientID}),
		revocation: extra.Revocation,
	}, nil
}

// Issuer is the provider's issuer URL.
func (p *Provider) Issuer() string { return p.cfg.Issuer }

func (p *Provider) ctx(ctx context.Context) context.Context {
	return context.WithValue(oidc.ClientContext(ctx, p.cfg.HTTPClient), oauth2.HTTPClient, p.cfg.HTTPClient)
}

// Opener opens url in the user's browser.
type Opener func(url string) error

// BrowserSignIn runs the authorization-code flow with PKCE: it listens on
// 127.0.0.1 on a random port, prints the authorization URL to out and
// calls open with it, serves the one redirect that comes back to
// /callback (checking its state), exchanges the code with the PKCE
// verifier and verifies the ID token (with its nonce). It waits until ctx
// ends for the redirect.
func (p *Provider) BrowserSignIn(ctx context.Context, out io.Writer, open Opener) (Tokens, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return Tokens{}, fmt.Errorf("listen for the sign-in redirect: %w", err)
	}
	defer ln.Close()
	state, nonce := randomString(), randomString()
	verifier := oauth2.GenerateVerifier()
	cfg := p.oauth
	cfg.RedirectURL = "http://" + ln.Addr().String() + "/callback"
	authURL := cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce))

	type result struct {
		code string
		err  error
	}
	done := make(chan result, 1)
	srv := &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/callback" {
				http.NotFound(w, r) // a browser's /favicon.ico, say
				return
			}
			q := r.URL.Query()
			var res result
			switch {
			case subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(state)) != 1:
				res.err = ErrStateMismatch
			case q.Get("error") != "":
				res.err = fmt.Errorf("%w: %s %s", ErrDenied, q.Get("error"), q.Get("error_description"))
			case q.Get("code") == "":
				res.err = fmt.Errorf("%w: the redirect carries no code", ErrDenied)
			default:
				res.code = q.Get("code")
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			if res.err != nil {
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprintf(w, "<!doctype html><title>Postern sign-in failed</title><p>Sign-in failed: %s</p><p>Return to the terminal.</p>", html.EscapeString(res.err.Error()))
			} else {
				fmt.Fprint(w, "<!doctype html><title>Postern sign-in</title><p>Signed in. You can close this window and return to the terminal.</p>")
			}
			select {
			case done <- res:
			default: // only the first redirect counts
			}
		}),
	}
	go srv.Serve(ln) //nolint:errcheck // ends with Shutdown/Close below
	defer srv.Close()

	fmt.Fprintf(out, "Opening your browser to sign in at %s.\nIf it does not open, visit this URL:\n\n    %s\n\n", p.cfg.Issuer, authURL)
	if open != nil {
		if err := open(authURL); err != nil {
			fmt.Fprintf(out, "(Could not open a browser: %v)\n", err)
		}
	}
	var res result
	select {
	case res = <-done:
	case <-ctx.Done():
		return Tokens{}, fmt.Errorf("waiting for the browser to come back from the identity provider: %w", ctx.Err())
	}
	// One request served: close the listener before anything else.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	_ = srv.Shutdown(sctx)
	cancel()
	if res.err != nil {
		return Tokens{}, res.err
	}
	tok, err := cfg.Exchange(p.ctx(ctx), res.code, oauth2.VerifierOption(verifier))
	if err != nil {
		return Tokens{}, fmt.Errorf("exchange the authorization code: %w", tokenErr(err))
	}
	return p.tokens(ctx, tok, nonce, "")
}

// DeviceSignIn runs the device-authorization flow: it prints the
// verification URI and the user code to out for the person to enter on
// any device, then polls the token endpoint at the provider's interval
// (slower on slow_down) until the person approves, refuses, the code
// expires or ctx ends.
func (p *Provider) DeviceSignIn(ctx context.Context, out io.Writer) (Tokens, error) {
	if p.oauth.Endpoint.DeviceAuthURL == "" {
		return Tokens{}, ErrNoDeviceFlow
	}
	da, err := p.oauth.DeviceAuth(p.ctx(ctx))
	if err != nil {
		return Tokens{}, fmt.Errorf("start the device sign-in: %w", tokenErr(err))
	}
	fmt.Fprintf(out, "To sign in, open this page on any device:\n\n    %s\n\nand enter the code:\n\n    %s\n\n", da.VerificationURI, da.UserCode)
	if da.VerificationURIComplete != "" {
		fmt.Fprintf(out, "(or open %s, which carries the code)\n", da.VerificationURIComplete)
	}
	if !da.Expiry.IsZero() {
		fmt.Fprintf(out, "The code expires at %s. Waiting for you to sign in...\n", da.Expiry.Local().Format("15:04:05"))
	}
	tok, err := p.oauth.DeviceAccessToken(p.ctx(ctx), da)
	if err != nil {
		if !da.Expiry.IsZero() && errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return Tokens{}, fmt.Errorf("the device code expired before the sign-in was approved: run postern login again")
		}
		return Tokens{}, fmt.Errorf("device sign-in: %w", tokenErr(err))
	}
	return p.tokens(ctx, tok, "", "")
}

// Refresh gets a fresh ID token with a refresh token. The provider may
// rotate the refresh token; the new one is in the result (else the old
// one is kept).
func (p *Provider) Refresh(ctx context.Context, refreshToken string) (Tokens, error) {
	if refreshToken == "" {
		return Tokens{}, errors.New("no refresh token")
	}
	ts := p.oauth.TokenSource(p.ctx(ctx), &oauth2.Token{RefreshToken: refreshToken, Expiry: time.Unix(1, 0)})
	tok, err := ts.Token()
	if err != nil {
		return Tokens{}, fmt.Errorf("refresh the sign-in: %w", tokenErr(err))
	}
	return p.tokens(ctx, tok, "", refreshToken)
}

// Revoke asks the provider to revoke a refresh token (RFC 7009), when it
// offers a revocation endpoint. It reports whether it was revoked.
func (p *Provider) Revoke(ctx context.Context, refreshToken string) (bool, error) {
	if p.revocation == "" || refreshToken == "" {
		return false, nil
	}
	form := url.Values{"token": {refreshToken}, "token_type_hint": {"refresh_token"}}
	if p.cfg.ClientSecret == "" {
		form.Set("client_id", p.cfg.ClientID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.revocation, strings.NewReader(form.Encode()))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if p.cfg.ClientSecret != "" {
		req.SetBasicAuth(url.QueryEscape(p.cfg.ClientID), url.QueryEscape(p.cfg.ClientSecret))
	}
	resp, err := p.cfg.HTTPClient.Do(req)
	if err != nil {
		return false, fmt.Errorf("revoke the refresh token: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("revoke the refresh token: HTTP %d", resp.StatusCode)
	}
	return true, nil
}

// tokens verifies tok's ID token (and its nonce when set) and returns it.
func (p *Provider) tokens(ctx context.Context, tok *oauth2.Token, nonce, oldRefresh string) (Tokens, error) {
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return Tokens{}, ErrNoIDToken
	}
	idt, err := p.verifier.Verify(p.ctx(ctx), raw)
	if err != nil {
		return Tokens{}, fmt.Errorf("verify the ID token: %w", err)
	}
	if nonce != "" && subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		return Tokens{}, errors.New("verify the ID token: its nonce is not the one sent")
	}
	var claims struct {
		Email    string `json:"email"`
		Username string `json:"preferred_username"`
	}
	_ = idt.Claims(&claims)
	refresh := tok.RefreshToken
	if refresh == "" {
		refresh = oldRefresh
	}
	return Tokens{IDToken: raw, RefreshToken: refresh, Subject: idt.Subject, Email: claims.Email, Username: claims.Username, Expiry: idt.Expiry}, nil
}

// tokenErr words an OAuth error response.
func tokenErr(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.ErrorCode != "" {
		msg := re.ErrorCode
		if re.ErrorDescription != "" {
			msg += ": " + re.ErrorDescription
		}
		if re.ErrorCode == "access_denied" || re.ErrorCode == "invalid_grant" || re.ErrorCode == "expired_token" {
			return fmt.Errorf("%w: %s", ErrDenied, msg)
		}
		return errors.New(msg)
	}
	return err
}

func randomString() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}
