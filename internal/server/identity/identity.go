// Package identity answers two questions about every signed request: who
// is calling (authentication: SigV4 against the store's access keys and
// role sessions) and what they may do (authorization: the policies that
// apply to that principal, evaluated by package policy).
//
// It sits between the pure packages (sigv4, policy) and the store; it knows
// nothing of HTTP response formats or AWS error codes, which the API edge
// adds.
package identity

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/postern/postern/internal/server/sealer"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/wire/sigv4"
)

// Principal types, as CloudTrail's userIdentity.type names them.
const (
	TypeIAMUser     = "IAMUser"
	TypeAssumedRole = "AssumedRole"
)

// Principal is an authenticated caller.
type Principal struct {
	Type        string // TypeIAMUser or TypeAssumedRole
	AccountID   string
	ARN         string // user ARN, or arn:aws:sts::<acct>:assumed-role/<role>/<session>
	PrincipalID string // AIDA… for users, AROA…:<session> for role sessions
	UserName    string // the user's name; for a role session, the role name
	AccessKeyID string
	// Policies names the identity whose policies apply (the user, or the
	// role of a session).
	Policies store.PrincipalRef
	// PoliciesID is the unique id (AIDA…, AROA…) of the identity Policies
	// names, as authentication found it. Authorizer.Authorize applies the
	// policies of that identity only: once it is deleted, a new identity
	// of the same name lends it nothing (ErrPrincipalGone). Empty for
	// principals that no credential stands behind (policy simulation).
	PoliciesID string
	// Role session details (TypeAssumedRole only).
	RoleARN     string
	RoleID      string
	SessionName string
	// SessionIssued and SessionExpires bound the temporary credential of
	// a role session or of a user's console session; zero for long-term
	// access keys.
	SessionIssued  time.Time
	SessionExpires time.Time
	// MFAAuthenticated says the session's identity proved an MFA code
	// (a console sign-in with MFA, or a role assumed from such a session).
	MFAAuthenticated bool
	// AuthTime is when that identity authenticated; zero when unknown.
	AuthTime time.Time
	// WebIdentity is the federated identity a role session was issued to
	// by AssumeRoleWithWebIdentity (its provider, subject, audience,
	// source identity and session tags); nil for other principals.
	WebIdentity *store.WebIdentity
}

// Temporary reports whether the principal authenticated with temporary
// credentials (an ASIA… session: a role session or a user's console
// session) rather than a long-term access key.
func (p *Principal) Temporary() bool {
	return p.Type == TypeAssumedRole || !p.SessionIssued.IsZero()
}

// AssumedRoleARN returns the ARN of a role session.
func AssumedRoleARN(accountID, roleName, sessionName string) string {
	return fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/%s", accountID, roleName, sessionName)
}

// webIdentity returns a session's federated identity, or nil when the
// session is not federated.
func webIdentity(w store.WebIdentity) *store.WebIdentity {
	if w.Provider == "" {
		return nil
	}
	return &w
}

// HashToken returns the digest under which a session token is stored.
func HashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// Authenticator verifies SigV4 signatures against the store.
type Authenticator struct {
	store     store.Repo
	sealer    *sealer.Sealer
	accountID string
	now       func() time.Time
	verifier  *sigv4.Verifier
	// changes, when the store offers it, lets lookups reuse an access
	// key's opened secret and its user while nothing was written (see
	// store.ChangeCounter); nil disables the cache. It is nil on a
	// store shared by replicas (store.Replicated).
	changes store.ChangeCounter

	mu   sync.Mutex // guards keys
	keys map[string]*cachedKey
}

// cachedKey is an active access key, its opened secret and its user, as
// read while the store's change count was gen. It lives in memory only.
// An entry is never changed once cached (a newer read replaces it), so
// requests share it by pointer rather than copying the key and user.
type cachedKey struct {
	gen    uint64
	key    store.AccessKey
	secret string
	user   store.User
}

// maxCachedKeys bounds the access-key cache; when full it is emptied.
const maxCachedKeys = 4096

// AuthConfig configures an Authenticator.
type AuthConfig struct {
	Store     store.Repo
	Sealer    *sealer.Sealer
	AccountID string
	Region    string
	// Now defaults to time.Now.
	Now func() time.Time
}

