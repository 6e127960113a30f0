package console

// Sign in with an OpenID Connect provider (console.identity_providers):
//
//   - POST /console/api/signin-oidc/start {"provider"} answers the
//     provider's authorization URL (code flow, PKCE S256, state, nonce)
//     and sets the flow cookie __Host-postern-oidc: sealed, HttpOnly,
//     Secure, 10 minutes, SameSite=Lax. Lax, not Strict: the provider
//     sends the browser back with a top-level GET from its own site, and
//     a Strict cookie would not come with it. Lax cookies ride only on
//     top-level GETs, and the callback changes nothing for a request
//     without the matching state, PKCE verifier and nonce that only this
//     cookie holds.
//   - GET /console/oidc/callback (the redirect URI) checks the state
//     (constant time), exchanges the code with the PKCE verifier,
//     verifies the ID token (package oidcverify: go-oidc, the IAM OIDC
//     provider's thumbprints) and its nonce, then calls STS
//     AssumeRoleWithWebIdentity through the server's own handler, unsigned
//     as any client would, from the browser's address: the role's trust
//     policy decides and the call is on record as a WebIdentityUser's.
//     The role session becomes the console session (cookie as for a
//     password sign-in, until the role session ends).
//   - When the provider offers several roles the verified token is kept,
//     sealed, in the short-lived cookie __Host-postern-oidc-pending
//     (SameSite=Strict: only the console's own page reads it) and the page
//     asks which role: GET /console/api/signin-oidc/pending lists them,
//     POST /console/api/signin-oidc/finish {"roleArn"} signs in. A refusal
//     (AWS's error) is kept there the same way for the sign-in page to
//     show.
//
// Every attempt, successful or not, is a ConsoleLogin record, and failures
// count against the browser's address in the sign-in throttle.

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/postern/postern/internal/server/audit"
	"github.com/postern/postern/internal/server/config"
	"github.com/postern/postern/internal/server/identity"
	"github.com/postern/postern/internal/server/oidcverify"
	"github.com/postern/postern/internal/store"
)

// Cookies and paths of the federated sign-in.
const (
	FlowCookieName    = "__Host-postern-oidc"
	PendingCookieName = "__Host-postern-oidc-pending"
	// CallbackPath is the redirect URI's path: register
	// https://<server>/console/oidc/callback with the provider.
	CallbackPath = "/console/oidc/callback"
	flowAAD      = "postern-console-oidc-flow"
	pendingAAD   = "postern-console-oidc-pending"
	flowLifetime = 10 * time.Minute
	pendingLife  = 5 * time.Minute
)

// fedProvider is one configured identity provider.
type fedProvider struct {
	id     string
	cfg    config.IdentityProvider
	secret string
}

// loadProviders reads console.identity_providers (and their secret
// files).
func loadProviders(cfg config.Console, dataDir string) (map[string]*fedProvider, []*fedProvider, error) {
	byID := map[string]*fedProvider{}
	var list []*fedProvider
	for _, p := range cfg.IdentityProviders {
		fp := &fedProvider{id: p.ProviderID(), cfg: p, secret: p.ClientSecret}
		if f := p.ClientSecretFile; f != "" {
			if !filepath.IsAbs(f) {
				f = filepath.Join(dataDir, f)
			}
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, nil, fmt.Errorf("console: identity provider %s: client secret: %w", fp.id, err)
			}
			fp.secret = strings.TrimSpace(string(b))
		}
		byID[fp.id] = fp
		list = append(list, fp)
	}
	return byID, list, nil
}

// flowState is the flow cookie's content.
type flowState struct {
	Provider string `json:"p"`
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Expires  int64  `json:"e"`
}

// pendingState is the pending cookie's content: a refusal to show, or a
// verified token waiting for the person's choice of role.
type pendingState struct {
	Provider string `json:"p,omitempty"`
	Token    string `json:"t,omitempty"`
	Subject  string `json:"sub,omitempty"`
	// SessionName is the role session's name, from the token's claims.
	SessionName string    `json:"n,omitempty"`
	Error       *apiError `json:"err,omitempty"`
	Expires     int64     `json:"e"`
}

