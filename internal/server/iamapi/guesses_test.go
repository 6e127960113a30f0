package iamapi

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/postern/postern/internal/server/totp"
)

// TestAssumeRoleMFAGuessesThrottled: AssumeRole's TokenCode must not be an
// unlimited oracle for the user's MFA codes. Before, a holder of the
// user's access key (not of the MFA device) could send codes without any
// limit (a 6-digit code, about three valid at a time: minutes at API
// speed) and get an MFA-authenticated session of a role whose trust
// demands MFA. After maxGuesses wrong codes for a device in
// guessWindow, even the right code is refused until the window passes.
func TestAssumeRoleMFAGuessesThrottled(t *testing.T) {
	e := newEnv(t)
	a := e.iam(e.admin)
	e.loginUser("mallory", doc(`{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}`), false)
	serial, seed := e.mfaDevice("mallory")
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + testAccount + `"},"Action":"sts:AssumeRole",
	  "Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}}]}`
	must(a.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("guarded"), AssumeRolePolicyDocument: aws.String(trust)}))(t)
	k := must(a.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("mallory")}))(t).AccessKey
	keyCfg := e.config(*k.AccessKeyId, *k.SecretAccessKey, "")
	assume := func(token string) error {
		_, err := e.sts(keyCfg).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(roleARNOf + "guarded"),
			RoleSessionName: aws.String("guess"), SerialNumber: aws.String(serial), TokenCode: aws.String(token)})
		return err
	}
	e.clock.Advance(60 * time.Second) // past the steps EnableMFADevice used
	step := totp.Step(e.clock.Now())
	for i := range maxGuesses {
		// A code of a far step: wrong now (as a guess almost always is).
		wantErr(t, assume(code(t, seed, step+1000+int64(i))), "AccessDenied", 403, "MultiFactorAuthentication failed")
	}
	wantErr(t, assume(code(t, seed, step)), "AccessDenied", 403, "MultiFactorAuthentication failed")

}

// TestGuessCounterWindow: the count is per device and slides: a device's
// codes are usable again once its failures have left the window, and a
// success forgets them.
func TestGuessCounterWindow(t *testing.T) {
	m := newGuessCounter()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := range maxGuesses {
		if m.blocked("a", t0) {
			t.Fatalf("blocked after %d failures", i)
		}
		m.failed("a", t0.Add(time.Duration(i)*time.Second))
	}
	for _, tc := range []struct {
		serial string
		at     time.Time
		want   bool
	}{
		{"a", t0.Add(time.Minute), true},
		{"b", t0.Add(time.Minute), false},
		{"a", t0.Add(guessWindow - time.Second), true},
		{"a", t0.Add(guessWindow), false}, // the first failure left the window
	} {
		if got := m.blocked(tc.serial, tc.at); got != tc.want {
			t.Errorf("blocked(%s, +%v) = %v, want %v", tc.serial, tc.at.Sub(t0), got, tc.want)
		}
	}
	for i := range maxGuesses {
		m.failed("c", t0.Add(time.Duration(i)))
	}
	m.succeeded("c")
	if m.blocked("c", t0) {
		t.Error("blocked after a success")
	}
}

// TestChangePasswordGuessesThrottled: ChangePassword's OldPassword must not
// be an unlimited password oracle for whoever holds the user's access key
// or a console session (a cookie left in a browser): before, every wrong
// guess answered "The old password was incorrect." without limit, and the
// password found outlives the session (and may open other systems).
// After maxGuesses wrong old passwords for a user in guessWindow, even
// the right one is refused, with an answer that does not tell which.
func TestChangePasswordGuessesThrottled(t *testing.T) {
	e := newEnv(t)
	e.loginUser("oscar", "", false)
	must(e.iam(e.admin).UpdateAccountPasswordPolicy(ctx, &iam.UpdateAccountPasswordPolicyInput{AllowUsersToChangePassword: true}))(t)
	r := must(SignIn(ctx, e.cfg, SignInInput{UserName: "oscar", Password: goodPassword}))(t)
	oscar := e.iam(e.sessionConfig(r))
	change := func(old string) error {
		_, err := oscar.ChangePassword(ctx, &iam.ChangePasswordInput{OldPassword: aws.String(old), NewPassword: aws.String("Brand-New-Pass-9")})
		return err
	}
	for i := range maxGuesses {
		wantErr(t, change("Wrong-Guess-"+string(rune('a'+i))), "InvalidUserType", 400, "The old password was incorrect.")
	}
	wantErr(t, change(goodPassword), "EntityTemporarilyUnmodifiable", 409, "Too many wrong passwords")
	wantErr(t, change("Wrong-Guess-z"), "EntityTemporarilyUnmodifiable", 409, "Too many wrong passwords")
	// The password was not changed.
	must(SignIn(ctx, e.cfg, SignInInput{UserName: "oscar", Password: goodPassword}))(t)
}
