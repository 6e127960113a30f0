package iamapi

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/postern/postern/internal/server/identity"
	"github.com/postern/postern/internal/server/passwords"
	"github.com/postern/postern/internal/server/totp"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/wire/awsid"
)

// Console sign-in: an IAM user's password (and MFA code) in exchange for
// a short-lived session of that user, as the AWS console's. The console
// (package console) calls SignIn and keeps the credentials server-side.

// Sign-in errors. Callers test them with errors.Is.
var (
	// ErrSignInFailed covers an unknown user, a user without a login
	// profile and a wrong password alike, so that the answer reveals
	// nothing; they also take about as long (the KDF runs in each case).
	ErrSignInFailed = errors.New("iamapi: sign-in failed")
	// ErrMFARequired means the password was right and the user has an
	// MFA device, but no code was given.
	ErrMFARequired = errors.New("iamapi: MFA code required")
	// ErrMFAInvalid means the MFA code was wrong, or already used.
	ErrMFAInvalid = errors.New("iamapi: MFA code invalid")
	// ErrPasswordResetRequired means the password was right but must be
	// replaced (the login profile requires it, or it expired): sign in
	// again with NewPassword.
	ErrPasswordResetRequired = errors.New("iamapi: password reset required")
	// ErrPasswordPolicy means NewPassword breaks the account's password
	// policy; the error is a *PolicyError, which wraps it with AWS's
	// reasons.
	ErrPasswordPolicy = errors.New("iamapi: password does not conform to the account password policy")
)

// PolicyError is a new password the account's password policy refuses:
// it wraps ErrPasswordPolicy and carries AWS's reasons, for a caller that
// shows them (errors.As, not the message's text).
type PolicyError struct {
	Reasons []string
}

func (e *PolicyError) Error() string {
	return ErrPasswordPolicy.Error() + ": " + strings.Join(e.Reasons, "; ")
}

// Unwrap returns ErrPasswordPolicy.
func (e *PolicyError) Unwrap() error { return ErrPasswordPolicy }

// SignInInput is what a person types on the sign-in page.
type SignInInput struct {
	UserName, Password string
	MFACode            string        // 6 digits, when the user has an MFA device
	NewPassword        string        // when the login profile requires a reset
	SourceIP           string        // the browser's address, recorded in the session
	Duration           time.Duration // session length; default 12 hours
}

// SignInResult is a console session.
type SignInResult struct {
	User            store.User
	AccessKeyID     string // ASIA…
	SecretAccessKey string
	SessionToken    string
	Expiration      time.Time
	MFAUsed         bool
}

// DefaultConsoleSession is the session length when SignInInput.Duration
// is zero.
const DefaultConsoleSession = 12 * time.Hour

