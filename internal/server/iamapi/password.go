package iamapi

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/postern/postern/internal/server/passwords"
	"github.com/postern/postern/internal/store"
)

// The account password policy. With none set, AWS applies its default
// policy to IAM users' passwords: at least 8 characters, three of the
// four character classes, not the user's own name.

// passwordSymbols are the characters AWS counts as symbols.
const passwordSymbols = "!@#$%^&*()_+-=[]{}|'"

// maxPasswordHistory is AWS's ceiling on PasswordReusePrevention.
const maxPasswordHistory = 24

// policyOrDefault returns the account's password policy, and whether one
// is set.
func policyOrDefault(ctx context.Context, r store.Repo) (store.PasswordPolicy, bool, error) {
	p, err := r.GetPasswordPolicy(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return store.PasswordPolicy{MinimumPasswordLength: 8, AllowUsersToChangePassword: true}, false, nil
	}
	if err != nil {
		return store.PasswordPolicy{}, false, fmt.Errorf("read password policy: %w", err)
	}
	return p, true, nil
}

// passwordViolations returns why password breaks the policy (AWS's
// sentences), or nil. custom says the policy was set by the account;
// otherwise AWS's default rules apply.
func passwordViolations(p store.PasswordPolicy, custom bool, userName, password string) []string {
	var upper, lower, digit, symbol bool
	for _, r := range password {
		switch {
		case r >= 'A' && r <= 'Z':
			upper = true
		case r >= 'a' && r <= 'z':
			lower = true
		case r >= '0' && r <= '9':
			digit = true
		case strings.ContainsRune(passwordSymbols, r):
			symbol = true
		}
	}
	var why []string
	if n := int(p.MinimumPasswordLength); len([]rune(password)) < n {
		why = append(why, fmt.Sprintf("Password should have a minimum length of %d", n))
	}
	if !custom {
		classes := 0
		for _, b := range []bool{upper, lower, digit, symbol} {
			if b {
				classes++
			}
		}
		if classes < 3 {
			why = append(why, "Password should include at least three of the following character types: uppercase letters, lowercase letters, numbers and symbols")
		}
		if strings.EqualFold(password, userName) {
			why = append(why, "Password should not be the user's name")
		}
		return why
	}
	if p.RequireUppercaseCharacters && !upper {
		why = append(why, "Password should have at least one uppercase letter")
	}
	if p.RequireLowercaseCharacters && !lower {
		why = append(why, "Password should have at least one lowercase letter")
	}
	if p.RequireNumbers && !digit {
		why = append(why, "Password should have at least one number")
	}
	if p.RequireSymbols && !symbol {
		why = append(why, "Password should have at least one symbol")
	}
	return why
}

// reused reports whether password is the current one or, with a reuse
// policy, one of the last PasswordReusePrevention ones.
func reused(p store.PasswordPolicy, lp store.LoginProfile, password string) (bool, error) {
	hashes := []string{lp.PasswordHash}
	if n := int(p.PasswordReusePrevention); n > 1 {
		hashes = append(hashes, lp.History[:min(len(lp.History), n-1)]...)
	}
	for _, h := range hashes {
		if h == "" {
			continue
		}
		same, err := passwords.Verify(h, password)
		if err != nil {
			return false, err
		}
		if same {
			return true, nil
		}
	}
	return false, nil
}

// newPassword makes the profile's next state for a new password: the hash,
// the old one moved into the history (trimmed to what the policy needs).
func newPassword(p store.PasswordPolicy, lp store.LoginProfile, password string, reset bool, now time.Time) (store.LoginProfile, error) {
	h, err := passwords.Hash(password)
	if err != nil {
		return lp, err
	}
	keep := min(int(p.PasswordReusePrevention), maxPasswordHistory)
	hist := lp.History
	if lp.PasswordHash != "" {
		hist = append([]string{lp.PasswordHash}, hist...)
	}
	if len(hist) > keep {
		hist = hist[:keep]
	}
	lp.PasswordHash, lp.PasswordResetRequired, lp.PasswordChanged, lp.History = h, reset, now, hist
	return lp, nil
}

// expired reports whether the profile's password is older than the
// policy's MaxPasswordAge.
func expired(p store.PasswordPolicy, lp store.LoginProfile, now time.Time) bool {
	if p.MaxPasswordAge <= 0 || lp.PasswordChanged.IsZero() {
		return false
	}
	return !now.Before(lp.PasswordChanged.Add(time.Duration(p.MaxPasswordAge) * 24 * time.Hour))
}

// maxPasswordLen is passwordType's maximum length.
const maxPasswordLen = 128

// passwordRe is passwordType's pattern: tab, line feed, carriage return
// and U+0020–U+00FF.
var passwordRe = lazyRegexp(`^[\t\n\r\x{20}-\x{ff}]+$`)
