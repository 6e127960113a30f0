package iamapi

import (
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/postern/postern/internal/server/api"
	"github.com/postern/postern/internal/server/identity"
	"github.com/postern/postern/internal/server/policy"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/wire/awsproto"
)

// Login profiles (console passwords), ChangePassword and the account
// password policy. Passwords are hashed with Argon2id (package passwords)
// and never logged or returned.

// passwordPolicyViolation is PasswordPolicyViolation (400).
func passwordPolicyViolation(why []string) *awsproto.Error {
	return awsproto.Errorf(http.StatusBadRequest, "PasswordPolicyViolation", "%s", strings.Join(why, "; "))
}

// invalidUserType is InvalidUserType (400).
func invalidUserType(format string, args ...any) *awsproto.Error {
	return awsproto.Errorf(http.StatusBadRequest, "InvalidUserType", format, args...)
}

// xmlLoginProfile is a LoginProfile.
type xmlLoginProfile struct {
	UserName              string `xml:"UserName"`
	CreateDate            string `xml:"CreateDate"`
	PasswordResetRequired bool   `xml:"PasswordResetRequired"`
}

func loginProfileXML(p store.LoginProfile) xmlLoginProfile {
	return xmlLoginProfile{UserName: p.UserName, CreateDate: ts(p.CreateDate), PasswordResetRequired: p.PasswordResetRequired}
}

// passwordParam reads a password parameter (passwordType: 1–128 of tab,
// line feed, carriage return, U+0020–U+00FF).
func passwordParam(p awsproto.Params, param string) (string, error) {
	v, err := required(p, param)
	if err != nil {
		return "", err
	}
	if len([]rune(v)) > maxPasswordLen {
		return "", validation("1 validation error detected: Value at '%s' failed to satisfy constraint: Member must have length less than or equal to %d", field(param), maxPasswordLen)
	}
	if !passwordRe().MatchString(v) {
		// The value is a secret: AWS's message leaves it out, and so does this one.
		return "", validation(`1 validation error detected: Value at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: [\u0009\u000A\u000D\u0020-\u00FF]+`, field(param))
	}
	return v, nil
}

// optBool reads an optional boolean parameter.
func optBool(p awsproto.Params, param string) (val, set bool, err error) {
	v := p.Get(param)
	if v == "" {
		return false, false, nil
	}
	b, perr := strconv.ParseBool(v)
	if perr != nil || (v != "true" && v != "false") {
		return false, true, validation("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must be a boolean", v, field(param))
	}
	return b, true, nil
}

// checkPasswordPolicy applies the password policy (or AWS's default) to a new
// password of the profile lp; reuse is checked against lp's passwords.
func checkPasswordPolicy(c *api.Call, tx store.Repo, lp store.LoginProfile, userName, pw string) (store.PasswordPolicy, error) {
	pol, custom, err := policyOrDefault(c.Ctx, tx)
	if err != nil {
		return pol, err
	}
	why, err := passwordProblems(pol, custom, lp, userName, pw)
	if err != nil {
		return pol, err
	}
	if len(why) > 0 {
		return pol, passwordPolicyViolation(why)
	}
	return pol, nil
}

// createLoginProfile is CreateLoginProfile: UserName (or the caller),
// Password, PasswordResetRequired.
func (h *handler) createLoginProfile(c *api.Call) (any, error) {
	userName, err := userParam(c)
	if err != nil {
		return nil, err
	}
	pw, err := passwordParam(c.Params, "Password")
	if err != nil {
		return nil, err
	}
	reset, _, err := optBool(c.Params, "PasswordResetRequired")
	if err != nil {
		return nil, err
	}
	u, err := h.lookupUser(c, "iam:CreateLoginProfile", userName)
	if err != nil {
		return nil, err
	}
	var lp store.LoginProfile
	err = h.cfg.Store.InTx(c.Ctx, func(tx store.Repo) error {
		if _, err := tx.GetLoginProfile(c.Ctx, u.UserName); err == nil {
			return entityExists("Login Profile for user %s already exists.", u.UserName)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		pol, err := checkPasswordPolicy(c, tx, store.LoginProfile{}, u.UserName, pw)
		if err != nil {
			return err
		}
		now := h.now()
		lp, err = newPassword(pol, store.LoginProfile{UserName: u.UserName, CreateDate: now}, pw, reset, now)
		if err != nil {
			return err
		}
		return tx.CreateLoginProfile(c.Ctx, lp)
	})
	if err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, entityExists("Login Profile for user %s already exists.", u.UserName)
		}
		return nil, storeErr(err, "create login profile for "+u.UserName, "user with name "+u.UserName)
	}
	c.Logger.LogAttrs(c.Ctx, slog.LevelInfo, "login profile created", slog.String("user", u.UserName),
		slog.Bool("password_reset_required", reset), slog.String("by", c.Principal.ARN))
	return struct {
		LoginProfile xmlLoginProfile `xml:"LoginProfile"`
	}{loginProfileXML(lp)}, nil
}

