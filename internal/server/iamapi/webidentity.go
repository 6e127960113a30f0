package iamapi

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/postern/postern/internal/server/api"
	"github.com/postern/postern/internal/server/audit"
	"github.com/postern/postern/internal/server/identity"
	"github.com/postern/postern/internal/server/oidcverify"
	"github.com/postern/postern/internal/server/policy"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/wire/awsid"
	"github.com/postern/postern/internal/wire/awsproto"
)

// AssumeRoleWithWebIdentity, served unsigned as AWS serves it: the caller
// proves itself with an OpenID Connect ID token. The token's issuer names
// the IAM OIDC provider (https://<provider URL>); the provider's verifier
// (package oidcverify: discovery and keys fetched over TLS trusted through
// the provider's thumbprints or the roots, signature, times, audience)
// checks it before the call's transaction (Service.Prepare), then the
// role's trust policy decides with the provider as the Federated
// principal and the condition keys AWS defines for OIDC providers
// (<url>:sub, <url>:aud, <url>:amr, <url>:azp, <url>:email), and the
// session keeps the web identity (provider, subject, audience, source
// identity, session tags) for its policies and its records.

// SourceIdentityClaim is the ID-token claim that sets the session's
// source identity (AssumeRoleWithWebIdentity has no SourceIdentity
// parameter).
const SourceIdentityClaim = "https://aws.amazon.com/source_identity"

// STS's error codes for web identity tokens.
func invalidIdentityToken(format string, args ...any) *awsproto.Error {
	return awsproto.Errorf(http.StatusBadRequest, "InvalidIdentityToken", format, args...)
}

func idpRejectedClaim(format string, args ...any) *awsproto.Error {
	return awsproto.Errorf(http.StatusForbidden, "IDPRejectedClaim", format, args...)
}

func expiredToken(format string, args ...any) *awsproto.Error {
	return awsproto.Errorf(http.StatusBadRequest, "ExpiredTokenException", format, args...)
}

func idpCommunication(format string, args ...any) *awsproto.Error {
	return awsproto.Errorf(http.StatusBadRequest, "IDPCommunicationError", format, args...)
}

// unsupportedWebIdentity lists AssumeRoleWithWebIdentity parameters
// Postern does not implement; a request with any of them is refused
// rather than served with weaker semantics than asked for.
var unsupportedWebIdentity = []struct{ param, what string }{
	{"Policy", "session policies (Policy)"},
	{"PolicyArns.member.1.arn", "session policies (PolicyArns)"},
	{"ProviderId", "OAuth 2.0 access tokens (ProviderId); send an OpenID Connect ID token"},
}

// verifiers caches one oidcverify.Verifier per provider, with the
// provider's settings it was made for: a provider whose issuer, client ids
// or thumbprints changed gets a new one (the old one's key cache is
// dropped).
type verifiers struct {
	mu sync.Mutex
	m  map[string]cachedVerifier // by provider ARN
}

type cachedVerifier struct {
	key string
	v   *oidcverify.Verifier
}

// verifier returns the verifier of provider p for tokens of issuer.
func (h *handler) verifier(p store.OIDCProvider, issuer string) (*oidcverify.Verifier, error) {
	// The creation time tells a provider deleted and created again under
	// the same URL (by any replica) from the old one: the new provider
	// gets a new verifier, never the old one's cached keys.
	key := issuer + "\x00" + strings.Join(p.ClientIDs, "\x01") + "\x00" + strings.Join(p.Thumbprints, "\x01") +
		"\x00" + strconv.FormatInt(p.CreateDate.UnixNano(), 10)
	vs := h.verifiers
	vs.mu.Lock()
	defer vs.mu.Unlock()
	if c, ok := vs.m[p.ARN]; ok {
		if c.key == key {
			return c.v, nil
		}
		c.v.Close()
		delete(vs.m, p.ARN)
	}
	v, err := oidcverify.New(oidcverify.Config{IssuerURL: issuer, ClientIDs: p.ClientIDs, Thumbprints: p.Thumbprints,
		RootCAs: h.cfg.OIDCRootCAs, Logger: h.cfg.Logger, Now: h.cfg.Now})
	if err != nil {
		return nil, err
	}
	if len(vs.m) >= 2*maxOIDCProviders { // deleted providers' verifiers
		for _, c := range vs.m {
			c.v.Close()
		}
		clear(vs.m)
	}
	vs.m[p.ARN] = cachedVerifier{key: key, v: v}
	return v, nil
}

// webIdentityRequest is a checked AssumeRoleWithWebIdentity request.
type webIdentityRequest struct {
	roleARN, sessionName, sourceIdentity string
	dur                                  int64
	durSet                               bool
	provider                             store.OIDCProvider
	claims                               *oidcverify.Claims
}

