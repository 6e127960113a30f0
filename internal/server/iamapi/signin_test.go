package iamapi

import (
	"bytes"
	"encoding/base32"
	"errors"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/postern/postern/internal/server/identity"
	"github.com/postern/postern/internal/server/passwords"
	"github.com/postern/postern/internal/server/totp"
	"github.com/postern/postern/internal/store"
)

// A password that meets AWS's default policy and the strict test policy.
const goodPassword = "Correct-Horse-9-Battery"

// loginUser creates a user (with an inline policy when doc is not "") and
// a login profile with goodPassword.
func (e *env) loginUser(name, doc string, reset bool) {
	e.t.Helper()
	a := e.iam(e.admin)
	must(a.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(name)}))(e.t)
	if doc != "" {
		must(a.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String(name), PolicyName: aws.String("p"), PolicyDocument: aws.String(doc)}))(e.t)
	}
	must(a.CreateLoginProfile(ctx, &iam.CreateLoginProfileInput{UserName: aws.String(name), Password: aws.String(goodPassword), PasswordResetRequired: reset}))(e.t)
}

// sessionConfig is the SDK configuration of a sign-in's credentials.
func (e *env) sessionConfig(r SignInResult) aws.Config {
	return e.config(r.AccessKeyID, r.SecretAccessKey, r.SessionToken)
}

// mfaDevice creates a virtual MFA device, enables it for userName with
// two consecutive codes, and returns its serial number and seed.
func (e *env) mfaDevice(userName string) (serial, seed string) {
	e.t.Helper()
	a := e.iam(e.admin)
	out := must(a.CreateVirtualMFADevice(ctx, &iam.CreateVirtualMFADeviceInput{VirtualMFADeviceName: aws.String(userName + "-phone")}))(e.t)
	seed = string(out.VirtualMFADevice.Base32StringSeed)
	step := totp.Step(e.clock.Now())
	must(a.EnableMFADevice(ctx, &iam.EnableMFADeviceInput{UserName: aws.String(userName), SerialNumber: out.VirtualMFADevice.SerialNumber,
		AuthenticationCode1: aws.String(code(e.t, seed, step-1)), AuthenticationCode2: aws.String(code(e.t, seed, step))}))(e.t)
	return *out.VirtualMFADevice.SerialNumber, seed
}