func (c *Console) seal(v any, aad string) (string, error) { return sealValue(c.cfg.Sealer, v, aad) }

// openSealed reads a sealed cookie into v; false when it is missing, not
// this server's or past exp (read from v by expires).
func (c *Console) openSealed(r *http.Request, name, aad string, v any) bool {
	ck, err := r.Cookie(name)
	if err != nil || ck.Value == "" {
		return false
	}
	return openValue(c.cfg.Sealer, ck.Value, aad, v) == nil
}

func setSealedCookie(w http.ResponseWriter, name, value string, life time.Duration, same http.SameSite) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", Secure: true, HttpOnly: true,
		SameSite: same, MaxAge: int(life / time.Second)})
}

func dropCookie(w http.ResponseWriter, name string, same http.SameSite) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", Secure: true, HttpOnly: true, SameSite: same, MaxAge: -1})
}

func randomString() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("console: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// providerInfo is one entry of GET /console/api/providers.
type providerInfo struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// providers is GET /console/api/providers (public): what the sign-in page
// offers. Roles are not listed: they are shown only after the provider's
// sign-in.
func (c *Console) providers(w http.ResponseWriter, r *http.Request) {
	out := struct {
		Providers []providerInfo `json:"providers"`
	}{Providers: []providerInfo{}}
	for _, p := range c.idpList {
		out.Providers = append(out.Providers, providerInfo{ID: p.id, Name: p.cfg.Name})
	}
	writeJSON(w, http.StatusOK, out)
}

// iamProvider finds the IAM OIDC provider of an issuer.
func (c *Console) iamProvider(ctx context.Context, issuer string) (store.OIDCProvider, error) {
	ps, err := c.cfg.Store.ListOIDCProviders(ctx)
	if err != nil {
		return store.OIDCProvider{}, fmt.Errorf("console: list OIDC providers: %w", err)
	}
	want := strings.TrimSuffix(strings.TrimPrefix(issuer, "https://"), "/")
	for _, p := range ps {
		if strings.TrimSuffix(p.URL, "/") == want {
			return p, nil
		}
	}
	return store.OIDCProvider{}, errNoIAMProvider
}

var errNoIAMProvider = errors.New("console: no IAM OIDC provider for the issuer")

// oauthConfig discovers the provider (trusting its TLS as IAM does) and
// returns the client's OAuth 2.0 configuration and the HTTP client for it.
func (c *Console) oauthConfig(ctx context.Context, p *fedProvider, ip store.OIDCProvider) (*oauth2.Config, context.Context, error) {
	hc := oidcverify.HTTPClient(ip.Thumbprints, c.cfg.IAM.OIDCRootCAs, 0)
	octx := oidc.ClientContext(ctx, hc)
	prov, err := oidc.NewProvider(octx, p.cfg.Issuer)
	if err != nil {
		return nil, nil, fmt.Errorf("console: discover %s: %w", p.cfg.Issuer, err)
	}
	scopes := []string{oidc.ScopeOpenID}
	if len(p.cfg.Scopes) == 0 {
		scopes = append(scopes, "profile", "email")
	}
	for _, s := range p.cfg.Scopes {
		if s != oidc.ScopeOpenID {
			scopes = append(scopes, s)
		}
	}
	return &oauth2.Config{ClientID: p.cfg.ClientID, ClientSecret: p.secret, Endpoint: prov.Endpoint(),
		RedirectURL: "https://" + c.cfg.Host + CallbackPath, Scopes: scopes}, octx, nil
}

// startRequest is POST /console/api/signin-oidc/start's body.
type startRequest struct {
	Provider string `json:"provider"`
}

// signInOIDCStart is POST /console/api/signin-oidc/start.
func (c *Console) signInOIDCStart(w http.ResponseWriter, r *http.Request) {
	var in startRequest
	if !readJSON(w, r, &in) {
		return
	}
	p := c.idps[in.Provider]
	if p == nil {
		writeError(w, http.StatusBadRequest, "InvalidInput", "The console offers no identity provider "+strconv.Quote(in.Provider)+".")
		return
	}
	if try, wait := c.throttle.begin("", remoteAddr(r).Addr()); try == nil {
		throttled(w, wait)
		return
	} else {
		try.forgive() // only a check: failures count at the callback
	}
	ctx := r.Context()
	ip, err := c.iamProvider(ctx, p.cfg.Issuer)
	if errors.Is(err, errNoIAMProvider) {
		c.cfg.Logger.ErrorContext(ctx, "console identity provider has no IAM OIDC provider", "provider", p.id, "issuer", p.cfg.Issuer)
		writeError(w, http.StatusServiceUnavailable, "IdentityProviderUnavailable", "Sign-in with "+p.cfg.Name+" is not set up: the account has no IAM OIDC provider for "+p.cfg.Issuer+".")
		return
	}
	if err != nil {
		c.internal(w, r, err)
		return
	}
	oc, _, err := c.oauthConfig(ctx, p, ip)
	if err != nil {
		c.cfg.Logger.WarnContext(ctx, "console identity provider unreachable", "provider", p.id, "error", err)
		writeError(w, http.StatusBadGateway, "IDPCommunicationError", "The console could not reach "+p.cfg.Name+". Try again later.")
		return
	}
	fs := flowState{Provider: p.id, Verifier: oauth2.GenerateVerifier(), Expires: c.cfg.Now().Add(flowLifetime).Unix()}
	if fs.State, err = randomString(); err == nil {
		fs.Nonce, err = randomString()
	}
	if err != nil {
		c.internal(w, r, err)
		return
	}
	v, err := c.seal(fs, flowAAD)
	if err != nil {
		c.internal(w, r, err)
		return
	}
	setSealedCookie(w, FlowCookieName, v, flowLifetime, http.SameSiteLaxMode)
	writeJSON(w, http.StatusOK, struct {
		AuthorizationURL string `json:"authorizationUrl"`
	}{oc.AuthCodeURL(fs.State, oauth2.S256ChallengeOption(fs.Verifier), oidc.Nonce(fs.Nonce))})
}

// fedFailure is a failed federated sign-in: what the record and the page
// are told.
type fedFailure struct {
	code, msg                   string
	provider, audience, subject string
}

// oidcCallback is GET /console/oidc/callback, the provider's redirect.
func (c *Console) oidcCallback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var fs flowState
	ok := c.openSealed(r, FlowCookieName, flowAAD, &fs)
	dropCookie(w, FlowCookieName, http.SameSiteLaxMode)
	q := r.URL.Query()
	if !ok || c.cfg.Now().Unix() > fs.Expires || c.idps[fs.Provider] == nil {
		// No sign-in of this browser waits: nothing was attempted (any
		// site can send a browser here), so nothing is counted or
		// recorded; the page says what happened.
		c.showError(w, r, apiError{Code: "SignInFailed", Message: "This sign-in was not started here or took too long. Please sign in again."})
		return
	}
	try, wait := c.throttle.begin("", remoteAddr(r).Addr())
	if try == nil {
		c.fedFailed(w, r, fedFailure{code: "Throttling", msg: msgThrottled + " (" + strconv.Itoa(int(wait/time.Second)+1) + " s)"})
		return
	}
	p := c.idps[fs.Provider]
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(fs.State)) != 1 {
		c.fedFailed(w, r, fedFailure{code: "SignInFailed", msg: "The identity provider's answer does not belong to this sign-in. Please sign in again."})
		return
	}
	if e := q.Get("error"); e != "" {
		c.fedFailed(w, r, fedFailure{code: "IdentityProviderError", msg: p.cfg.Name + " did not sign you in: " + clean(e+" "+q.Get("error_description"), 300)})
		return
	}
	ip, err := c.iamProvider(ctx, p.cfg.Issuer)
	if err != nil {
		try.forgive()
		c.fedFailed(w, r, fedFailure{code: "InternalFailure", msg: "Sign-in with " + p.cfg.Name + " is not set up correctly."})
		c.cfg.Logger.ErrorContext(ctx, "console federated sign-in", "provider", p.id, "error", err)
		return
	}
	oc, octx, err := c.oauthConfig(ctx, p, ip)
	var tok *oauth2.Token
	if err == nil {
		tok, err = oc.Exchange(octx, q.Get("code"), oauth2.VerifierOption(fs.Verifier))
	}
	if err != nil {
		c.cfg.Logger.WarnContext(ctx, "console federated sign-in: code exchange", "provider", p.id, "error", err)
		c.fedFailed(w, r, fedFailure{code: "IDPCommunicationError", msg: "The console could not complete the sign-in with " + p.cfg.Name + ". Please sign in again.", provider: ip.ARN})
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	claims, err := c.verifyIDToken(ctx, p, ip, raw)
	if err == nil {
		nonce, _ := claims.Raw["nonce"].(string)
		if subtle.ConstantTimeCompare([]byte(nonce), []byte(fs.Nonce)) != 1 {
			err = errors.New("the ID token's nonce is not this sign-in's")
		}
	}
	if err != nil {
		c.cfg.Logger.WarnContext(ctx, "console federated sign-in: ID token", "provider", p.id, "error", err)
		c.fedFailed(w, r, fedFailure{code: "InvalidIdentityToken", msg: "The ID token from " + p.cfg.Name + " is not valid.", provider: ip.ARN})
		return
	}
	if len(p.cfg.Roles) == 1 {
		c.assumeFederated(w, r, try, p, ip, raw, claims, webSessionName(claims), p.cfg.Roles[0], true)
		return
	}
	// The person picks the role: the verified token waits, sealed.
	try.forgive()
	exp := c.cfg.Now().Add(pendingLife)
	if claims.Expiry.Before(exp) {
		exp = claims.Expiry
	}
	v, err := c.seal(pendingState{Provider: p.id, Token: raw, Subject: claims.Subject, SessionName: webSessionName(claims), Expires: exp.Unix()}, pendingAAD)
	if err != nil {
		c.internal(w, r, err)
		return
	}
	setSealedCookie(w, PendingCookieName, v, pendingLife, http.SameSiteStrictMode)
	http.Redirect(w, r, "/console/#/signin/role", http.StatusSeeOther)
}