// profileOf reads the user's login profile, NoSuchEntity as AWS words it.
func (h *handler) profileOf(c *api.Call, r store.Repo, userName string) (store.LoginProfile, error) {
	lp, err := r.GetLoginProfile(c.Ctx, userName)
	if errors.Is(err, store.ErrNotFound) {
		return lp, noSuchEntity("Login Profile for User %s cannot be found.", userName)
	}
	return lp, wrap(err, "get login profile of %s", userName)
}

// getLoginProfile is GetLoginProfile: UserName, or the caller.
func (h *handler) getLoginProfile(c *api.Call) (any, error) {
	userName, err := userParam(c)
	if err != nil {
		return nil, err
	}
	u, err := h.lookupUser(c, "iam:GetLoginProfile", userName)
	if err != nil {
		return nil, err
	}
	lp, err := h.profileOf(c, h.cfg.Store, u.UserName)
	if err != nil {
		return nil, err
	}
	return struct {
		LoginProfile xmlLoginProfile `xml:"LoginProfile"`
	}{loginProfileXML(lp)}, nil
}

// updateLoginProfile is UpdateLoginProfile: UserName (or the caller),
// Password and PasswordResetRequired, both optional.
func (h *handler) updateLoginProfile(c *api.Call) (any, error) {
	userName, err := userParam(c)
	if err != nil {
		return nil, err
	}
	var pw string
	if c.Params.Has("Password") {
		if pw, err = passwordParam(c.Params, "Password"); err != nil {
			return nil, err
		}
	}
	reset, resetSet, err := optBool(c.Params, "PasswordResetRequired")
	if err != nil {
		return nil, err
	}
	u, err := h.lookupUser(c, "iam:UpdateLoginProfile", userName)
	if err != nil {
		return nil, err
	}
	err = h.cfg.Store.InTx(c.Ctx, func(tx store.Repo) error {
		lp, err := h.profileOf(c, tx, u.UserName)
		if err != nil {
			return err
		}
		if pw != "" {
			pol, err := checkPasswordPolicy(c, tx, lp, u.UserName, pw)
			if err != nil {
				return err
			}
			if lp, err = newPassword(pol, lp, pw, lp.PasswordResetRequired, h.now()); err != nil {
				return err
			}
		}
		if resetSet {
			lp.PasswordResetRequired = reset
		}
		return tx.UpdateLoginProfile(c.Ctx, lp)
	})
	if err != nil {
		return nil, storeErr(err, "update login profile of "+u.UserName, "Login Profile for User "+u.UserName)
	}
	c.Logger.LogAttrs(c.Ctx, slog.LevelInfo, "login profile updated", slog.String("user", u.UserName),
		slog.Bool("password_changed", pw != ""), slog.String("by", c.Principal.ARN))
	return nil, nil
}

// deleteLoginProfile is DeleteLoginProfile: UserName, or the caller.
func (h *handler) deleteLoginProfile(c *api.Call) (any, error) {
	userName, err := userParam(c)
	if err != nil {
		return nil, err
	}
	u, err := h.lookupUser(c, "iam:DeleteLoginProfile", userName)
	if err != nil {
		return nil, err
	}
	if err := h.cfg.Store.DeleteLoginProfile(c.Ctx, u.UserName); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, noSuchEntity("Login Profile for User %s cannot be found.", u.UserName)
		}
		return nil, wrap(err, "delete login profile of %s", u.UserName)
	}
	c.Logger.LogAttrs(c.Ctx, slog.LevelInfo, "login profile deleted", slog.String("user", u.UserName),
		slog.String("by", c.Principal.ARN))
	return nil, nil
}

// errPasswordChanged: the password changed between ChangePassword's check
// of the old one and its write.
var errPasswordChanged = errors.New("iamapi: the password changed concurrently")