// code is the TOTP code of a step.
func code(t *testing.T, seed string, step int64) string {
	t.Helper()
	c, err := totp.Code(seed, step)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestLoginProfiles: the login-profile actions through the AWS SDK, with
// AWS's shapes and errors, and DeleteUser's conflicts.
func TestLoginProfiles(t *testing.T) {
	e := newEnv(t)
	a := e.iam(e.admin)
	must(a.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("alice")}))(t)

	create := func(user, pw string, reset bool) error {
		_, err := a.CreateLoginProfile(ctx, &iam.CreateLoginProfileInput{UserName: aws.String(user), Password: aws.String(pw), PasswordResetRequired: reset})
		return err
	}
	refused := []struct {
		name, user, pw, code string
		status               int
		msg                  string
	}{
		{"too short for the default policy", "alice", "Ab1!", "PasswordPolicyViolation", 400, "minimum length of 8"},
		{"two character classes", "alice", "abcdefgh123", "PasswordPolicyViolation", 400, "three of the following"},
		{"the user's name", "alice", "aLiCe", "PasswordPolicyViolation", 400, "minimum length"},
		{"not in passwordType", "alice", "Abc-1234\x01", "ValidationError", 400, "regular expression"},
		{"too long", "alice", strings.Repeat("Ab1-", 33), "ValidationError", 400, "length less than or equal to 128"},
		{"missing user", "nobody", goodPassword, "NoSuchEntity", 404, "nobody"},
	}
	for _, tc := range refused {
		t.Run("refused/"+tc.name, func(t *testing.T) {
			before := e.snapshot()
			wantErr(t, create(tc.user, tc.pw, false), tc.code, tc.status, tc.msg)
			if got := e.snapshot(); got != before {
				t.Errorf("a refused CreateLoginProfile changed the store:\n%s\nwas\n%s", got, before)
			}
			if _, err := e.store.GetLoginProfile(ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("login profile after refusal: %v", err)
			}
		})
	}

	out := must(a.CreateLoginProfile(ctx, &iam.CreateLoginProfileInput{UserName: aws.String("alice"), Password: aws.String(goodPassword), PasswordResetRequired: true}))(t)
	if lp := out.LoginProfile; aws.ToString(lp.UserName) != "alice" || !lp.PasswordResetRequired || lp.CreateDate == nil {
		t.Fatalf("CreateLoginProfile = %+v", lp)
	}
	body, _ := e.rec.last()
	if strings.Contains(body, goodPassword) {
		t.Fatal("the response shows the password")
	}
	if strings.Contains(e.logs.String(), goodPassword) {
		t.Fatal("the log shows the password")
	}
	stored, err := e.store.GetLoginProfile(ctx, "alice")
	if err != nil || !strings.HasPrefix(stored.PasswordHash, "$argon2id$v=19$") || strings.Contains(stored.PasswordHash, goodPassword) {
		t.Fatalf("stored profile %+v, %v: want an argon2id hash", stored, err)
	}
	wantErr(t, create("alice", goodPassword, false), "EntityAlreadyExists", 409, "Login Profile for user alice already exists.")

	got := must(a.GetLoginProfile(ctx, &iam.GetLoginProfileInput{UserName: aws.String("ALICE")}))(t)
	if aws.ToString(got.LoginProfile.UserName) != "alice" || !got.LoginProfile.PasswordResetRequired {
		t.Fatalf("GetLoginProfile = %+v", got.LoginProfile)
	}
	must(a.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("bob")}))(t)
	_, err = a.GetLoginProfile(ctx, &iam.GetLoginProfileInput{UserName: aws.String("bob")})
	wantErr(t, err, "NoSuchEntity", 404, "Login Profile for User bob cannot be found.")

	// UpdateLoginProfile: the flag alone, then a new password.
	must(a.UpdateLoginProfile(ctx, &iam.UpdateLoginProfileInput{UserName: aws.String("alice"), PasswordResetRequired: aws.Bool(false)}))(t)
	if p, _ := e.store.GetLoginProfile(ctx, "alice"); p.PasswordResetRequired || p.PasswordHash != stored.PasswordHash {
		t.Fatalf("after clearing the flag: %+v", p)
	}
	_, err = a.UpdateLoginProfile(ctx, &iam.UpdateLoginProfileInput{UserName: aws.String("alice"), Password: aws.String("short")})
	wantErr(t, err, "PasswordPolicyViolation", 400, "minimum length")
	must(a.UpdateLoginProfile(ctx, &iam.UpdateLoginProfileInput{UserName: aws.String("alice"), Password: aws.String("Another-Secret-42")}))(t)
	if _, err := SignIn(ctx, e.cfg, SignInInput{UserName: "alice", Password: "Another-Secret-42"}); err != nil {
		t.Fatalf("sign in with the updated password: %v", err)
	}
	_, err = a.UpdateLoginProfile(ctx, &iam.UpdateLoginProfileInput{UserName: aws.String("bob"), PasswordResetRequired: aws.Bool(true)})
	wantErr(t, err, "NoSuchEntity", 404, "bob")

	// DeleteUser waits for the login profile, as in AWS.
	_, err = a.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String("alice")})
	wantErr(t, err, "DeleteConflict", 409, "Cannot delete entity, must delete login profile first.")
	must(a.DeleteLoginProfile(ctx, &iam.DeleteLoginProfileInput{UserName: aws.String("alice")}))(t)
	_, err = a.DeleteLoginProfile(ctx, &iam.DeleteLoginProfileInput{UserName: aws.String("alice")})
	wantErr(t, err, "NoSuchEntity", 404, "Login Profile for User alice cannot be found.")
	must(a.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String("alice")}))(t)

	// A user without iam:*LoginProfile is refused with AWS's message.
	bob := e.user("carol", "")
	_, err = e.iam(bob).CreateLoginProfile(ctx, &iam.CreateLoginProfileInput{UserName: aws.String("bob"), Password: aws.String(goodPassword)})
	wantErr(t, err, "AccessDenied", 403, "iam:CreateLoginProfile on resource: arn:aws:iam::123456789012:user/bob")
}

