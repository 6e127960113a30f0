package console

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/postern/postern/internal/server/httpedge"
	"github.com/postern/postern/internal/server/identity"
	"github.com/postern/postern/internal/server/sealer"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/wire/sigv4"
)

// CookieName is the console session's cookie. The __Host- prefix makes
// browsers insist on Secure, Path=/ and no Domain.
const CookieName = "__Host-postern-console"

// CSRFHeader carries the session's CSRF token on every POST.
const CSRFHeader = "X-Postern-CSRF"

// Settings keys of the console.
const (
	settingCSRFKey = "console_csrf_key"
	cookieAAD      = "postern-console-cookie"
)

// cookieState is what the cookie holds, sealed with the server's key:
// the console session's credential id and token, and after switch role
// the role session's. Secret access keys never leave the server.
type cookieState struct {
	User credRef  `json:"u"`
	Role *roleRef `json:"r,omitempty"`
	// Federated: User is the role session of a sign-in through an
	// identity provider (AssumeRoleWithWebIdentity), not a user's
	// console session.
	Federated bool `json:"f,omitempty"`
}

type credRef struct {
	AccessKeyID string `json:"a"`
	Token       string `json:"t"`
}

type roleRef struct {
	credRef
	RoleARN     string `json:"arn"`
	SessionName string `json:"n"`
}

// caller is a resolved console request: who is signed in and, after
// switch role, the role session acted as.
type caller struct {
	state      cookieState
	user       *identity.Principal
	userSecret string
	role       *identity.Principal // nil unless switched into a role
	roleSecret string
	expires    time.Time // the console session's end
	// endedRole is the role session id the cookie named when that
	// session has ended (errRoleExpired).
	endedRole string
	remote    netip.AddrPort
	userAgent string
}

// credentials are those the caller's calls are signed with: the role
// session's after switch role, else the console session's.
func (c *caller) credentials() (aws.Credentials, *identity.Principal) {
	if c.role != nil {
		return aws.Credentials{AccessKeyID: c.state.Role.AccessKeyID, SecretAccessKey: c.roleSecret, SessionToken: c.state.Role.Token, Source: "postern-console"}, c.role
	}
	return c.userCredentials(), c.user
}

func (c *caller) userCredentials() aws.Credentials {
	return aws.Credentials{AccessKeyID: c.state.User.AccessKeyID, SecretAccessKey: c.userSecret, SessionToken: c.state.User.Token, Source: "postern-console"}
}

var (
	errNotSignedIn  = errors.New("console: not signed in")
	errRoleExpired  = errors.New("console: the role session ended")
	errCookieFormat = errors.New("console: malformed cookie")
)

// sealCookie and openCookie turn the state into the cookie's value.
func (c *Console) sealCookie(st cookieState) (string, error) { return sealState(c.cfg.Sealer, st) }

func sealState(s *sealer.Sealer, st cookieState) (string, error) {
	return sealValue(s, st, cookieAAD)
}

// sealValue seals v's JSON under aad into a cookie's value.
func sealValue(s *sealer.Sealer, v any, aad string) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("console: encode cookie: %w", err)
	}
	sealed, err := s.Seal(b, []byte(aad))
	if err != nil {
		return "", fmt.Errorf("console: seal cookie: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(sealed), nil
}

// maxCookieValue bounds a sealed cookie's value: browsers keep no cookie
// longer than 4096 bytes, so a longer one is not this server's and is
// refused before it is decoded or decrypted.
const maxCookieValue = 4096

// openValue opens a cookie's value made by sealValue into v;
// errCookieFormat when it is too long, not this server's or not JSON.
func openValue(s *sealer.Sealer, value, aad string, v any) error {
	if len(value) > maxCookieValue {
		return errCookieFormat
	}
	sealed, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil {
		return errCookieFormat
	}
	b, err := s.Open(sealed, []byte(aad))
	if err != nil {
		return errCookieFormat
	}
	if json.Unmarshal(b, v) != nil {
		return errCookieFormat
	}
	return nil
}

func (c *Console) openCookie(v string) (cookieState, error) {
	var st cookieState
	if err := openValue(c.cfg.Sealer, v, cookieAAD, &st); err != nil || st.User.AccessKeyID == "" {
		return cookieState{}, errCookieFormat
	}
	return st, nil
}

// setCookie gives the browser the session's cookie, valid until the
// console session ends.
func (c *Console) setCookie(w http.ResponseWriter, st cookieState, expires time.Time) error {
	v, err := c.sealCookie(st)
	if err != nil {
		return err
	}
	maxAge := int(expires.Sub(c.cfg.Now()).Seconds())
	if maxAge < 1 {
		maxAge = 1
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: v, Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, MaxAge: maxAge, Expires: expires.UTC()})
	return nil
}