// unverifiedClaims are the claims read from a token before its signature
// is checked: only to find its provider and to explain a refusal.
type unverifiedClaims struct {
	Issuer string          `json:"iss"`
	Aud    json.RawMessage `json:"aud"`
	Azp    string          `json:"azp"`
}

// audiences returns aud as a list (it may be a string or an array).
func (u unverifiedClaims) audiences() []string {
	var one string
	if json.Unmarshal(u.Aud, &one) == nil {
		return []string{one}
	}
	var many []string
	_ = json.Unmarshal(u.Aud, &many) // not a list: none
	return many
}

// peekClaims decodes a compact JWS's payload without verifying it.
func peekClaims(token string) (unverifiedClaims, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return unverifiedClaims{}, false
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return unverifiedClaims{}, false
	}
	var u unverifiedClaims
	if json.Unmarshal(b, &u) != nil {
		return unverifiedClaims{}, false
	}
	return u, true
}

// prepareWebIdentity checks the request's parameters, finds the token's
// provider and verifies the token, before the call's transaction (it may
// fetch the provider's keys). Once the token verified, the call's record
// names the web identity user.
func (h *handler) prepareWebIdentity(c *api.Call) (any, error) {
	var r webIdentityRequest
	var err error
	if r.roleARN, err = required(c.Params, "RoleArn"); err != nil {
		return nil, err
	}
	if len(r.roleARN) < 20 || len(r.roleARN) > 2048 {
		return nil, validation("1 validation error detected: Value '%s' at 'roleArn' failed to satisfy constraint: Member must have length between 20 and 2048", r.roleARN)
	}
	if r.sessionName, err = required(c.Params, "RoleSessionName"); err != nil {
		return nil, err
	}
	if !sessionNameRe().MatchString(r.sessionName) {
		return nil, validation(`1 validation error detected: Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]* and have length between 2 and 64`, r.sessionName)
	}
	token, err := required(c.Params, "WebIdentityToken")
	if err != nil {
		return nil, err
	}
	if len(token) < 4 || len(token) > oidcverify.MaxTokenBytes {
		return nil, validation("1 validation error detected: Value at 'webIdentityToken' failed to satisfy constraint: Member must have length between 4 and %d", oidcverify.MaxTokenBytes)
	}
	for _, u := range unsupportedWebIdentity {
		if c.Params.Get(u.param) != "" {
			return nil, validation("Postern does not support %s in AssumeRoleWithWebIdentity; send the request without it.", u.what)
		}
	}
	if r.dur, r.durSet, err = durationParam(c.Params); err != nil {
		return nil, err
	}

	peek, ok := peekClaims(token)
	if !ok || peek.Issuer == "" {
		return nil, invalidIdentityToken("The ID token provided is not a valid JWT with an iss claim.")
	}
	iu, err := url.Parse(peek.Issuer)
	if err != nil || iu.Scheme != "https" || iu.Host == "" || iu.User != nil || iu.RawQuery != "" || iu.Fragment != "" {
		return nil, invalidIdentityToken("No OpenIDConnect provider found in your account for %s", peek.Issuer)
	}
	arn := h.providerARN(providerKey(iu))
	r.provider, err = h.cfg.Store.GetOIDCProvider(c.Ctx, arn)
	if errors.Is(err, store.ErrNotFound) {
		return nil, invalidIdentityToken("No OpenIDConnect provider found in your account for %s", peek.Issuer)
	}
	if err != nil {
		return nil, wrap(err, "get OIDC provider %s", arn)
	}
	if len(r.provider.ClientIDs) == 0 {
		return nil, invalidIdentityToken("Incorrect token audience")
	}
	v, err := h.verifier(r.provider, peek.Issuer)
	if err != nil {
		return nil, wrap(err, "verifier of %s", arn)
	}
	r.claims, err = v.Verify(c.Ctx, token)
	if err != nil {
		return nil, h.tokenError(c, r.provider, peek, err)
	}
	c.RecordAs(audit.WebIdentityUser(r.provider.ARN, r.claims.ClientID, r.claims.Subject))
	if v, ok := r.claims.Raw[SourceIdentityClaim]; ok {
		si, _ := v.(string)
		if !sessionNameRe().MatchString(si) || strings.HasPrefix(strings.ToLower(si), "aws:") {
			return nil, invalidIdentityToken("The %s claim must be 2 to 64 of the characters [\\w+=,.@-] and must not start with aws:.", SourceIdentityClaim)
		}
		r.sourceIdentity = si
	}
	return &r, nil
}