// SignIn checks a user's password (and MFA code), replaces the password
// when the profile requires it, and issues a session of that user. The
// MFA code's time step is consumed, the new password stored and the
// session written in one transaction.
func SignIn(ctx context.Context, cfg Config, in SignInInput) (SignInResult, error) {
	cfg, err := cfg.withDefaults(false)
	if err != nil {
		return SignInResult{}, err
	}
	h := &handler{cfg: cfg}
	u, lp, err := h.checkPassword(ctx, in.UserName, in.Password)
	if err != nil {
		return SignInResult{}, err
	}
	now := h.now()

	// MFA second (as AWS's console: password, then code, then the new
	// password).
	devices, err := cfg.Store.ListMFADevices(ctx, u.UserName)
	if err != nil {
		return SignInResult{}, fmt.Errorf("iamapi: sign-in: MFA devices of %s: %w", u.UserName, err)
	}
	var mfaSerial string
	var mfaStep int64
	if len(devices) > 0 {
		if in.MFACode == "" {
			return SignInResult{}, ErrMFARequired
		}
		if mfaSerial, mfaStep, err = h.matchMFA(devices, in.MFACode, now); err != nil {
			return SignInResult{}, err
		}
	}

	pol, custom, err := policyOrDefault(ctx, cfg.Store)
	if err != nil {
		return SignInResult{}, fmt.Errorf("iamapi: sign-in: %w", err)
	}
	var update *store.LoginProfile
	if lp.PasswordResetRequired || expired(pol, lp, now) {
		if expired(pol, lp, now) && pol.HardExpiry && !lp.PasswordResetRequired {
			return SignInResult{}, fmt.Errorf("%w: the password expired and only an administrator can reset it", ErrSignInFailed)
		}
		if in.NewPassword == "" {
			return SignInResult{}, ErrPasswordResetRequired
		}
		if err := checkNewPassword(pol, custom, lp, u.UserName, in.NewPassword); err != nil {
			return SignInResult{}, err
		}
		next, err := newPassword(pol, lp, in.NewPassword, false, now)
		if err != nil {
			return SignInResult{}, fmt.Errorf("iamapi: sign-in: %w", err)
		}
		update = &next
	}

	var res SignInResult
	err = cfg.Store.InTx(ctx, func(tx store.Repo) error {
		if mfaSerial != "" {
			if err := tx.UseMFAStep(ctx, mfaSerial, mfaStep); errors.Is(err, store.ErrConflict) {
				return ErrMFAInvalid // the code was used already
			} else if err != nil {
				return fmt.Errorf("record MFA code: %w", err)
			}
		}
		// The profile as it is now: a password changed since it was
		// checked (an administrator's reset) is not overwritten, and the
		// old one no longer signs in.
		cur, err := tx.GetLoginProfile(ctx, u.UserName)
		if errors.Is(err, store.ErrNotFound) || (err == nil && cur.PasswordHash != lp.PasswordHash) {
			return ErrSignInFailed
		}
		if err != nil {
			return fmt.Errorf("read login profile: %w", err)
		}
		if update != nil {
			cur = *update
		}
		cur.PasswordLastUsed = now
		if err := tx.UpdateLoginProfile(ctx, cur); err != nil {
			return fmt.Errorf("store login profile: %w", err)
		}
		res, err = h.issueUserSession(ctx, tx, u, in.SourceIP, in.Duration, mfaSerial != "")
		return err
	})
	if err != nil {
		for _, sentinel := range []error{ErrMFAInvalid, ErrSignInFailed} {
			if errors.Is(err, sentinel) {
				return SignInResult{}, sentinel
			}
		}
		return SignInResult{}, fmt.Errorf("iamapi: sign-in of %s: %w", u.UserName, err)
	}
	return res, nil
}

// IssueUserSession makes a console session for a user without a password
// check (the bootstrap administrator's one-time link). The session is
// not MFA-authenticated.
func IssueUserSession(ctx context.Context, cfg Config, userName, sourceIP string, d time.Duration) (SignInResult, error) {
	cfg, err := cfg.withDefaults(false)
	if err != nil {
		return SignInResult{}, err
	}
	h := &handler{cfg: cfg}
	u, err := cfg.Store.GetUser(ctx, userName)
	if err != nil {
		return SignInResult{}, fmt.Errorf("iamapi: issue session for %s: %w", userName, err)
	}
	res, err := h.issueUserSession(ctx, cfg.Store, u, sourceIP, d, false)
	if err != nil {
		return SignInResult{}, fmt.Errorf("iamapi: issue session for %s: %w", userName, err)
	}
	return res, nil
}

// checkPassword finds the user and login profile and checks the password.
// Every failure is ErrSignInFailed after the same KDF work.
func (h *handler) checkPassword(ctx context.Context, userName, password string) (store.User, store.LoginProfile, error) {
	if userName == "" || len(userName) > maxExistingUserName || len(password) > 4*maxPasswordLen {
		passwords.VerifyDummy("") // the same work, without hashing an oversized input
		return store.User{}, store.LoginProfile{}, ErrSignInFailed
	}
	u, err := h.cfg.Store.GetUser(ctx, userName)
	if err != nil {
		passwords.VerifyDummy(password)
		if errors.Is(err, store.ErrNotFound) {
			return store.User{}, store.LoginProfile{}, ErrSignInFailed
		}
		return store.User{}, store.LoginProfile{}, fmt.Errorf("iamapi: sign-in: %w", err)
	}
	lp, err := h.cfg.Store.GetLoginProfile(ctx, u.UserName)
	if err != nil {
		passwords.VerifyDummy(password)
		if errors.Is(err, store.ErrNotFound) {
			return store.User{}, store.LoginProfile{}, ErrSignInFailed
		}
		return store.User{}, store.LoginProfile{}, fmt.Errorf("iamapi: sign-in: %w", err)
	}
	ok, err := passwords.Verify(lp.PasswordHash, password)
	if err != nil {
		return store.User{}, store.LoginProfile{}, fmt.Errorf("iamapi: sign-in: password hash of %s: %w", u.UserName, err)
	}
	if !ok {
		return store.User{}, store.LoginProfile{}, ErrSignInFailed
	}
	return u, lp, nil
}