// TestPasswordPolicy: the account password policy's actions and its
// enforcement on CreateLoginProfile, ChangePassword and sign-in.
func TestPasswordPolicy(t *testing.T) {
	e := newEnv(t)
	a := e.iam(e.admin)
	_, err := a.GetAccountPasswordPolicy(ctx, &iam.GetAccountPasswordPolicyInput{})
	wantErr(t, err, "NoSuchEntity", 404, "The Password Policy with domain name 123456789012 cannot be found.")
	_, err = a.DeleteAccountPasswordPolicy(ctx, &iam.DeleteAccountPasswordPolicyInput{})
	wantErr(t, err, "NoSuchEntity", 404, "")
	_, err = a.UpdateAccountPasswordPolicy(ctx, &iam.UpdateAccountPasswordPolicyInput{MinimumPasswordLength: aws.Int32(5)})
	wantErr(t, err, "ValidationError", 400, "greater than or equal to 6")
	_, err = a.UpdateAccountPasswordPolicy(ctx, &iam.UpdateAccountPasswordPolicyInput{PasswordReusePrevention: aws.Int32(25)})
	wantErr(t, err, "ValidationError", 400, "less than or equal to 24")

	must(a.UpdateAccountPasswordPolicy(ctx, &iam.UpdateAccountPasswordPolicyInput{
		MinimumPasswordLength: aws.Int32(12), RequireSymbols: true, RequireNumbers: true, RequireUppercaseCharacters: true,
		RequireLowercaseCharacters: true, AllowUsersToChangePassword: true, PasswordReusePrevention: aws.Int32(3),
		MaxPasswordAge: aws.Int32(90), HardExpiry: aws.Bool(false),
	}))(t)
	pp := must(a.GetAccountPasswordPolicy(ctx, &iam.GetAccountPasswordPolicyInput{}))(t).PasswordPolicy
	if aws.ToInt32(pp.MinimumPasswordLength) != 12 || !pp.RequireSymbols || !pp.RequireNumbers || !pp.RequireUppercaseCharacters ||
		!pp.RequireLowercaseCharacters || !pp.AllowUsersToChangePassword || !pp.ExpirePasswords || aws.ToInt32(pp.MaxPasswordAge) != 90 ||
		aws.ToInt32(pp.PasswordReusePrevention) != 3 || pp.HardExpiry == nil || *pp.HardExpiry {
		t.Fatalf("GetAccountPasswordPolicy = %+v", pp)
	}

	must(a.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("alice")}))(t)
	violations := []struct{ pw, msg string }{
		{"Sh0rt-pass", "minimum length of 12"},
		{"no-uppercase-42", "at least one uppercase letter"},
		{"NO-LOWERCASE-42", "at least one lowercase letter"},
		{"No-Numbers-Here", "at least one number"},
		{"NoSymbols12345", "at least one symbol"},
	}
	for _, v := range violations {
		t.Run("violation/"+v.msg, func(t *testing.T) {
			_, err := a.CreateLoginProfile(ctx, &iam.CreateLoginProfileInput{UserName: aws.String("alice"), Password: aws.String(v.pw)})
			wantErr(t, err, "PasswordPolicyViolation", 400, v.msg)
		})
	}
	must(a.CreateLoginProfile(ctx, &iam.CreateLoginProfileInput{UserName: aws.String("alice"), Password: aws.String(goodPassword)}))(t)

	// ChangePassword by alice herself, with a console session (her only
	// credential) and no IAM policy: AllowUsersToChangePassword grants it.
	r := must(SignIn(ctx, e.cfg, SignInInput{UserName: "alice", Password: goodPassword}))(t)
	alice := e.iam(e.sessionConfig(r))
	change := func(old, new string) error {
		_, err := alice.ChangePassword(ctx, &iam.ChangePasswordInput{OldPassword: aws.String(old), NewPassword: aws.String(new)})
		return err
	}
	wantErr(t, change("Wrong-Password-1", "Brand-New-Pass-1"), "InvalidUserType", 400, "The old password was incorrect.")
	wantErr(t, change(goodPassword, goodPassword), "PasswordPolicyViolation", 400, "last 3 passwords")
	wantErr(t, change(goodPassword, "weak"), "PasswordPolicyViolation", 400, "minimum length of 12")
	if err := change(goodPassword, "Brand-New-Pass-1"); err != nil {
		t.Fatalf("ChangePassword: %v", err)
	}
	if err := change("Brand-New-Pass-1", "Brand-New-Pass-2"); err != nil {
		t.Fatalf("ChangePassword: %v", err)
	}
	// Reuse prevention covers the last three passwords.
	wantErr(t, change("Brand-New-Pass-2", goodPassword), "PasswordPolicyViolation", 400, "last 3 passwords")
	if _, err := SignIn(ctx, e.cfg, SignInInput{UserName: "alice", Password: goodPassword}); !errors.Is(err, ErrSignInFailed) {
		t.Fatalf("sign in with the old password: %v, want ErrSignInFailed", err)
	}
	must(SignIn(ctx, e.cfg, SignInInput{UserName: "alice", Password: "Brand-New-Pass-2"}))(t)

	// Without AllowUsersToChangePassword, alice needs iam:ChangePassword.
	must(a.UpdateAccountPasswordPolicy(ctx, &iam.UpdateAccountPasswordPolicyInput{MinimumPasswordLength: aws.Int32(12)}))(t)
	wantErr(t, change("Brand-New-Pass-2", "Brand-New-Pass-3"), "AccessDenied", 403, "iam:ChangePassword on resource: arn:aws:iam::123456789012:user/alice")
	must(a.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("pw"),
		PolicyDocument: aws.String(doc(allow("iam:ChangePassword", "arn:aws:iam::*:user/${aws:username}")))}))(t)
	if err := change("Brand-New-Pass-2", "Brand-New-Pass-3"); err != nil {
		t.Fatalf("ChangePassword with iam:ChangePassword: %v", err)
	}

	// A role session is not a user.
	must(a.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("ops"), AssumeRolePolicyDocument: aws.String(trustOf(testAccount))}))(t)
	cr := must(e.sts(e.admin).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(roleARNOf + "ops"), RoleSessionName: aws.String("ss")}))(t).Credentials
	_, err = e.iam(e.config(*cr.AccessKeyId, *cr.SecretAccessKey, *cr.SessionToken)).ChangePassword(ctx,
		&iam.ChangePasswordInput{OldPassword: aws.String("x"), NewPassword: aws.String("y")})
	wantErr(t, err, "InvalidUserType", 400, "")

	must(a.DeleteAccountPasswordPolicy(ctx, &iam.DeleteAccountPasswordPolicyInput{}))(t)
	_, err = a.GetAccountPasswordPolicy(ctx, &iam.GetAccountPasswordPolicyInput{})
	wantErr(t, err, "NoSuchEntity", 404, "")
}