// tokenError maps a verification failure to AWS's answer, as AWS gives
// it: an untrusted certificate and a wrong audience are
// InvalidIdentityToken, keys that cannot be fetched IDPCommunicationError.
func (h *handler) tokenError(c *api.Call, p store.OIDCProvider, peek unverifiedClaims, err error) error {
	c.Logger.LogAttrs(c.Ctx, slog.LevelInfo, "web identity token refused", slog.String("provider", p.ARN), slog.Any("error", err))
	detail := func(sentinel error) string {
		var re *oidcverify.Error
		if errors.As(err, &re) && errors.Is(re.Kind, sentinel) {
			return re.Detail
		}
		return err.Error()
	}
	switch {
	case errors.Is(err, oidcverify.ErrUntrustedCertificate):
		return invalidIdentityToken("OpenIDConnect provider's HTTPS certificate doesn't match configured thumbprint")
	case errors.Is(err, oidcverify.ErrCommunication):
		return idpCommunication("Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements")
	case errors.Is(err, oidcverify.ErrExpired):
		return expiredToken("%s", detail(oidcverify.ErrExpired))
	case errors.Is(err, oidcverify.ErrRejectedClaim):
		auds := append(peek.audiences(), peek.Azp)
		if !slices.ContainsFunc(auds, func(a string) bool { return a != "" && slices.Contains(p.ClientIDs, a) }) {
			return invalidIdentityToken("Incorrect token audience")
		}
		return idpRejectedClaim("%s", detail(oidcverify.ErrRejectedClaim))
	case errors.Is(err, oidcverify.ErrInvalidToken):
		return invalidIdentityToken("%s", detail(oidcverify.ErrInvalidToken))
	}
	return fmt.Errorf("iamapi: verify web identity token: %w", err)
}

// webIdentityContext returns the condition keys of the trust decision:
// the request's global keys, the provider's OIDC keys, the session name
// and source identity, and the token's session tags as request tags.
func (h *handler) webIdentityContext(c *api.Call, r *webIdentityRequest) policy.Context {
	ctx := identity.GlobalContext(nil, c.Info, h.cfg.Now())
	cl, u := r.claims, r.provider.URL
	ctx.Set(u+":sub", cl.Subject)
	ctx.Set(u+":aud", cl.ClientID)
	if oaud := slices.DeleteFunc(slices.Clone(cl.Audience), func(a string) bool { return a == cl.ClientID }); len(oaud) > 0 {
		ctx.Set(u+":oaud", oaud...)
	}
	if len(cl.AMR) > 0 {
		ctx.Set(u+":amr", cl.AMR...)
	}
	if cl.AuthorizedParty != "" {
		ctx.Set(u+":azp", cl.AuthorizedParty)
	}
	if cl.Email != "" {
		ctx.Set(u+":email", cl.Email)
	}
	ctx.Set("aws:FederatedProvider", r.provider.ARN)
	ctx.Set("sts:RoleSessionName", r.sessionName)
	if r.sourceIdentity != "" {
		ctx.Set("sts:SourceIdentity", r.sourceIdentity)
	}
	if len(cl.PrincipalTags) > 0 {
		keys := make([]string, 0, len(cl.PrincipalTags))
		for k, v := range cl.PrincipalTags {
			ctx.Set("aws:RequestTag/"+k, v)
			keys = append(keys, k)
		}
		slices.Sort(keys)
		ctx.Set("aws:TagKeys", keys...)
		if len(cl.TransitiveTagKeys) > 0 {
			ctx.Set("sts:TransitiveTagKeys", cl.TransitiveTagKeys...)
		}
	}
	return ctx
}

// sessionTags returns the token's session tags in key order.
func sessionTags(cl *oidcverify.Claims) []store.Tag {
	var tags []store.Tag
	for k, v := range cl.PrincipalTags {
		tags = append(tags, store.Tag{Key: k, Value: v})
	}
	slices.SortFunc(tags, func(a, b store.Tag) int { return strings.Compare(a.Key, b.Key) })
	return tags
}