// checkNewPassword applies the password policy and the reuse rule to a
// new password; the error is a *PolicyError with the reasons.
func checkNewPassword(pol store.PasswordPolicy, custom bool, lp store.LoginProfile, userName, pw string) error {
	why, err := passwordProblems(pol, custom, lp, userName, pw)
	if err != nil {
		return err
	}
	if len(why) > 0 {
		return &PolicyError{Reasons: why}
	}
	return nil
}

// passwordProblems returns why a new password of the profile lp breaks
// the policy or the reuse rule (AWS's sentences), or nothing.
func passwordProblems(pol store.PasswordPolicy, custom bool, lp store.LoginProfile, userName, pw string) ([]string, error) {
	if len([]rune(pw)) > maxPasswordLen || !passwordRe().MatchString(pw) {
		return []string{fmt.Sprintf("Password should have 1 to %d characters: tab, line feed, carriage return or U+0020 to U+00FF", maxPasswordLen)}, nil
	}
	why := passwordViolations(pol, custom, userName, pw)
	r, err := reused(pol, lp, pw)
	if err != nil {
		return nil, fmt.Errorf("iamapi: password history of %s: %w", userName, err)
	}
	if r {
		if pol.PasswordReusePrevention > 1 {
			why = append(why, fmt.Sprintf("Password should not be one of your last %d passwords", pol.PasswordReusePrevention))
		} else {
			why = append(why, "Password should not be the current password")
		}
	}
	return why, nil
}

// matchMFA checks code against the user's devices; it returns the device
// and time step it matched (not yet consumed). A code of a step already
// used is ErrMFAInvalid.
func (h *handler) matchMFA(devices []store.MFADevice, code string, now time.Time) (string, int64, error) {
	for _, d := range devices {
		seed, err := h.cfg.Sealer.Open(d.SeedSealed, []byte(d.SerialNumber))
		if err != nil {
			return "", 0, fmt.Errorf("iamapi: open MFA seed of %s: %w", d.SerialNumber, err)
		}
		if step, ok := totp.Match(string(seed), code, now); ok && step > d.LastUsedStep {
			return d.SerialNumber, step, nil
		}
	}
	return "", 0, ErrMFAInvalid
}

// issueUserSession writes a console session of u to r and returns its
// credentials.
func (h *handler) issueUserSession(ctx context.Context, r store.Repo, u store.User, sourceIP string, d time.Duration, mfa bool) (SignInResult, error) {
	if d <= 0 {
		d = DefaultConsoleSession
	}
	akid := awsid.AccessKeyID(awsid.PrefixTempAccessKey)
	secret := awsid.SecretAccessKey()
	token := awsid.SessionToken()
	sealed, err := h.cfg.Sealer.Seal([]byte(secret), []byte(akid))
	if err != nil {
		return SignInResult{}, fmt.Errorf("seal session secret: %w", err)
	}
	now := h.now().Truncate(time.Microsecond) // the store's precision: Expiration reads back equal
	s := store.Session{AccessKeyID: akid, SecretSealed: sealed, SessionTokenHash: identity.HashToken(token),
		SourceUserARN: u.ARN, SourceIP: sourceIP, Expiration: now.Add(d), CreateDate: now,
		UserID: u.UserID, MFAAuthenticated: mfa, AuthTime: now}
	if err := r.CreateSession(ctx, s); err != nil {
		return SignInResult{}, fmt.Errorf("create session: %w", err)
	}
	return SignInResult{User: u, AccessKeyID: akid, SecretAccessKey: secret, SessionToken: token,
		Expiration: s.Expiration, MFAUsed: mfa}, nil
}