func (c *Console) verifyIDToken(ctx context.Context, p *fedProvider, ip store.OIDCProvider, raw string) (*oidcverify.Claims, error) {
	if raw == "" {
		return nil, errors.New("the token response has no id_token")
	}
	v, err := oidcverify.New(oidcverify.Config{IssuerURL: p.cfg.Issuer, ClientIDs: []string{p.cfg.ClientID},
		Thumbprints: ip.Thumbprints, RootCAs: c.cfg.IAM.OIDCRootCAs, Logger: c.cfg.Logger, Now: c.cfg.Now})
	if err != nil {
		return nil, err
	}
	defer v.Close()
	return v.Verify(ctx, raw)
}

// clean keeps a provider's text printable and short.
func clean(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, strings.TrimSpace(s))
	if len(s) > max {
		s = strings.ToValidUTF8(s[:max], "") + "…"
	}
	return s
}

// fedFailed records a failed federated sign-in and sends the browser
// back to the sign-in page, which shows why (kept in the pending cookie).
func (c *Console) fedFailed(w http.ResponseWriter, r *http.Request, f fedFailure) {
	if err := c.recordFederated(r, nil, "", audit.FederatedConsoleLoginAttempt{Provider: f.provider, Audience: f.audience,
		Subject: f.subject, ErrorCode: f.code, ErrorMessage: f.msg}); err != nil {
		c.internal(w, r, err)
		return
	}
	c.showError(w, r, apiError{Code: f.code, Message: f.msg})
}