// changePassword is ChangePassword: OldPassword, NewPassword, for the
// calling IAM user only. The caller needs iam:ChangePassword on its own
// user, unless the account's password policy sets
// AllowUsersToChangePassword, which grants it (an explicit deny still
// wins). A wrong old password is InvalidUserType, as AWS answers it.
func (h *handler) changePassword(c *api.Call) (any, error) {
	oldPw, err := passwordParam(c.Params, "OldPassword")
	if err != nil {
		return nil, err
	}
	newPw, err := passwordParam(c.Params, "NewPassword")
	if err != nil {
		return nil, err
	}
	if c.Principal.Type != identity.TypeIAMUser {
		return nil, invalidUserType("Only IAM users can change their own password.")
	}
	u, err := h.cfg.Store.GetUserByID(c.Ctx, c.Principal.PrincipalID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, noSuchEntity("The user with name %s cannot be found.", c.Principal.UserName)
	}
	if err != nil {
		return nil, wrap(err, "get user %s", c.Principal.UserName)
	}
	dec, err := c.Decide("iam:ChangePassword", u.ARN, nil)
	if err != nil {
		return nil, err
	}
	if !dec.Allowed {
		pol, _, err := policyOrDefault(c.Ctx, h.cfg.Store)
		if err != nil {
			return nil, wrap(err, "change password")
		}
		// The policy's grant does not override an explicit deny.
		if dec.Effect == policy.Deny || !pol.AllowUsersToChangePassword {
			return nil, c.Deny("iam:ChangePassword", u.ARN, dec)
		}
	}
	if h.passwordFails.blocked(u.UserID, h.now()) {
		return nil, tooManyPasswordGuesses()
	}
	_, lp, err := h.checkPassword(c.Ctx, u.UserName, oldPw)
	if errors.Is(err, ErrSignInFailed) {
		h.passwordFails.failed(u.UserID, h.now())
		if _, perr := h.cfg.Store.GetLoginProfile(c.Ctx, u.UserName); errors.Is(perr, store.ErrNotFound) {
			return nil, noSuchEntity("Login Profile for User %s cannot be found.", u.UserName)
		}
		return nil, invalidUserType("The old password was incorrect.")
	}
	if err != nil {
		return nil, wrap(err, "change password of %s", u.UserName)
	}
	h.passwordFails.succeeded(u.UserID)
	err = h.cfg.Store.InTx(c.Ctx, func(tx store.Repo) error {
		// The old password was checked against the hash read before the
		// transaction: if the password changed since (an administrator's
		// UpdateLoginProfile), the check no longer holds, and writing
		// would overwrite the administrator's reset.
		cur, err := tx.GetLoginProfile(c.Ctx, u.UserName)
		if err != nil {
			return err
		}
		if subtle.ConstantTimeCompare([]byte(cur.PasswordHash), []byte(lp.PasswordHash)) != 1 {
			return errPasswordChanged
		}
		pol, err := checkPasswordPolicy(c, tx, cur, u.UserName, newPw)
		if err != nil {
			return err
		}
		next, err := newPassword(pol, cur, newPw, false, h.now())
		if err != nil {
			return err
		}
		return tx.UpdateLoginProfile(c.Ctx, next)
	})
	if errors.Is(err, errPasswordChanged) {
		return nil, awsproto.Errorf(http.StatusConflict, "EntityTemporarilyUnmodifiable",
			"The password of user %s was changed while this request ran; sign in again and retry.", u.UserName)
	}
	if err != nil {
		return nil, storeErr(err, "change password of "+u.UserName, "Login Profile for User "+u.UserName)
	}
	c.Logger.LogAttrs(c.Ctx, slog.LevelInfo, "password changed", slog.String("user", u.UserName),
		slog.String("by", c.Principal.ARN))
	return nil, nil
}

// xmlPasswordPolicy is a PasswordPolicy. MaxPasswordAge,
// PasswordReusePrevention and HardExpiry appear only when set, as in AWS.
type xmlPasswordPolicy struct {
	MinimumPasswordLength      int32 `xml:"MinimumPasswordLength"`
	RequireSymbols             bool  `xml:"RequireSymbols"`
	RequireNumbers             bool  `xml:"RequireNumbers"`
	RequireUppercaseCharacters bool  `xml:"RequireUppercaseCharacters"`
	RequireLowercaseCharacters bool  `xml:"RequireLowercaseCharacters"`
	AllowUsersToChangePassword bool  `xml:"AllowUsersToChangePassword"`
	ExpirePasswords            bool  `xml:"ExpirePasswords"`
	MaxPasswordAge             int32 `xml:"MaxPasswordAge,omitempty"`
	PasswordReusePrevention    int32 `xml:"PasswordReusePrevention,omitempty"`
	HardExpiry                 *bool `xml:"HardExpiry,omitempty"`
}

