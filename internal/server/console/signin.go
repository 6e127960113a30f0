package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/postern/postern/internal/server/audit"
	"github.com/postern/postern/internal/server/iamapi"
)

// signInRequest is POST /console/api/signin's body.
type signInRequest struct {
	UserName    string `json:"userName"`
	Password    string `json:"password"`
	MFACode     string `json:"mfaCode"`
	NewPassword string `json:"newPassword"`
}

// The sign-in page's messages, as the AWS console words them.
const (
	msgSignInFailed = "Your authentication information is incorrect. Please try again."
	msgThrottled    = "Too many failed sign-in attempts. Wait a while before you try again."
)

// signIn is POST /console/api/signin: a password (and MFA code, and a new
// password when one is required) for a console session.
func (c *Console) signIn(w http.ResponseWriter, r *http.Request) {
	var in signInRequest
	if !readJSON(w, r, &in) {
		return
	}
	ctx := r.Context()
	remote := remoteAddr(r)
	try, wait := c.throttle.begin(in.UserName, remote.Addr())
	if try == nil {
		if err := c.recordLogin(ctx, r, c.failedAttempt(ctx, in.UserName, false, "Throttling")); err != nil {
			c.internal(w, r, err)
			return
		}
		throttled(w, wait)
		return
	}
	res, err := iamapi.SignIn(ctx, c.cfg.IAM, iamapi.SignInInput{
		UserName: in.UserName, Password: in.Password, MFACode: in.MFACode, NewPassword: in.NewPassword,
		SourceIP: remote.Addr().String(), Duration: c.sessionDuration(),
	})
	switch {
	case err == nil:
		try.succeed()
		c.signedInAs(w, r, res)
	case errors.Is(err, iamapi.ErrMFARequired):
		// The password was right: the next step, not a failure.
		try.forgive()
		writeError(w, http.StatusUnauthorized, "MFARequired", "Enter the code from your MFA device.")
	case errors.Is(err, iamapi.ErrPasswordResetRequired):
		try.forgive()
		writeError(w, http.StatusForbidden, "PasswordResetRequired", "You must change your password to sign in: choose a new password.")
	case errors.Is(err, iamapi.ErrPasswordPolicy):
		try.forgive()
		writeError(w, http.StatusBadRequest, "PasswordPolicyViolation", policyMessage(err))
	case errors.Is(err, iamapi.ErrSignInFailed), errors.Is(err, iamapi.ErrMFAInvalid):
		mfa := errors.Is(err, iamapi.ErrMFAInvalid)
		if err := c.recordLogin(ctx, r, c.failedAttempt(ctx, in.UserName, mfa, "")); err != nil {
			c.internal(w, r, err)
			return
		}
		if mfa {
			writeError(w, http.StatusUnauthorized, "MFAInvalid", "The MFA code is not valid. Enter the current code from your MFA device.")
			return
		}
		writeError(w, http.StatusUnauthorized, "SignInFailed", msgSignInFailed)
	default:
		try.forgive()
		c.internal(w, r, err)
	}
}

// policyMessage is the password policy's reasons, as the page shows them.
func policyMessage(err error) string {
	var pe *iamapi.PolicyError
	if !errors.As(err, &pe) || len(pe.Reasons) == 0 {
		return "The new password does not conform to the account password policy."
	}
	return "Password does not conform to the account password policy: " + strings.Join(pe.Reasons, "; ")
}

func throttled(w http.ResponseWriter, wait time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(int(wait.Round(time.Second)/time.Second)+1))
	writeError(w, http.StatusTooManyRequests, "Throttling", msgThrottled)
}

// signedInAs records a successful sign-in, gives the browser its cookie
// and answers the session. When the record cannot be stored the session
// is deleted again: no sign-in goes unrecorded.
func (c *Console) signedInAs(w http.ResponseWriter, r *http.Request, res iamapi.SignInResult) {
	ctx := r.Context()
	err := c.recordLogin(ctx, r, audit.ConsoleLoginAttempt{
		UserName: res.User.UserName, UserID: res.User.UserID, UserARN: res.User.ARN,
		AccessKeyID: res.AccessKeyID, Success: true, MFAUsed: res.MFAUsed,
	})
	if err != nil {
		c.deleteSession(context.WithoutCancel(ctx), res.AccessKeyID)
		c.internal(w, r, err)
		return
	}
	// A browser signing in again (as anyone) leaves its earlier
	// sessions: they end now rather than at their expiry.
	if old, err := c.cookieOf(r); err == nil {
		if old.Role != nil {
			c.deleteSession(context.WithoutCancel(ctx), old.Role.AccessKeyID)
		}
		c.deleteSession(context.WithoutCancel(ctx), old.User.AccessKeyID)
	}
	st := cookieState{User: credRef{AccessKeyID: res.AccessKeyID, Token: res.SessionToken}}
	p, secret, err := c.cfg.Authenticator.SessionPrincipal(ctx, res.AccessKeyID, res.SessionToken)
	if err != nil {
		c.internal(w, r, fmt.Errorf("console: new session: %w", err))
		return
	}
	if err := c.setCookie(w, st, res.Expiration); err != nil {
		c.internal(w, r, err)
		return
	}
	cl := &caller{state: st, user: p, userSecret: secret, expires: res.Expiration}
	writeJSON(w, http.StatusOK, c.info(cl))
}