// showError sends the browser to the sign-in page, which shows e (kept
// in the pending cookie, read once).
func (c *Console) showError(w http.ResponseWriter, r *http.Request, e apiError) {
	v, err := c.seal(pendingState{Error: &e, Expires: c.cfg.Now().Add(pendingLife).Unix()}, pendingAAD)
	if err != nil {
		c.internal(w, r, err)
		return
	}
	setSealedCookie(w, PendingCookieName, v, pendingLife, http.SameSiteStrictMode)
	http.Redirect(w, r, "/console/#/signin", http.StatusSeeOther)
}

func (c *Console) recordFederated(r *http.Request, p *identity.Principal, akid string, a audit.FederatedConsoleLoginAttempt) error {
	a.LoginTo = c.consoleURL()
	rec := audit.FederatedConsoleLogin(audit.Meta{AccountID: c.cfg.AccountID, Region: c.cfg.Region, Principal: p,
		AccessKeyID: akid, SourceIP: remoteAddr(r).Addr().String(), UserAgent: r.UserAgent(), Time: c.cfg.Now()}, a)
	if err := c.cfg.Audit.Write(context.WithoutCancel(r.Context()), rec, "", ""); err != nil {
		return fmt.Errorf("console: record federated sign-in: %w", err)
	}
	return nil
}