// NewAuthenticator returns an Authenticator.
func NewAuthenticator(cfg AuthConfig) (*Authenticator, error) {
	if cfg.Store == nil || cfg.Sealer == nil || cfg.AccountID == "" || cfg.Region == "" {
		return nil, errors.New("identity: AuthConfig needs Store, Sealer, AccountID and Region")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	a := &Authenticator{store: cfg.Store, sealer: cfg.Sealer, accountID: cfg.AccountID, now: cfg.Now, keys: make(map[string]*cachedKey)}
	// A key revoked on another replica must be refused here on the very
	// next request: on a store shared by replicas nothing is cached.
	a.changes = store.CacheCounter(cfg.Store, store.NextRead)
	// IAM and STS are global services that clients sign for us-east-1
	// whatever their region; accept both.
	regions := []string{cfg.Region}
	if cfg.Region != "us-east-1" {
		regions = append(regions, "us-east-1")
	}
	a.verifier = &sigv4.Verifier{Lookup: a.lookup, Now: cfg.Now, Regions: regions}
	return a, nil
}

// Regions returns the regions whose signatures Authenticate accepts, the
// server's own region first.
func (a *Authenticator) Regions() []string { return slices.Clone(a.verifier.Regions) }

// holder carries the record that the lookup found back to Authenticate, so
// the store is read once per request.
type holder struct {
	key     *store.AccessKey
	session *store.Session
	// For an access key: its user when the cache supplied it; otherwise
	// the opened secret and the change count read before the key, so
	// that principal can cache what it found.
	user   *store.User
	secret string
	gen    uint64
	cache  bool
}

type holderKey struct{}

// Authenticate verifies r (header-signed with body, or presigned) and
// returns the principal. Errors are *sigv4.Error for signature problems,
// or wrapped store errors.
func (a *Authenticator) Authenticate(ctx context.Context, r *http.Request, body []byte) (*Principal, *sigv4.Result, error) {
	return a.AuthenticateQuery(ctx, r, body, nil)
}

// AuthenticateQuery is Authenticate for a caller that has parsed r's
// query already (q: what r.URL.Query() returns; nil: parsed here), so
// that a presigned URL's query is parsed once (sigv4.VerifyQuery).
func (a *Authenticator) AuthenticateQuery(ctx context.Context, r *http.Request, body []byte, q url.Values) (*Principal, *sigv4.Result, error) {
	h := &holder{}
	res, err := a.verifier.VerifyQuery(context.WithValue(ctx, holderKey{}, h), r, body, q)
	if err != nil {
		return nil, nil, err
	}
	p, err := a.principal(ctx, h)
	if err != nil {
		return nil, nil, err
	}
	return p, res, nil
}

func (a *Authenticator) lookup(ctx context.Context, akid, token string) (sigv4.Credential, error) {
	h, _ := ctx.Value(holderKey{}).(*holder)
	if h == nil {
		h = &holder{}
	}
	switch {
	case strings.HasPrefix(akid, "ASIA"):
		s, secret, err := a.session(ctx, akid, token)
		if err != nil {
			return sigv4.Credential{}, err
		}
		h.session = &s
		return sigv4.Credential{SecretAccessKey: secret}, nil
	default:
		var gen uint64
		if a.changes != nil {
			// The count is read before the key: a write that commits
			// during the reads below makes the next request read again,
			// and a write (a key deactivated or deleted, its user
			// deleted) is seen by the first request after its commit.
			// A request with a token takes the store's path, which
			// refuses it.
			gen = a.changes.Changes()
			a.mu.Lock()
			c, ok := a.keys[akid]
			if ok && c.gen != gen {
				// Stale: the secret does not outlive a write in memory.
				delete(a.keys, akid)
			}
			a.mu.Unlock()
			if ok && c.gen == gen && token == "" {
				h.key, h.user = &c.key, &c.user
				return sigv4.Credential{SecretAccessKey: c.secret}, nil
			}
		}
		k, err := a.store.GetAccessKey(ctx, akid)
		if errors.Is(err, store.ErrNotFound) {
			return sigv4.Credential{}, errInvalidKey()
		}
		if err != nil {
			return sigv4.Credential{}, fmt.Errorf("identity: look up access key: %w", err)
		}
		if k.Status != store.KeyActive {
			return sigv4.Credential{}, errInvalidKey()
		}
		if token != "" {
			// A long-term key never carries a session token.
			return sigv4.Credential{}, &sigv4.Error{Reason: sigv4.ReasonInvalidToken, Message: "The security token included in the request is invalid."}
		}
		secret, err := a.sealer.Open(k.SecretSealed, []byte(akid))
		if err != nil {
			return sigv4.Credential{}, fmt.Errorf("identity: open access key secret: %w", err)
		}
		h.key = &k
		if a.changes != nil {
			h.secret, h.gen, h.cache = string(secret), gen, true
		}
		return sigv4.Credential{SecretAccessKey: string(secret)}, nil
	}
}

// session finds the session akid, checks its token in constant time and
// its expiry, and opens its secret. Unknown ids, wrong tokens and expired
// sessions are *sigv4.Errors.
func (a *Authenticator) session(ctx context.Context, akid, token string) (store.Session, string, error) {
	s, err := a.store.GetSession(ctx, akid)
	if errors.Is(err, store.ErrNotFound) {
		return store.Session{}, "", &sigv4.Error{Reason: sigv4.ReasonUnknownKey, Message: "The security token included in the request is invalid."}
	}
	if err != nil {
		return store.Session{}, "", fmt.Errorf("identity: look up session: %w", err)
	}
	if token == "" || subtle.ConstantTimeCompare(HashToken(token), s.SessionTokenHash) != 1 {
		return store.Session{}, "", &sigv4.Error{Reason: sigv4.ReasonInvalidToken, Message: "The security token included in the request is invalid."}
	}
	if !a.now().Before(s.Expiration) {
		return store.Session{}, "", &sigv4.Error{Reason: sigv4.ReasonExpiredToken, Message: "The security token included in the request is expired"}
	}
	secret, err := a.sealer.Open(s.SecretSealed, []byte(akid))
	if err != nil {
		return store.Session{}, "", fmt.Errorf("identity: open session secret: %w", err)
	}
	return s, string(secret), nil
}

// SessionPrincipal resolves a session credential (an ASIA… id and its
// token) without a request signature, for a caller that holds the
// credential itself (the console, which keeps it server-side behind a
// cookie): the token is checked in constant time, the session must not
// have expired, and the identity it belongs to must still exist. It
// returns the principal and the session's secret access key. Errors are
// *sigv4.Errors (unknown, invalid, expired or orphaned credential) or
// wrapped store errors.
func (a *Authenticator) SessionPrincipal(ctx context.Context, akid, token string) (*Principal, string, error) {
	if !strings.HasPrefix(akid, "ASIA") {
		return nil, "", &sigv4.Error{Reason: sigv4.ReasonUnknownKey, Message: "The security token included in the request is invalid."}
	}
	s, secret, err := a.session(ctx, akid, token)
	if err != nil {
		return nil, "", err
	}
	p, err := a.principal(ctx, &holder{session: &s})
	if err != nil {
		return nil, "", err
	}
	return p, secret, nil
}

// errInvalidKey is the refusal of an unknown or inactive access key; and
// errGone, of a credential whose identity no longer exists. Both are
// built only when returned (a refusal is rare; a request that passes
// should allocate nothing for them).
func errInvalidKey() error {
	return &sigv4.Error{Reason: sigv4.ReasonUnknownKey, Message: "The security token included in the request is invalid."}
}

func errGone() error {
	return &sigv4.Error{Reason: sigv4.ReasonInvalidToken, Message: "The security token included in the request is invalid."}
}

// principal builds the caller from the verified credential. A credential
// belongs to one identity, found by its unique id: an access key to its
// user (AIDA…), a role session to its role (AROA…). When that identity is
// gone the credential is invalid, even if an identity of the same name
// was created since (AWS answers InvalidClientTokenId).
func (a *Authenticator) principal(ctx context.Context, h *holder) (*Principal, error) {
	switch {
	case h.key != nil && h.user != nil:
		return a.userPrincipal(h.user, h.key.AccessKeyID), nil
	case h.key != nil:
		u, err := a.store.GetUserByID(ctx, h.key.UserID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, errGone()
		}
		if err != nil {
			return nil, fmt.Errorf("identity: user of access key %s: %w", h.key.AccessKeyID, err)
		}
		if h.cache {
			a.mu.Lock()
			if len(a.keys) >= maxCachedKeys {
				clear(a.keys)
			}
			a.keys[h.key.AccessKeyID] = &cachedKey{gen: h.gen, key: *h.key, secret: h.secret, user: u}
			a.mu.Unlock()
		}
		return a.userPrincipal(&u, h.key.AccessKeyID), nil
	case h.session != nil && h.session.UserID != "":
		s := h.session
		u, err := a.store.GetUserByID(ctx, s.UserID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, errGone()
		}
		if err != nil {
			return nil, fmt.Errorf("identity: user of session %s: %w", s.AccessKeyID, err)
		}
		p := a.userPrincipal(&u, s.AccessKeyID)
		p.SessionIssued, p.SessionExpires = s.CreateDate, s.Expiration
		p.MFAAuthenticated, p.AuthTime = s.MFAAuthenticated, s.AuthTime
		return p, nil
	case h.session != nil:
		s := h.session
		role, err := a.store.GetRoleByID(ctx, s.RoleID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, errGone()
		}
		if err != nil {
			return nil, fmt.Errorf("identity: role of session %s: %w", s.AccessKeyID, err)
		}
		return &Principal{
			Type: TypeAssumedRole, AccountID: a.accountID,
			ARN:         AssumedRoleARN(a.accountID, role.RoleName, s.SessionName),
			PrincipalID: role.RoleID + ":" + s.SessionName, UserName: role.RoleName,
			AccessKeyID: s.AccessKeyID,
			Policies:    store.PrincipalRef{Kind: store.KindRole, Name: role.RoleName},
			PoliciesID:  role.RoleID,
			RoleARN:     role.ARN, RoleID: role.RoleID, SessionName: s.SessionName,
			SessionIssued: s.CreateDate, SessionExpires: s.Expiration,
			MFAAuthenticated: s.MFAAuthenticated, AuthTime: s.AuthTime,
			WebIdentity: webIdentity(s.Federation),
		}, nil
	}
	return nil, errors.New("identity: verified request without a credential record")
}

// userPrincipal is IAM user u calling with access key accessKeyID (its
// own key, or a session of its own).
func (a *Authenticator) userPrincipal(u *store.User, accessKeyID string) *Principal {
	return &Principal{
		Type: TypeIAMUser, AccountID: a.accountID, ARN: u.ARN, PrincipalID: u.UserID,
		UserName: u.UserName, AccessKeyID: accessKeyID,
		Policies:   store.PrincipalRef{Kind: store.KindUser, Name: u.UserName},
		PoliciesID: u.UserID,
	}
}