// TestVirtualMFA: the virtual MFA device actions through the AWS SDK.
func TestVirtualMFA(t *testing.T) {
	e := newEnv(t)
	a := e.iam(e.admin)
	must(a.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("alice")}))(t)
	out := must(a.CreateVirtualMFADevice(ctx, &iam.CreateVirtualMFADeviceInput{VirtualMFADeviceName: aws.String("alice-phone"),
		Tags: []iamtypes.Tag{{Key: aws.String("k"), Value: aws.String("v")}}}))(t).VirtualMFADevice
	serial := aws.ToString(out.SerialNumber)
	if serial != "arn:aws:iam::123456789012:mfa/alice-phone" {
		t.Fatalf("SerialNumber = %q", serial)
	}
	seed := string(out.Base32StringSeed)
	if raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(seed); err != nil || len(raw) != 40 || len(seed) != 64 {
		t.Fatalf("Base32StringSeed %q: %v", seed, err)
	}
	img, err := png.Decode(bytes.NewReader(out.QRCodePNG))
	if err != nil || img.Bounds().Dx() < 100 {
		t.Fatalf("QRCodePNG is not a PNG QR code: %v", err)
	}
	// The seed is sealed at rest.
	d, err := e.store.GetMFADevice(ctx, serial)
	if err != nil || bytes.Contains(d.SeedSealed, []byte(seed)) {
		t.Fatalf("stored device %v: the seed is not sealed", err)
	}
	if strings.Contains(e.logs.String(), seed) {
		t.Fatal("the log shows the seed")
	}
	_, err = a.CreateVirtualMFADevice(ctx, &iam.CreateVirtualMFADeviceInput{VirtualMFADeviceName: aws.String("ALICE-PHONE")})
	wantErr(t, err, "EntityAlreadyExists", 409, "MFADevice entity at the same path and name already exists.")

	step := totp.Step(e.clock.Now())
	enable := func(user, serial, c1, c2 string) error {
		_, err := a.EnableMFADevice(ctx, &iam.EnableMFADeviceInput{UserName: aws.String(user), SerialNumber: aws.String(serial),
			AuthenticationCode1: aws.String(c1), AuthenticationCode2: aws.String(c2)})
		return err
	}
	refused := []struct {
		name, user, serial, c1, c2, code string
		status                           int
	}{
		{"wrong codes", "alice", serial, "000000", "000000", "InvalidAuthenticationCode", 403},
		{"codes not consecutive", "alice", serial, code(t, seed, step), code(t, seed, step-1), "InvalidAuthenticationCode", 403},
		{"same code twice", "alice", serial, code(t, seed, step), code(t, seed, step), "InvalidAuthenticationCode", 403},
		{"codes far in the past", "alice", serial, code(t, seed, step-10), code(t, seed, step-9), "InvalidAuthenticationCode", 403},
		{"not six digits", "alice", serial, "12345", "123456", "ValidationError", 400},
		{"missing device", "alice", "arn:aws:iam::123456789012:mfa/none", code(t, seed, step-1), code(t, seed, step), "NoSuchEntity", 404},
		{"missing user", "nobody", serial, code(t, seed, step-1), code(t, seed, step), "NoSuchEntity", 404},
	}
	for _, tc := range refused {
		t.Run("enable refused/"+tc.name, func(t *testing.T) {
			wantErr(t, enable(tc.user, tc.serial, tc.c1, tc.c2), tc.code, tc.status, "")
		})
	}
	if err := enable("alice", serial, code(t, seed, step-1), code(t, seed, step)); err != nil {
		t.Fatalf("EnableMFADevice: %v", err)
	}
	wantErr(t, enable("alice", serial, code(t, seed, step), code(t, seed, step+1)), "EntityAlreadyExists", 409, "")

	list := must(a.ListMFADevices(ctx, &iam.ListMFADevicesInput{UserName: aws.String("alice")}))(t).MFADevices
	if len(list) != 1 || aws.ToString(list[0].SerialNumber) != serial || aws.ToString(list[0].UserName) != "alice" || list[0].EnableDate == nil {
		t.Fatalf("ListMFADevices = %+v", list)
	}
	must(a.CreateVirtualMFADevice(ctx, &iam.CreateVirtualMFADeviceInput{VirtualMFADeviceName: aws.String("spare")}))(t)
	for _, tc := range []struct {
		status iamtypes.AssignmentStatusType
		want   []string
	}{
		{"", []string{serial, "arn:aws:iam::123456789012:mfa/spare"}},
		{iamtypes.AssignmentStatusTypeAssigned, []string{serial}},
		{iamtypes.AssignmentStatusTypeUnassigned, []string{"arn:aws:iam::123456789012:mfa/spare"}},
	} {
		vs := must(a.ListVirtualMFADevices(ctx, &iam.ListVirtualMFADevicesInput{AssignmentStatus: tc.status}))(t).VirtualMFADevices
		var got []string
		for _, v := range vs {
			got = append(got, aws.ToString(v.SerialNumber))
			if len(v.Base32StringSeed) > 0 || len(v.QRCodePNG) > 0 {
				t.Errorf("ListVirtualMFADevices shows the seed of %s", aws.ToString(v.SerialNumber))
			}
			if aws.ToString(v.SerialNumber) == serial && (v.User == nil || aws.ToString(v.User.UserName) != "alice" || v.EnableDate == nil) {
				t.Errorf("assigned device = %+v", v)
			}
		}
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("ListVirtualMFADevices(%q) = %v, want %v", tc.status, got, tc.want)
		}
	}

	_, err = a.DeleteVirtualMFADevice(ctx, &iam.DeleteVirtualMFADeviceInput{SerialNumber: aws.String(serial)})
	wantErr(t, err, "DeleteConflict", 409, "")
	_, err = a.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String("alice")})
	wantErr(t, err, "DeleteConflict", 409, "Cannot delete entity, must remove MFA device first.")
	must(a.DeactivateMFADevice(ctx, &iam.DeactivateMFADeviceInput{UserName: aws.String("alice"), SerialNumber: aws.String(serial)}))(t)
	_, err = a.DeactivateMFADevice(ctx, &iam.DeactivateMFADeviceInput{UserName: aws.String("alice"), SerialNumber: aws.String(serial)})
	wantErr(t, err, "NoSuchEntity", 404, "")
	must(a.DeleteVirtualMFADevice(ctx, &iam.DeleteVirtualMFADeviceInput{SerialNumber: aws.String(serial)}))(t)
	_, err = a.DeleteVirtualMFADevice(ctx, &iam.DeleteVirtualMFADeviceInput{SerialNumber: aws.String(serial)})
	wantErr(t, err, "NoSuchEntity", 404, "")
	must(a.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String("alice")}))(t)

	// A user without the permission is refused on the device's ARN.
	carol := e.user("carol", "")
	_, err = e.iam(carol).CreateVirtualMFADevice(ctx, &iam.CreateVirtualMFADeviceInput{VirtualMFADeviceName: aws.String("x")})
	wantErr(t, err, "AccessDenied", 403, "iam:CreateVirtualMFADevice on resource: arn:aws:iam::123456789012:mfa/x")
}