// pendingInfo is GET /console/api/signin-oidc/pending's answer.
type pendingInfo struct {
	Error    *apiError     `json:"error,omitempty"`
	Provider *providerInfo `json:"provider,omitempty"`
	Subject  string        `json:"subject,omitempty"`
	Roles    []roleChoice  `json:"roles,omitempty"`
}

type roleChoice struct {
	RoleARN  string `json:"roleArn"`
	RoleName string `json:"roleName"`
}

// signInOIDCPending is GET /console/api/signin-oidc/pending: a refusal to
// show (once), or the roles to choose from; {} when nothing waits.
func (c *Console) signInOIDCPending(w http.ResponseWriter, r *http.Request) {
	var ps pendingState
	if !c.openSealed(r, PendingCookieName, pendingAAD, &ps) || c.cfg.Now().Unix() > ps.Expires {
		writeJSON(w, http.StatusOK, pendingInfo{})
		return
	}
	if ps.Error != nil {
		dropCookie(w, PendingCookieName, http.SameSiteStrictMode)
		writeJSON(w, http.StatusOK, pendingInfo{Error: ps.Error})
		return
	}
	p := c.idps[ps.Provider]
	if p == nil {
		dropCookie(w, PendingCookieName, http.SameSiteStrictMode)
		writeJSON(w, http.StatusOK, pendingInfo{})
		return
	}
	out := pendingInfo{Provider: &providerInfo{ID: p.id, Name: p.cfg.Name}, Subject: ps.Subject}
	for _, arn := range p.cfg.Roles {
		out.Roles = append(out.Roles, roleChoice{RoleARN: arn, RoleName: arn[strings.LastIndexByte(arn, '/')+1:]})
	}
	writeJSON(w, http.StatusOK, out)
}

// signInOIDCCancel is POST /console/api/signin-oidc/cancel: the person
// picks no role; the waiting token is dropped.
func (c *Console) signInOIDCCancel(w http.ResponseWriter, r *http.Request) {
	dropCookie(w, PendingCookieName, http.SameSiteStrictMode)
	writeJSON(w, http.StatusOK, struct {
		Canceled bool `json:"canceled"`
	}{true})
}

// finishRequest is POST /console/api/signin-oidc/finish's body.
type finishRequest struct {
	RoleARN string `json:"roleArn"`
}