// assumeRoleWithWebIdentity is AssumeRoleWithWebIdentity: RoleArn,
// RoleSessionName, WebIdentityToken (verified by prepareWebIdentity),
// DurationSeconds; the source identity comes from the token's
// SourceIdentityClaim.
//
// The role's trust policy must allow sts:AssumeRoleWithWebIdentity to
// the provider as the Federated principal (and sts:TagSession when the
// token carries session tags, sts:SetSourceIdentity when the token
// carries one), with no explicit deny; AWS answers any refusal "Not
// authorized to perform sts:AssumeRoleWithWebIdentity" whether or not the
// role exists. The role is read, its trust evaluated and the session
// written in one transaction.
func (h *handler) assumeRoleWithWebIdentity(c *api.Call) (any, error) {
	r, ok := c.Prepared.(*webIdentityRequest)
	if !ok {
		return nil, errors.New("iamapi: AssumeRoleWithWebIdentity without its prepared request")
	}
	denied := accessDenied("Not authorized to perform sts:AssumeRoleWithWebIdentity")
	m := roleARNRe().FindStringSubmatch(r.roleARN)
	if m == nil {
		return nil, validation("%s is not a valid role ARN.", r.roleARN)
	}
	if m[1] != h.cfg.AccountID {
		return nil, denied
	}
	roleName := m[2]
	ctx := h.webIdentityContext(c, r)
	actions := []string{"sts:AssumeRoleWithWebIdentity"}
	if len(r.claims.PrincipalTags) > 0 {
		actions = append(actions, "sts:TagSession")
	}
	if r.sourceIdentity != "" {
		actions = append(actions, "sts:SetSourceIdentity")
	}
	akid := awsid.AccessKeyID(awsid.PrefixTempAccessKey)
	secret := awsid.SecretAccessKey()
	token := awsid.SessionToken()
	sealed, err := h.cfg.Sealer.Seal([]byte(secret), []byte(akid))
	if err != nil {
		return nil, fmt.Errorf("iamapi: seal session secret: %w", err)
	}
	fed := store.WebIdentity{Provider: r.provider.ARN, Subject: r.claims.Subject, Audience: r.claims.ClientID,
		SourceIdentity: r.sourceIdentity, Tags: sessionTags(r.claims)}
	var s store.Session
	err = h.cfg.Store.InTx(c.Ctx, func(tx store.Repo) error {
		role, src, err := h.roleTrust(c, tx, roleName, r.roleARN, denied)
		if err != nil {
			return err
		}
		for _, a := range actions {
			req := policy.Request{Action: a, Resource: role.ARN, Context: ctx, Principal: &policy.Principal{Federated: r.provider.ARN}}
			if dec := policy.Evaluate(src, req); !dec.Allowed {
				c.Logger.LogAttrs(c.Ctx, slog.LevelInfo, "access denied", slog.String("principal", r.provider.ARN+":"+r.claims.Subject),
					slog.String("action", a), slog.String("resource", role.ARN), slog.String("decision", dec.String()))
				return denied
			}
		}
		dur := r.dur
		limit := int64(h.cfg.MaxSessionDuration / time.Second)
		if !r.durSet && dur > limit {
			dur = max(limit, minSessionSeconds)
		}
		switch {
		case dur > int64(role.MaxSessionDuration):
			return validation("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
		case dur > limit:
			return validation("The requested DurationSeconds exceeds the maximum session duration of %d seconds set for this server.", limit)
		}
		now := h.now()
		s = store.Session{AccessKeyID: akid, SecretSealed: sealed, SessionTokenHash: identity.HashToken(token),
			RoleName: role.RoleName, RoleARN: role.ARN, RoleID: role.RoleID, SessionName: r.sessionName,
			SourceIP: c.Info.SourceIP, Expiration: now.Add(time.Duration(dur) * time.Second), CreateDate: now,
			AuthTime: now, Federation: fed}
		return tx.CreateSession(c.Ctx, s)
	})
	if err != nil {
		return nil, wrap(err, "assume role %s with web identity", r.roleARN)
	}
	assumedARN := identity.AssumedRoleARN(h.cfg.AccountID, s.RoleName, r.sessionName)
	c.Logger.LogAttrs(c.Ctx, slog.LevelInfo, "role assumed with web identity", slog.String("role", s.RoleARN),
		slog.String("session", assumedARN), slog.String("access_key_id", akid), slog.String("provider", fed.Provider),
		slog.String("subject", fed.Subject), slog.Time("expiration", s.Expiration))
	return struct {
		Credentials                 xmlCredentials     `xml:"Credentials"`
		SubjectFromWebIdentityToken string             `xml:"SubjectFromWebIdentityToken"`
		AssumedRoleUser             xmlAssumedRoleUser `xml:"AssumedRoleUser"`
		Provider                    string             `xml:"Provider"`
		Audience                    string             `xml:"Audience"`
		SourceIdentity              string             `xml:"SourceIdentity,omitempty"`
	}{
		xmlCredentials{akid, secret, token, ts(s.Expiration)},
		fed.Subject,
		xmlAssumedRoleUser{assumedARN, s.RoleID + ":" + r.sessionName},
		fed.Provider, fed.Audience, fed.SourceIdentity,
	}, nil
}