// TestSignIn: SignIn's answers for each case, and the sessions it issues.
func TestSignIn(t *testing.T) {
	e := newEnv(t)
	e.loginUser("alice", "", false)
	e.loginUser("reset", "", true)
	must(e.iam(e.admin).CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("noprofile")}))(t)
	if u := must(e.iam(e.admin).GetUser(ctx, &iam.GetUserInput{UserName: aws.String("alice")}))(t).User; u.PasswordLastUsed != nil {
		t.Fatalf("PasswordLastUsed %v before any sign-in", u.PasswordLastUsed)
	}
	e.loginUser("mfa", "", false)
	_, seed := e.mfaDevice("mfa")
	step := totp.Step(e.clock.Now()) // used by EnableMFADevice

	cases := []struct {
		name    string
		in      SignInInput
		want    error
		wantMFA bool
	}{
		{"unknown user", SignInInput{UserName: "nobody", Password: goodPassword}, ErrSignInFailed, false},
		{"no login profile", SignInInput{UserName: "noprofile", Password: goodPassword}, ErrSignInFailed, false},
		{"wrong password", SignInInput{UserName: "alice", Password: goodPassword + "x"}, ErrSignInFailed, false},
		{"empty password", SignInInput{UserName: "alice"}, ErrSignInFailed, false},
		{"right password", SignInInput{UserName: "ALICE", Password: goodPassword, SourceIP: "192.0.2.7"}, nil, false},
		{"MFA code missing", SignInInput{UserName: "mfa", Password: goodPassword}, ErrMFARequired, false},
		{"MFA code wrong", SignInInput{UserName: "mfa", Password: goodPassword, MFACode: "000000"}, ErrMFAInvalid, false},
		{"MFA code already used at enable", SignInInput{UserName: "mfa", Password: goodPassword, MFACode: code(t, seed, step)}, ErrMFAInvalid, false},
		{"MFA code with a wrong password", SignInInput{UserName: "mfa", Password: "nope", MFACode: code(t, seed, step+1)}, ErrSignInFailed, false},
		{"MFA code right", SignInInput{UserName: "mfa", Password: goodPassword, MFACode: code(t, seed, step+1)}, nil, true},
		{"MFA code replayed", SignInInput{UserName: "mfa", Password: goodPassword, MFACode: code(t, seed, step+1)}, ErrMFAInvalid, false},
		{"reset required", SignInInput{UserName: "reset", Password: goodPassword}, ErrPasswordResetRequired, false},
		{"reset to a weak password", SignInInput{UserName: "reset", Password: goodPassword, NewPassword: "weak"}, ErrPasswordPolicy, false},
		{"reset to the same password", SignInInput{UserName: "reset", Password: goodPassword, NewPassword: goodPassword}, ErrPasswordPolicy, false},
		{"reset done", SignInInput{UserName: "reset", Password: goodPassword, NewPassword: "Fresh-Password-77"}, nil, false},
		{"old password after reset", SignInInput{UserName: "reset", Password: goodPassword}, ErrSignInFailed, false},
		{"new password after reset", SignInInput{UserName: "reset", Password: "Fresh-Password-77"}, nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := e.snapshot()
			r, err := SignIn(ctx, e.cfg, tc.in)
			if !errors.Is(err, tc.want) {
				t.Fatalf("SignIn: %v, want %v", err, tc.want)
			}
			if tc.want != nil {
				if r.AccessKeyID != "" || r.SessionToken != "" {
					t.Fatalf("a refused sign-in returned credentials: %+v", r)
				}
				if e.snapshot() != before {
					t.Fatal("a refused sign-in changed the store")
				}
				return
			}
			if !strings.HasPrefix(r.AccessKeyID, "ASIA") || r.MFAUsed != tc.wantMFA || !strings.EqualFold(r.User.UserName, tc.in.UserName) {
				t.Fatalf("SignIn = %+v", r)
			}
			if d := r.Expiration.Sub(e.clock.Now()); d > DefaultConsoleSession || d < DefaultConsoleSession-time.Millisecond {
				t.Errorf("session lasts %v, want %v", d, DefaultConsoleSession)
			}
			// The credentials work with the AWS SDK, as the user.
			id := must(e.sts(e.sessionConfig(r)).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}))(t)
			if aws.ToString(id.Arn) != r.User.ARN || aws.ToString(id.UserId) != r.User.UserID {
				t.Fatalf("GetCallerIdentity = %s %s, want %s", aws.ToString(id.Arn), aws.ToString(id.UserId), r.User.ARN)
			}
			// GetUser shows the sign-in as PasswordLastUsed.
			gu := must(e.iam(e.admin).GetUser(ctx, &iam.GetUserInput{UserName: aws.String(tc.in.UserName)}))(t).User
			if gu.PasswordLastUsed == nil || gu.PasswordLastUsed.Unix() != e.clock.Now().Unix() {
				t.Errorf("GetUser PasswordLastUsed = %v, want %v", gu.PasswordLastUsed, e.clock.Now())
			}
			s, err := e.store.GetSession(ctx, r.AccessKeyID)
			if err != nil || s.UserID != r.User.UserID || s.RoleID != "" || s.MFAAuthenticated != tc.wantMFA || s.SourceIP != tc.in.SourceIP {
				t.Fatalf("stored session %+v, %v", s, err)
			}
		})
	}

	// The policy error carries AWS's reason.
	_, err := SignIn(ctx, e.cfg, SignInInput{UserName: "alice", Password: goodPassword, NewPassword: "x"})
	if err != nil {
		t.Fatalf("NewPassword without a reset requirement is ignored: %v", err)
	}
	must(e.iam(e.admin).UpdateLoginProfile(ctx, &iam.UpdateLoginProfileInput{UserName: aws.String("alice"), PasswordResetRequired: aws.Bool(true)}))(t)
	_, err = SignIn(ctx, e.cfg, SignInInput{UserName: "alice", Password: goodPassword, NewPassword: "alllowercase"})
	if !errors.Is(err, ErrPasswordPolicy) || !strings.Contains(err.Error(), "three of the following") {
		t.Fatalf("weak new password: %v", err)
	}
}