// signInOIDCFinish is POST /console/api/signin-oidc/finish: the role the
// person picked.
func (c *Console) signInOIDCFinish(w http.ResponseWriter, r *http.Request) {
	var in finishRequest
	if !readJSON(w, r, &in) {
		return
	}
	var ps pendingState
	if !c.openSealed(r, PendingCookieName, pendingAAD, &ps) || ps.Error != nil || ps.Token == "" || c.cfg.Now().Unix() > ps.Expires || c.idps[ps.Provider] == nil {
		writeError(w, http.StatusUnauthorized, "SignInFailed", "The sign-in with your identity provider has expired. Please sign in again.")
		return
	}
	p := c.idps[ps.Provider]
	found := false
	for _, arn := range p.cfg.Roles {
		found = found || arn == in.RoleARN
	}
	if !found {
		writeError(w, http.StatusBadRequest, "InvalidInput", "Choose one of the roles offered.")
		return
	}
	try, wait := c.throttle.begin("", remoteAddr(r).Addr())
	if try == nil {
		throttled(w, wait)
		return
	}
	ctx := r.Context()
	ip, err := c.iamProvider(ctx, p.cfg.Issuer)
	if err != nil {
		try.forgive()
		c.internal(w, r, err)
		return
	}
	dropCookie(w, PendingCookieName, http.SameSiteStrictMode)
	claims := &oidcverify.Claims{Subject: ps.Subject, ClientID: p.cfg.ClientID}
	c.assumeFederated(w, r, try, p, ip, ps.Token, claims, ps.SessionName, in.RoleARN, false)
}

// webIdentityResponse is the part of STS's answer the console keeps.
type webIdentityResponse struct {
	Result struct {
		Credentials stsCredentials `xml:"Credentials"`
	} `xml:"AssumeRoleWithWebIdentityResult"`
}

// stsCredentials are the Credentials of an STS answer (AssumeRole,
// AssumeRoleWithWebIdentity): a role session's keys.
type stsCredentials struct {
	AccessKeyID     string    `xml:"AccessKeyId"`
	SecretAccessKey string    `xml:"SecretAccessKey"`
	SessionToken    string    `xml:"SessionToken"`
	Expiration      time.Time `xml:"Expiration"`
}

// stsErrorResponse is the error document of an STS answer.
type stsErrorResponse struct {
	Error struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	} `xml:"Error"`
}

// sessionNameBad is compiled on first use: every postern process links
// the console.
var sessionNameBad = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`[^\w+=,.@-]+`) })

// webSessionName is the role session's name: the person's user name,
// e-mail or subject, in STS's alphabet.
func webSessionName(cl *oidcverify.Claims) string {
	name := cl.Subject
	if cl.Raw != nil {
		for _, k := range []string{"preferred_username", "email"} {
			if s, _ := cl.Raw[k].(string); s != "" {
				name = s
				break
			}
		}
	}
	name = sessionNameBad().ReplaceAllString(name, "-")
	if len(name) > 64 {
		name = name[:64]
	}
	if len(name) < 2 {
		name = "console-" + name
	}
	return name
}