// failedAttempt describes a failed attempt by userName; the record names
// the user only when one of that name exists.
func (c *Console) failedAttempt(ctx context.Context, userName string, mfa bool, code string) audit.ConsoleLoginAttempt {
	a := audit.ConsoleLoginAttempt{UserName: userName, MFAUsed: mfa, ErrorCode: code}
	if userName != "" {
		if u, err := c.cfg.Store.GetUser(ctx, userName); err == nil {
			a.UserName, a.UserID = u.UserName, u.UserID
		}
	}
	return a
}

// recordLogin writes a ConsoleLogin record; it returns once the record
// is committed.
func (c *Console) recordLogin(ctx context.Context, r *http.Request, a audit.ConsoleLoginAttempt) error {
	a.LoginTo = c.consoleURL()
	rec := audit.ConsoleLogin(audit.Meta{
		AccountID: c.cfg.AccountID, Region: c.cfg.Region, SourceIP: remoteAddr(r).Addr().String(),
		UserAgent: r.UserAgent(), Time: c.cfg.Now(),
	}, a)
	if err := c.cfg.Audit.Write(context.WithoutCancel(ctx), rec, "", ""); err != nil {
		return fmt.Errorf("console: record sign-in: %w", err)
	}
	return nil
}

// signInLinkRequest is POST /console/api/signin-link's body.
type signInLinkRequest struct {
	Token string `json:"token"`
}

// signInLink is POST /console/api/signin-link: the bootstrap
// administrator's one-time link, for a console session of that user.
func (c *Console) signInLink(w http.ResponseWriter, r *http.Request) {
	var in signInLinkRequest
	if !readJSON(w, r, &in) {
		return
	}
	ctx := r.Context()
	remote := remoteAddr(r)
	try, wait := c.throttle.begin("", remote.Addr())
	if try == nil {
		if err := c.recordLogin(ctx, r, audit.ConsoleLoginAttempt{ErrorCode: "Throttling"}); err != nil {
			c.internal(w, r, err)
			return
		}
		throttled(w, wait)
		return
	}
	link, err := consumeLink(ctx, c.cfg.Store, in.Token, c.cfg.Now())
	if errors.Is(err, errLinkInvalid) {
		if err := c.recordLogin(ctx, r, audit.ConsoleLoginAttempt{}); err != nil {
			c.internal(w, r, err)
			return
		}
		writeError(w, http.StatusUnauthorized, "SignInFailed", "This sign-in link is not valid: it was used already, it expired, or it was mistyped.")
		return
	}
	if err != nil {
		try.forgive()
		c.internal(w, r, err)
		return
	}
	res, err := iamapi.IssueUserSession(ctx, c.cfg.IAM, link.UserName, remote.Addr().String(), c.sessionDuration())
	if err == nil && res.User.UserID != link.UserID {
		// The administrator was deleted and a user of that name made
		// since: the link was not for them.
		c.deleteSession(context.WithoutCancel(ctx), res.AccessKeyID)
		err = fmt.Errorf("console: the link's user %s is not the user now named %s", link.UserID, link.UserName)
	}
	if err != nil {
		try.forgive()
		if rerr := restoreLink(context.WithoutCancel(ctx), c.cfg.Store, link); rerr != nil {
			err = errors.Join(err, rerr)
		}
		c.internal(w, r, err)
		return
	}
	try.succeed()
	c.signedInAs(w, r, res)
}

// signOut is POST /console/api/signout: the console session (and a role
// session switched into) is deleted, so that the cookie no longer works
// anywhere, and the browser is told to drop it.
func (c *Console) signOut(w http.ResponseWriter, r *http.Request) {
	st, err := c.cookieOf(r)
	if err == nil {
		if !c.checkCSRF(st.User.AccessKeyID, r.Header.Get(CSRFHeader)) {
			writeError(w, http.StatusForbidden, "InvalidCSRFToken", "The request's CSRF token is missing or wrong; reload the console.")
			return
		}
		ctx := context.WithoutCancel(r.Context())
		var errs []error
		if st.Role != nil {
			errs = append(errs, c.removeSession(ctx, st.Role.AccessKeyID))
		}
		errs = append(errs, c.removeSession(ctx, st.User.AccessKeyID))
		if err := errors.Join(errs...); err != nil {
			// The session may still work: say so rather than pretend.
			c.internal(w, r, fmt.Errorf("console: sign-out: %w", err))
			return
		}
	}
	clearCookie(w)
	writeJSON(w, http.StatusOK, struct {
		SignedOut bool `json:"signedOut"`
	}{true})
}