// TestSignInExpiry: a password older than MaxPasswordAge must be reset at
// sign-in; with HardExpiry only an administrator can reset it.
func TestSignInExpiry(t *testing.T) {
	e := newEnv(t)
	e.loginUser("alice", "", false)
	a := e.iam(e.admin)
	must(a.UpdateAccountPasswordPolicy(ctx, &iam.UpdateAccountPasswordPolicyInput{MaxPasswordAge: aws.Int32(1)}))(t)
	must(SignIn(ctx, e.cfg, SignInInput{UserName: "alice", Password: goodPassword}))(t)
	later := e.cfg
	later.Now = func() time.Time { return e.clock.Now().Add(25 * time.Hour) }
	if _, err := SignIn(ctx, later, SignInInput{UserName: "alice", Password: goodPassword}); !errors.Is(err, ErrPasswordResetRequired) {
		t.Fatalf("expired password: %v, want ErrPasswordResetRequired", err)
	}
	must(a.UpdateAccountPasswordPolicy(ctx, &iam.UpdateAccountPasswordPolicyInput{MaxPasswordAge: aws.Int32(1), HardExpiry: aws.Bool(true)}))(t)
	if _, err := SignIn(ctx, later, SignInInput{UserName: "alice", Password: goodPassword, NewPassword: "Another-Pass-1"}); !errors.Is(err, ErrSignInFailed) {
		t.Fatalf("hard-expired password: %v, want ErrSignInFailed", err)
	}
	// The administrator sets a new password that must be changed.
	must(a.UpdateLoginProfile(ctx, &iam.UpdateLoginProfileInput{UserName: aws.String("alice"), Password: aws.String("Admin-Set-Pass-1"), PasswordResetRequired: aws.Bool(true)}))(t)
	r, err := SignIn(ctx, e.cfg, SignInInput{UserName: "alice", Password: "Admin-Set-Pass-1", NewPassword: "Alice-Own-Pass-2"})
	if err != nil || r.AccessKeyID == "" {
		t.Fatalf("sign-in with the reset: %v", err)
	}
}

