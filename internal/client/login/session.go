package login

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

// ErrLoginRequired: the cached sign-in is missing, expired, or cannot be
// renewed without the person; `postern login` must run.
var ErrLoginRequired = errors.New("sign-in required")

// ErrNoRole: no role to assume was named.
var ErrNoRole = errors.New("no role to sign in to: give --role-arn, or set postern_role_arn in the profile")

// DefaultRefreshWindow: cached credentials with less than this left are
// renewed before they are handed out.
const DefaultRefreshWindow = 5 * time.Minute

// Session is one profile's sign-in: its provider, its roles, its STS
// client and its cache entry.
type Session struct {
	// Profile names the cache entry.
	Profile  string
	Cache    Cache
	Provider ProviderConfig
	// STS is the client AssumeRoleWithWebIdentity goes through: the
	// Postern server's endpoint. The call is unsigned (the SDK sends it
	// without credentials), so the client needs none.
	STS *sts.Client
	// Roles are the role ARNs the profile offers (postern_role_arn).
	Roles []string
	// DurationSeconds asks for a session length (0: the role's default).
	DurationSeconds int32
	// RefreshWindow defaults to DefaultRefreshWindow.
	RefreshWindow time.Duration
	// Now defaults to time.Now.
	Now func() time.Time
	// RenewFailed, when set, is told why a renewal failed when
	// Credentials hands out the cached credentials still valid instead.
	RenewFailed func(error)
}

// Method is how the person signs in.
type Method int

const (
	// Browser: the authorization-code flow with PKCE in a browser.
	Browser Method = iota
	// Device: the device-authorization flow (--no-browser).
	Device
)

// LoginOptions are the person's choices for Login.
type LoginOptions struct {
	Method Method
	// RoleARN, when set, is the role to assume (else the profile's only
	// role, or Choose's pick among them).
	RoleARN string
	// Out receives the messages the person reads (the URL, the code).
	Out io.Writer
	// Open opens the browser (Browser method); nil only prints the URL.
	Open Opener
	// Choose picks one of several roles.
	Choose func(roles []string) (string, error)
}

func (s *Session) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Session) window() time.Duration {
	if s.RefreshWindow > 0 {
		return s.RefreshWindow
	}
	return DefaultRefreshWindow
}

// Login signs the person in, assumes the role and caches the result. The
// cache is written only after AssumeRoleWithWebIdentity succeeded.
func (s *Session) Login(ctx context.Context, o LoginOptions) (Entry, error) {
	role, err := s.pickRole(o)
	if err != nil {
		return Entry{}, err
	}
	out := o.Out
	if out == nil {
		out = io.Discard
	}
	p, err := Discover(ctx, s.Provider)
	if err != nil {
		return Entry{}, err
	}
	var tok Tokens
	switch o.Method {
	case Device:
		tok, err = p.DeviceSignIn(ctx, out)
	default:
		tok, err = p.BrowserSignIn(ctx, out, o.Open)
	}
	if err != nil {
		return Entry{}, err
	}
	return s.assumeAndSave(ctx, tok, role)
}

func (s *Session) pickRole(o LoginOptions) (string, error) {
	switch {
	case o.RoleARN != "":
		return o.RoleARN, nil
	case len(s.Roles) == 1:
		return s.Roles[0], nil
	case len(s.Roles) > 1 && o.Choose != nil:
		return o.Choose(s.Roles)
	case len(s.Roles) > 1:
		return "", fmt.Errorf("the profile offers %d roles: pick one with --role-arn", len(s.Roles))
	}
	return "", ErrNoRole
}

// Credentials returns the profile's credentials without the person: from
// the cache while more than the refresh window is left, else renewed
// with the provider's refresh token (a new ID token, a new role session,
// the cache rewritten). It never opens a browser: when the sign-in
// cannot be renewed it returns an error wrapping ErrLoginRequired
// (cached credentials that are still valid are returned instead, for the
// time they have left).
func (s *Session) Credentials(ctx context.Context) (Entry, error) {
	e, err := s.Cache.Load(s.Profile)
	if err != nil {
		if errors.Is(err, ErrNotCached) {
			return Entry{}, fmt.Errorf("%w: not signed in", ErrLoginRequired)
		}
		return Entry{}, err
	}
	if e.Issuer != s.Provider.Issuer || e.ClientID != s.Provider.ClientID {
		return Entry{}, fmt.Errorf("%w: the cached sign-in is for %s, the profile now names %s", ErrLoginRequired, e.Issuer, s.Provider.Issuer)
	}
	now := s.now()
	if e.Expiration.Sub(now) > s.window() {
		return e, nil
	}
	if e.RefreshToken == "" {
		if e.Expiration.After(now) {
			return e, nil
		}
		return Entry{}, fmt.Errorf("%w: the session expired at %s and the identity provider gave no refresh token", ErrLoginRequired, e.Expiration.Format(time.RFC3339))
	}
	renewed, rerr := s.renew(ctx, e)
	if rerr == nil {
		return renewed, nil
	}
	if e.Expiration.After(now) {
		if s.RenewFailed != nil {
			s.RenewFailed(rerr)
		}
		return e, nil
	}
	return Entry{}, fmt.Errorf("%w: the session expired and could not be renewed: %v", ErrLoginRequired, rerr)
}