// clearCookie tells the browser to drop the cookie.
func clearCookie(w http.ResponseWriter) { dropCookie(w, CookieName, http.SameSiteStrictMode) }

// cookieOf returns the request's sealed state; errNotSignedIn without a
// cookie, errCookieFormat for one this server did not make.
func (c *Console) cookieOf(r *http.Request) (cookieState, error) {
	ck, err := r.Cookie(CookieName)
	if err != nil || ck.Value == "" {
		return cookieState{}, errNotSignedIn
	}
	return c.openCookie(ck.Value)
}

// resolve checks the request's cookie against the store: the console
// session must be live (token, expiry, the user still exists); a role
// session that has ended is errRoleExpired (with the console session's
// caller, so that the role can be dropped).
func (c *Console) resolve(r *http.Request) (*caller, error) {
	st, err := c.cookieOf(r)
	if err != nil {
		return nil, err
	}
	ctx := r.Context()
	p, secret, err := c.cfg.Authenticator.SessionPrincipal(ctx, st.User.AccessKeyID, st.User.Token)
	if err != nil {
		return nil, c.credentialError(ctx, err, errNotSignedIn)
	}
	sess, err := c.cfg.Store.GetSession(ctx, st.User.AccessKeyID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNotSignedIn // deleted since (sign-out)
	}
	if err != nil {
		return nil, fmt.Errorf("console: look up session: %w", err)
	}
	if (sess.UserID == "") != st.Federated || (st.Federated && p.WebIdentity == nil) {
		// A role session's credential in the console session's place
		// (or a user's where a federated one should be): the cookie was
		// never one this console made for a sign-in.
		return nil, errNotSignedIn
	}
	// A live console session authenticates the request: its connection
	// no longer counts among its source's unauthenticated ones at the
	// HTTP edge (a signed-in page and its terminals hold no place there).
	httpedge.Trust(ctx)
	cl := &caller{state: st, user: p, userSecret: secret, expires: sess.Expiration, remote: remoteAddr(r), userAgent: c.userAgent(r)}
	if st.Role != nil {
		rp, rsecret, err := c.cfg.Authenticator.SessionPrincipal(ctx, st.Role.AccessKeyID, st.Role.Token)
		if err != nil {
			if err := c.credentialError(ctx, err, errRoleExpired); !errors.Is(err, errRoleExpired) {
				return nil, err
			}
			cl.endedRole, cl.state.Role = st.Role.AccessKeyID, nil
			return cl, errRoleExpired
		}
		cl.role, cl.roleSecret = rp, rsecret
	}
	return cl, nil
}

// credentialError sorts a failed session check: a credential that is no
// longer good (unknown, wrong token, expired, its identity gone: a
// *sigv4.Error) is ended; anything else (the store) is an error of the
// server, which must not sign anyone out.
func (c *Console) credentialError(ctx context.Context, err, ended error) error {
	var se *sigv4.Error
	if errors.As(err, &se) {
		c.cfg.Logger.DebugContext(ctx, "console session not accepted", "reason", se.Message)
		return ended
	}
	return fmt.Errorf("console: check session: %w", err)
}