// assumeFederated calls AssumeRoleWithWebIdentity (unsigned, through the
// server's handler, from the browser's address) and signs the browser in
// as the role session. redirect: answer with a redirect (the callback)
// rather than JSON (the role picker's POST).
func (c *Console) assumeFederated(w http.ResponseWriter, r *http.Request, try *attempt, p *fedProvider, ip store.OIDCProvider,
	token string, claims *oidcverify.Claims, sessionName, roleARN string, redirect bool) {
	ctx := r.Context()
	fail := func(code, msg string) {
		f := fedFailure{code: code, msg: msg, provider: ip.ARN, audience: claims.ClientID, subject: claims.Subject}
		if redirect {
			c.fedFailed(w, r, f)
			return
		}
		if err := c.recordFederated(r, nil, "", audit.FederatedConsoleLoginAttempt{Provider: f.provider, Audience: f.audience,
			Subject: f.subject, ErrorCode: code, ErrorMessage: msg}); err != nil {
			c.internal(w, r, err)
			return
		}
		writeError(w, http.StatusForbidden, code, msg)
	}
	form := url.Values{"Action": {"AssumeRoleWithWebIdentity"}, "Version": {"2011-06-15"}, "RoleArn": {roleARN},
		"RoleSessionName": {sessionName}, "WebIdentityToken": {token}}
	if d := c.roleDuration(ctx, roleARN); d > 0 {
		form.Set("DurationSeconds", strconv.Itoa(d))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+c.cfg.Host+"/", strings.NewReader(form.Encode()))
	if err != nil {
		try.forgive()
		c.internal(w, r, err)
		return
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	req.Header.Set("User-Agent", c.userAgent(r))
	resp, err := c.loop.Client(remoteAddr(r)).Do(req)
	if err != nil {
		try.forgive()
		c.internal(w, r, fmt.Errorf("console: AssumeRoleWithWebIdentity: %w", err))
		return
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxCallBody))
	if err != nil {
		try.forgive()
		c.internal(w, r, fmt.Errorf("console: read AssumeRoleWithWebIdentity answer: %w", err))
		return
	}
	if resp.StatusCode != http.StatusOK {
		var e stsErrorResponse
		if xml.Unmarshal(body, &e) != nil || e.Error.Code == "" {
			try.forgive()
			c.internal(w, r, fmt.Errorf("console: AssumeRoleWithWebIdentity: HTTP %d: %.200s", resp.StatusCode, body))
			return
		}
		fail(e.Error.Code, e.Error.Message)
		return
	}
	var ar webIdentityResponse
	if err := xml.Unmarshal(body, &ar); err != nil || ar.Result.Credentials.AccessKeyID == "" {
		try.forgive()
		c.internal(w, r, fmt.Errorf("console: AssumeRoleWithWebIdentity answer: %v", err))
		return
	}
	cr := ar.Result.Credentials
	rp, secret, err := c.cfg.Authenticator.SessionPrincipal(ctx, cr.AccessKeyID, cr.SessionToken)
	if err != nil {
		try.forgive()
		c.internal(w, r, fmt.Errorf("console: new federated session: %w", err))
		return
	}
	if err := c.recordFederated(r, rp, cr.AccessKeyID, audit.FederatedConsoleLoginAttempt{Provider: ip.ARN,
		Audience: claims.ClientID, Subject: claims.Subject}); err != nil {
		try.forgive()
		c.deleteSession(context.WithoutCancel(ctx), cr.AccessKeyID)
		c.internal(w, r, err)
		return
	}
	try.succeed()
	if old, err := c.cookieOf(r); err == nil {
		if old.Role != nil {
			c.deleteSession(context.WithoutCancel(ctx), old.Role.AccessKeyID)
		}
		c.deleteSession(context.WithoutCancel(ctx), old.User.AccessKeyID)
	}
	st := cookieState{User: credRef{AccessKeyID: cr.AccessKeyID, Token: cr.SessionToken}, Federated: true}
	if err := c.setCookie(w, st, cr.Expiration); err != nil {
		c.internal(w, r, err)
		return
	}
	if redirect {
		http.Redirect(w, r, "/console/#/endpoints", http.StatusSeeOther)
		return
	}
	writeJSON(w, http.StatusOK, c.info(&caller{state: st, user: rp, userSecret: secret, expires: cr.Expiration}))
}

// roleDuration is the role session's length: the console's session
// duration, within the role's maximum (0: STS's default).
func (c *Console) roleDuration(ctx context.Context, roleARN string) int {
	role, err := c.cfg.Store.GetRole(ctx, roleARN[strings.LastIndexByte(roleARN, '/')+1:])
	if err != nil || role.ARN != roleARN {
		return 0
	}
	d := c.cfg.Console.SessionDurationSeconds
	if m := int(role.MaxSessionDuration); m > 0 && d > m {
		d = m
	}
	if d < 900 {
		d = 900
	}
	return d
}