// TestSignInKDFWork: every failed sign-in (an unknown user, a user
// without a login profile, a wrong or empty password, a name or password
// too long to look up, a wrong password with an MFA code, a hard-expired
// password) runs the password KDF exactly once, at the cost of a real
// verification and of a new hash, so that its duration reveals nothing
// (no user-enumeration oracle by time). The work is counted
// (passwords.KDFRuns), not timed: the test cannot pass or fail with the
// machine's load, and fails if any path skips its dummy verification.
func TestSignInKDFWork(t *testing.T) {
	e := newEnv(t)
	e.loginUser("alice", "", false)
	e.loginUser("mfa", "", false)
	_, seed := e.mfaDevice("mfa")
	must(e.iam(e.admin).CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("noprofile")}))(t)
	must(e.iam(e.admin).UpdateAccountPasswordPolicy(ctx, &iam.UpdateAccountPasswordPolicyInput{MaxPasswordAge: aws.Int32(1), HardExpiry: aws.Bool(true)}))(t)
	later := e.cfg // every password has expired, and only an administrator can reset it
	later.Now = func() time.Time { return e.clock.Now().Add(25 * time.Hour) }

	// The cost of a new hash: what every path must spend.
	h, err := passwords.Hash("x")
	if err != nil {
		t.Fatal(err)
	}
	hp, err := passwords.Parse(h)
	if err != nil {
		t.Fatal(err)
	}
	want := hp.Cost()

	cases := []struct {
		name string
		cfg  Config
		in   SignInInput
		err  error
	}{
		{"right password (the reference)", e.cfg, SignInInput{UserName: "alice", Password: goodPassword}, nil},
		{"unknown user", e.cfg, SignInInput{UserName: "nobody-at-all", Password: "wrong-password"}, ErrSignInFailed},
		{"no login profile", e.cfg, SignInInput{UserName: "noprofile", Password: "wrong-password"}, ErrSignInFailed},
		{"wrong password", e.cfg, SignInInput{UserName: "alice", Password: "wrong-password"}, ErrSignInFailed},
		{"empty password", e.cfg, SignInInput{UserName: "alice"}, ErrSignInFailed},
		{"empty user name", e.cfg, SignInInput{Password: "wrong-password"}, ErrSignInFailed},
		{"user name too long", e.cfg, SignInInput{UserName: strings.Repeat("a", maxExistingUserName+1), Password: "wrong-password"}, ErrSignInFailed},
		{"password too long", e.cfg, SignInInput{UserName: "alice", Password: strings.Repeat("x", 4*maxPasswordLen+1)}, ErrSignInFailed},
		{"wrong password with an MFA code", e.cfg, SignInInput{UserName: "mfa", Password: "wrong-password", MFACode: code(t, seed, totp.Step(e.clock.Now())+1)}, ErrSignInFailed},
		{"hard-expired password", later, SignInInput{UserName: "alice", Password: goodPassword}, ErrSignInFailed},
		{"hard-expired password, wrong", later, SignInInput{UserName: "alice", Password: "wrong-password"}, ErrSignInFailed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := passwords.KDFRuns()
			_, err := SignIn(ctx, tc.cfg, tc.in)
			after, cost := passwords.KDFRuns()
			if !errors.Is(err, tc.err) {
				t.Fatalf("SignIn: %v, want %v", err, tc.err)
			}
			if after-before != 1 {
				t.Fatalf("the sign-in ran the password KDF %d times, want once", after-before)
			}
			if cost != want {
				t.Fatalf("the sign-in's KDF cost %+v, a real verification's %+v", cost, want)
			}
		})
	}
}