// csrfToken is the session's CSRF token: an HMAC of the console session's
// id under the console's key.
func (c *Console) csrfToken(sessionID string) string {
	m := hmac.New(sha256.New, c.csrfKey)
	m.Write([]byte("postern-console-csrf\x00" + sessionID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkCSRF compares a presented token with the session's (constant time).
func (c *Console) checkCSRF(sessionID, presented string) bool {
	return presented != "" && hmac.Equal([]byte(c.csrfToken(sessionID)), []byte(presented))
}

// CheckCSRF reports whether token is the CSRF token of the console
// session r's cookie names (for the terminal's WebSocket first message).
func (c *Console) CheckCSRF(r *http.Request, token string) bool {
	st, err := c.cookieOf(r)
	if err != nil {
		return false
	}
	return c.checkCSRF(st.User.AccessKeyID, token)
}

// sameOrigin refuses cross-origin requests (Sec-Fetch-Site, else Origin
// against Host; see http.CrossOriginProtection) with 403.
func (c *Console) sameOrigin(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := c.cop.Check(r); err != nil {
			writeError(w, http.StatusForbidden, "CrossOriginRequestRefused", "Cross-origin requests to the console are refused.")
			return
		}
		h(w, r)
	}
}

// signedIn runs h for a signed-in caller whose request carries the
// session's CSRF token.
func (c *Console) signedIn(h func(http.ResponseWriter, *http.Request, *caller)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		cl, err := c.resolve(r)
		switch {
		case errors.Is(err, errRoleExpired):
			if !c.checkCSRF(cl.state.User.AccessKeyID, r.Header.Get(CSRFHeader)) {
				writeError(w, http.StatusForbidden, "InvalidCSRFToken", "The request's CSRF token is missing or wrong; reload the console.")
				return
			}
			// Back to the console session; the page reloads it.
			c.deleteSession(r.Context(), cl.endedRole)
			if err := c.setCookie(w, cl.state, cl.expires); err != nil {
				c.internal(w, r, err)
				return
			}
			writeError(w, http.StatusUnauthorized, "RoleSessionExpired", "The role session has ended; you are back as "+cl.user.ARN+".")
			return
		case errors.Is(err, errNotSignedIn), errors.Is(err, errCookieFormat):
			notSignedIn(w, r)
			return
		case err != nil:
			c.internal(w, r, err)
			return
		}
		if !c.checkCSRF(cl.state.User.AccessKeyID, r.Header.Get(CSRFHeader)) {
			writeError(w, http.StatusForbidden, "InvalidCSRFToken", "The request's CSRF token is missing or wrong; reload the console.")
			return
		}
		h(w, r, cl)
	}
}

func notSignedIn(w http.ResponseWriter, r *http.Request) {
	if _, err := r.Cookie(CookieName); err == nil {
		clearCookie(w)
	}
	writeError(w, http.StatusUnauthorized, "NotSignedIn", "You are not signed in, or your console session has ended.")
}

func (c *Console) internal(w http.ResponseWriter, r *http.Request, err error) {
	c.cfg.Logger.ErrorContext(r.Context(), "console request failed", "path", r.URL.Path, "error", err)
	writeError(w, http.StatusInternalServerError, "InternalFailure", "The console could not complete the request.")
}

// sessionInfo is GET /console/api/session's answer.
type sessionInfo struct {
	AccountID        string    `json:"accountId"`
	Region           string    `json:"region"`
	UserName         string    `json:"userName"`
	ARN              string    `json:"arn"`
	PrincipalType    string    `json:"principalType"`
	MFAAuthenticated bool      `json:"mfaAuthenticated"`
	ExpiresAt        string    `json:"expiresAt"`
	CSRFToken        string    `json:"csrfToken"`
	Role             *roleInfo `json:"role"`
	Version          string    `json:"version"`
	EndpointURL      string    `json:"endpointUrl"`
	RecordSessions   bool      `json:"recordSessions"`
	// Federated names the web identity of a sign-in through an identity
	// provider; nil otherwise.
	Federated *federatedInfo `json:"federated"`
}

type federatedInfo struct {
	Provider string `json:"provider"` // the IAM OIDC provider's ARN
	Subject  string `json:"subject"`
}

type roleInfo struct {
	RoleARN     string `json:"roleArn"`
	SessionName string `json:"sessionName"`
	ExpiresAt   string `json:"expiresAt"`
}

func (c *Console) info(cl *caller) sessionInfo {
	_, p := cl.credentials()
	si := sessionInfo{
		AccountID: c.cfg.AccountID, Region: c.cfg.Region, UserName: cl.user.UserName, ARN: p.ARN, PrincipalType: p.Type,
		MFAAuthenticated: p.MFAAuthenticated, ExpiresAt: cl.expires.UTC().Format(time.RFC3339),
		CSRFToken: c.csrfToken(cl.state.User.AccessKeyID), Version: c.versionString(),
		EndpointURL: "https://" + c.cfg.Host, RecordSessions: c.cfg.Console.RecordSessions,
	}
	if w := cl.user.WebIdentity; cl.state.Federated && w != nil {
		si.Federated = &federatedInfo{Provider: w.Provider, Subject: w.Subject}
	}
	if cl.role != nil {
		si.Role = &roleInfo{RoleARN: cl.state.Role.RoleARN, SessionName: cl.state.Role.SessionName,
			ExpiresAt: cl.role.SessionExpires.UTC().Format(time.RFC3339)}
	}
	return si
}

// session is GET /console/api/session.
func (c *Console) session(w http.ResponseWriter, r *http.Request) {
	cl, err := c.resolve(r)
	switch {
	case errors.Is(err, errRoleExpired):
		c.deleteSession(r.Context(), cl.endedRole)
		if err := c.setCookie(w, cl.state, cl.expires); err != nil {
			c.internal(w, r, err)
			return
		}
	case errors.Is(err, errNotSignedIn), errors.Is(err, errCookieFormat):
		notSignedIn(w, r)
		return
	case err != nil:
		c.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c.info(cl))
}

// deleteSession removes a session (sign-out, switch back); one that is
// gone already is fine.
func (c *Console) deleteSession(ctx context.Context, akid string) {
	if err := c.removeSession(ctx, akid); err != nil {
		c.cfg.Logger.WarnContext(ctx, "console: delete session", "access_key_id", akid, "error", err)
	}
}

// removeSession deletes a session; nil when it is gone (or was never).
func (c *Console) removeSession(ctx context.Context, akid string) error {
	if akid == "" {
		return nil
	}
	if err := c.cfg.Store.DeleteSession(ctx, akid); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}

// loadCSRFKey returns the console's CSRF key, making it on first use. It
// is kept sealed in the settings, so every replica signs with the same.
func loadCSRFKey(ctx context.Context, st store.Store, s *sealer.Sealer) ([]byte, error) {
	var key []byte
	err := st.InTx(ctx, func(tx store.Repo) error {
		key = nil
		v, err := tx.GetSetting(ctx, settingCSRFKey)
		if err == nil {
			sealed, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				return fmt.Errorf("decode %s: %w", settingCSRFKey, err)
			}
			if key, err = s.Open(sealed, []byte(settingCSRFKey)); err != nil {
				return fmt.Errorf("open %s: %w", settingCSRFKey, err)
			}
			return nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return err
		}
		sealed, err := s.Seal(key, []byte(settingCSRFKey))
		if err != nil {
			return err
		}
		return tx.PutSetting(ctx, settingCSRFKey, base64.StdEncoding.EncodeToString(sealed))
	})
	if err != nil {
		return nil, fmt.Errorf("console: CSRF key: %w", err)
	}
	return key, nil
}