// renew refreshes e under the profile's lock: a program that renewed it
// meanwhile left its result in the cache, which is then taken as is.
func (s *Session) renew(ctx context.Context, e Entry) (Entry, error) {
	unlock, err := s.Cache.Lock(ctx, s.Profile)
	if err != nil {
		return Entry{}, err
	}
	defer unlock()
	if cur, err := s.Cache.Load(s.Profile); err == nil && cur.Issuer == e.Issuer && cur.ClientID == e.ClientID {
		if cur.Expiration.Sub(s.now()) > s.window() {
			return cur, nil
		}
		e = cur
	}
	return s.refresh(ctx, e)
}

func (s *Session) refresh(ctx context.Context, e Entry) (Entry, error) {
	if e.RefreshToken == "" {
		return Entry{}, fmt.Errorf("%w: the identity provider gave no refresh token", ErrLoginRequired)
	}
	p, err := Discover(ctx, s.Provider)
	if err != nil {
		return Entry{}, err
	}
	tok, err := p.Refresh(ctx, e.RefreshToken)
	if err != nil {
		return Entry{}, err
	}
	if e.Subject != "" && tok.Subject != e.Subject {
		// OpenID Connect Core 12.2: a refreshed ID token names the same
		// person.
		return Entry{}, fmt.Errorf("the refreshed ID token names %q, the sign-in %q", tok.Subject, e.Subject)
	}
	return s.assumeAndSave(ctx, tok, e.RoleARN)
}

// Logout forgets the profile's cached sign-in, after asking the provider
// to revoke its refresh token when it can (best effort: the entry goes
// whatever the provider says). It reports whether there was one.
func (s *Session) Logout(ctx context.Context) (bool, error) {
	e, err := s.Cache.Load(s.Profile)
	if err == nil && e.RefreshToken != "" && s.Provider.Issuer != "" {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if p, derr := Discover(rctx, s.Provider); derr == nil {
			_, _ = p.Revoke(rctx, e.RefreshToken)
		}
		cancel()
	}
	return s.Cache.Remove(s.Profile)
}

func (s *Session) assumeAndSave(ctx context.Context, tok Tokens, role string) (Entry, error) {
	if s.STS == nil {
		return Entry{}, errors.New("no STS endpoint for the profile")
	}
	in := &sts.AssumeRoleWithWebIdentityInput{
		RoleArn:          aws.String(role),
		RoleSessionName:  aws.String(SessionName(tok)),
		WebIdentityToken: aws.String(tok.IDToken),
	}
	if s.DurationSeconds > 0 {
		in.DurationSeconds = aws.Int32(s.DurationSeconds)
	}
	out, err := s.STS.AssumeRoleWithWebIdentity(ctx, in, func(o *sts.Options) {
		o.Credentials = aws.AnonymousCredentials{}
	})
	if err != nil {
		return Entry{}, &RoleError{Role: role, Err: err}
	}
	c := out.Credentials
	if c == nil || c.AccessKeyId == nil || c.SecretAccessKey == nil || c.SessionToken == nil || c.Expiration == nil {
		return Entry{}, fmt.Errorf("assume the role %s: the answer holds no credentials", role)
	}
	e := Entry{
		Issuer:          s.Provider.Issuer,
		ClientID:        s.Provider.ClientID,
		RoleARN:         role,
		Subject:         tok.Subject,
		AccessKeyID:     *c.AccessKeyId,
		SecretAccessKey: *c.SecretAccessKey,
		SessionToken:    *c.SessionToken,
		Expiration:      c.Expiration.UTC(),
		RefreshToken:    tok.RefreshToken,
	}
	if err := s.Cache.Save(s.Profile, e); err != nil {
		return Entry{}, err
	}
	return e, nil
}

// RoleError is a refused AssumeRoleWithWebIdentity.
type RoleError struct {
	Role string
	Err  error
}

func (e *RoleError) Error() string {
	var ae smithy.APIError
	if errors.As(e.Err, &ae) {
		return fmt.Sprintf("assume the role %s: %s: %s", e.Role, ae.ErrorCode(), ae.ErrorMessage())
	}
	return fmt.Sprintf("assume the role %s: %v", e.Role, e.Err)
}

func (e *RoleError) Unwrap() error { return e.Err }

var sessionNameBad = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`[^\w+=,.@-]`) })

// SessionName is the role session name for a sign-in: the person's user
// name, else e-mail, else subject, in the characters and length STS
// accepts (2 to 64 of [\w+=,.@-]).
func SessionName(t Tokens) string {
	name := t.Username
	if name == "" {
		name = t.Email
	}
	if name == "" {
		name = t.Subject
	}
	name = sessionNameBad().ReplaceAllString(name, "-")
	if len(name) > 64 {
		name = name[:64]
	}
	if len(name) < 2 {
		name = "postern-login"
	}
	return name
}