// TestUserSessions: a console session resolves, without a signature, to
// its user (SessionPrincipal); it dies with sign-out and with the user;
// AssumeRole from an MFA session carries MFA into the role session, and
// AssumeRole checks SerialNumber and TokenCode.
func TestUserSessions(t *testing.T) {
	e := newEnv(t)
	authn, err := identity.NewAuthenticator(identity.AuthConfig{Store: e.store, Sealer: e.sealer, AccountID: testAccount, Region: "us-east-1", Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	a := e.iam(e.admin)
	mfaOnly := doc(`{"Effect":"Allow","Action":["sts:AssumeRole","iam:GetUser"],"Resource":"*"}`,
		`{"Effect":"Allow","Action":"iam:ListUsers","Resource":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}}`)
	e.loginUser("alice", mfaOnly, false)
	serial, seed := e.mfaDevice("alice")
	step := totp.Step(e.clock.Now())

	plain := must(IssueUserSession(ctx, e.cfg, "alice", "192.0.2.1", time.Hour))(t)
	mfa := must(SignIn(ctx, e.cfg, SignInInput{UserName: "alice", Password: goodPassword, MFACode: code(t, seed, step+1), Duration: 2 * time.Hour}))(t)
	if plain.MFAUsed || !mfa.MFAUsed {
		t.Fatalf("MFAUsed: plain %v, mfa %v", plain.MFAUsed, mfa.MFAUsed)
	}

	// SessionPrincipal.
	p, secret, err := authn.SessionPrincipal(ctx, mfa.AccessKeyID, mfa.SessionToken)
	if err != nil || secret != mfa.SecretAccessKey || p.Type != identity.TypeIAMUser || p.ARN != mfa.User.ARN ||
		p.AccessKeyID != mfa.AccessKeyID || !p.MFAAuthenticated || p.AuthTime.IsZero() || !p.SessionExpires.Equal(mfa.Expiration) {
		t.Fatalf("SessionPrincipal = %+v, %v", p, err)
	}
	for _, bad := range []struct{ name, akid, token string }{
		{"wrong token", mfa.AccessKeyID, plain.SessionToken},
		{"empty token", mfa.AccessKeyID, ""},
		{"unknown id", "ASIAUNKNOWN000000000", mfa.SessionToken},
		{"long-term key id", "AKIAUNKNOWN000000000", mfa.SessionToken},
	} {
		if _, _, err := authn.SessionPrincipal(ctx, bad.akid, bad.token); err == nil {
			t.Errorf("SessionPrincipal with %s succeeded", bad.name)
		}
	}

	// aws:MultiFactorAuthPresent through the real handler.
	_, err = e.iam(e.sessionConfig(plain)).ListUsers(ctx, &iam.ListUsersInput{})
	wantErr(t, err, "AccessDenied", 403, "iam:ListUsers")
	must(e.iam(e.sessionConfig(mfa)).ListUsers(ctx, &iam.ListUsersInput{}))(t)

	// Switch role: the role's trust demands MFA.
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + testAccount + `"},"Action":"sts:AssumeRole",
	  "Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}}]}`
	must(a.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("ops"), AssumeRolePolicyDocument: aws.String(trust)}))(t)
	must(a.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("ops"), PolicyName: aws.String("p"), PolicyDocument: aws.String(mfaOnly)}))(t)
	assume := func(cfg aws.Config, serial, token string) (*sts.AssumeRoleOutput, error) {
		in := &sts.AssumeRoleInput{RoleArn: aws.String(roleARNOf + "ops"), RoleSessionName: aws.String("console")}
		if serial != "" {
			in.SerialNumber = aws.String(serial)
		}
		if token != "" {
			in.TokenCode = aws.String(token)
		}
		return e.sts(cfg).AssumeRole(ctx, in)
	}
	_, err = assume(e.sessionConfig(plain), "", "")
	wantErr(t, err, "AccessDenied", 403, "sts:AssumeRole")
	out := must(assume(e.sessionConfig(mfa), "", ""))(t)
	roleCfg := e.config(*out.Credentials.AccessKeyId, *out.Credentials.SecretAccessKey, *out.Credentials.SessionToken)
	must(e.iam(roleCfg).ListUsers(ctx, &iam.ListUsersInput{}))(t) // the role session has MFA too
	rs, err := e.store.GetSession(ctx, *out.Credentials.AccessKeyId)
	if err != nil || !rs.MFAAuthenticated || rs.AuthTime.IsZero() {
		t.Fatalf("role session %+v, %v: want MFA carried over", rs, err)
	}

	// AssumeRole with SerialNumber and TokenCode, from alice's access key.
	k := must(a.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("alice")}))(t).AccessKey
	keyCfg := e.config(*k.AccessKeyId, *k.SecretAccessKey, "")
	refusals := []struct{ name, serial, token, code string }{
		{"no MFA", "", "", "AccessDenied"},
		{"serial without code", serial, "", "AccessDenied"},
		{"wrong code", serial, "000000", "AccessDenied"},
		{"code already used at sign-in", serial, code(t, seed, step+1), "AccessDenied"},
		{"another user's device", "arn:aws:iam::123456789012:mfa/nobody", code(t, seed, step), "AccessDenied"},
		{"malformed code", serial, "12ab56", "ValidationError"},
	}
	for _, tc := range refusals {
		t.Run("assume refused/"+tc.name, func(t *testing.T) {
			_, err := assume(keyCfg, tc.serial, tc.token)
			c, _, _ := apiError(err)
			if c != tc.code {
				t.Fatalf("AssumeRole: %v, want %s", err, tc.code)
			}
		})
	}
	e.clock.Advance(60 * time.Second) // a step after the one sign-in used, so a fresh code exists
	fresh := code(t, seed, totp.Step(e.clock.Now()))
	out = must(assume(keyCfg, serial, fresh))(t)
	if rs, _ := e.store.GetSession(ctx, *out.Credentials.AccessKeyId); !rs.MFAAuthenticated {
		t.Fatal("AssumeRole with a valid code: the session has no MFA")
	}
	_, err = assume(keyCfg, serial, fresh)
	wantErr(t, err, "AccessDenied", 403, "MultiFactorAuthentication failed")

	// Sign-out ends the session.
	must(0, e.store.DeleteSession(ctx, plain.AccessKeyID))(t)
	if _, _, err := authn.SessionPrincipal(ctx, plain.AccessKeyID, plain.SessionToken); err == nil {
		t.Fatal("SessionPrincipal after DeleteSession succeeded")
	}
	_, err = e.sts(e.sessionConfig(plain)).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	wantErr(t, err, "InvalidClientTokenId", 403, "")

	// The session dies with its user.
	must(a.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: k.AccessKeyId}))(t)
	must(a.DeleteLoginProfile(ctx, &iam.DeleteLoginProfileInput{UserName: aws.String("alice")}))(t)
	must(a.DeactivateMFADevice(ctx, &iam.DeactivateMFADeviceInput{UserName: aws.String("alice"), SerialNumber: aws.String(serial)}))(t)
	must(a.DeleteUserPolicy(ctx, &iam.DeleteUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("p")}))(t)
	must(a.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String("alice")}))(t)
	if _, _, err := authn.SessionPrincipal(ctx, mfa.AccessKeyID, mfa.SessionToken); err == nil {
		t.Fatal("SessionPrincipal after the user's deletion succeeded")
	}
	e.loginUser("alice", "", false) // same name, new user
	_, err = e.sts(e.sessionConfig(mfa)).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	wantErr(t, err, "InvalidClientTokenId", 403, "")
}