// getAccountPasswordPolicy is GetAccountPasswordPolicy.
func (h *handler) getAccountPasswordPolicy(c *api.Call) (any, error) {
	if err := c.Authorize("iam:GetAccountPasswordPolicy", "*", nil); err != nil {
		return nil, err
	}
	p, err := h.cfg.Store.GetPasswordPolicy(c.Ctx)
	if errors.Is(err, store.ErrNotFound) {
		return nil, noSuchEntity("The Password Policy with domain name %s cannot be found.", h.cfg.AccountID)
	}
	if err != nil {
		return nil, wrap(err, "get password policy")
	}
	x := xmlPasswordPolicy{MinimumPasswordLength: p.MinimumPasswordLength, RequireSymbols: p.RequireSymbols,
		RequireNumbers: p.RequireNumbers, RequireUppercaseCharacters: p.RequireUppercaseCharacters,
		RequireLowercaseCharacters: p.RequireLowercaseCharacters, AllowUsersToChangePassword: p.AllowUsersToChangePassword,
		ExpirePasswords: p.MaxPasswordAge > 0, MaxPasswordAge: p.MaxPasswordAge, PasswordReusePrevention: p.PasswordReusePrevention}
	if p.MaxPasswordAge > 0 {
		x.HardExpiry = &p.HardExpiry
	}
	return struct {
		PasswordPolicy xmlPasswordPolicy `xml:"PasswordPolicy"`
	}{x}, nil
}

// intParam reads an optional integer parameter within [lo, hi].
func intParam(p awsproto.Params, param string, lo, hi int64) (int32, error) {
	v := p.Get(param)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 32)
	switch {
	case err != nil:
		return 0, validation("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must be a number", v, field(param))
	case n < lo:
		return 0, validation("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must have value greater than or equal to %d", v, field(param), lo)
	case n > hi:
		return 0, validation("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must have value less than or equal to %d", v, field(param), hi)
	}
	return int32(n), nil
}

// updateAccountPasswordPolicy is UpdateAccountPasswordPolicy. As in AWS,
// a parameter left out takes its default value (not its current one):
// MinimumPasswordLength 8, the rest false or 0.
func (h *handler) updateAccountPasswordPolicy(c *api.Call) (any, error) {
	var p store.PasswordPolicy
	var err error
	if c.Params.Has("MinimumPasswordLength") {
		if p.MinimumPasswordLength, err = intParam(c.Params, "MinimumPasswordLength", 6, 128); err != nil {
			return nil, err
		}
	} else {
		p.MinimumPasswordLength = 8
	}
	if p.MaxPasswordAge, err = intParam(c.Params, "MaxPasswordAge", 1, 1095); err != nil {
		return nil, err
	}
	if p.PasswordReusePrevention, err = intParam(c.Params, "PasswordReusePrevention", 1, maxPasswordHistory); err != nil {
		return nil, err
	}
	for _, b := range []struct {
		param string
		dst   *bool
	}{
		{"RequireSymbols", &p.RequireSymbols}, {"RequireNumbers", &p.RequireNumbers},
		{"RequireUppercaseCharacters", &p.RequireUppercaseCharacters},
		{"RequireLowercaseCharacters", &p.RequireLowercaseCharacters},
		{"AllowUsersToChangePassword", &p.AllowUsersToChangePassword}, {"HardExpiry", &p.HardExpiry},
	} {
		if *b.dst, _, err = optBool(c.Params, b.param); err != nil {
			return nil, err
		}
	}
	if err := c.Authorize("iam:UpdateAccountPasswordPolicy", "*", nil); err != nil {
		return nil, err
	}
	if err := h.cfg.Store.PutPasswordPolicy(c.Ctx, p); err != nil {
		return nil, wrap(err, "update password policy")
	}
	c.Logger.LogAttrs(c.Ctx, slog.LevelInfo, "password policy updated", slog.String("by", c.Principal.ARN))
	return nil, nil
}

// deleteAccountPasswordPolicy is DeleteAccountPasswordPolicy.
func (h *handler) deleteAccountPasswordPolicy(c *api.Call) (any, error) {
	if err := c.Authorize("iam:DeleteAccountPasswordPolicy", "*", nil); err != nil {
		return nil, err
	}
	err := h.cfg.Store.DeletePasswordPolicy(c.Ctx)
	if errors.Is(err, store.ErrNotFound) {
		return nil, noSuchEntity("The account policy with name PasswordPolicy cannot be found.")
	}
	if err != nil {
		return nil, wrap(err, "delete password policy")
	}
	c.Logger.LogAttrs(c.Ctx, slog.LevelInfo, "password policy deleted", slog.String("by", c.Principal.ARN))
	return nil, nil
}
