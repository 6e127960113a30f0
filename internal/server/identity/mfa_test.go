package identity

import (
	"context"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/testutil/sqlitetest"
)

// TestMFAConditionKeys: aws:MultiFactorAuthPresent is "true" or "false"
// for sessions and absent for long-term keys, aws:MultiFactorAuthAge
// counts from the MFA authentication, and the policies AWS recommends for
// "MFA required" decide as in AWS for each kind of credential.
func TestMFAConditionKeys(t *testing.T) {
	ctx := context.Background()
	const acct = "123456789012"
	now := time.Date(2026, 12, 6, 1, 0, 0, 0, time.UTC)
	st := sqlitetest.Open(t)
	u := store.User{UserID: "AIDAMFATEST", UserName: "u", Path: "/", ARN: "arn:aws:iam::" + acct + ":user/u", CreateDate: now}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	ref := store.PrincipalRef{Kind: store.KindUser, Name: "u"}
	policies := []string{
		// Allow with Bool: only MFA sessions.
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:DescribeVpcs","Resource":"*",
		  "Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}}]}`,
		// AWS's "deny unless MFA": BoolIfExists false denies access keys too.
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ec2:TerminateInstances","ec2:DescribeSubnets"],"Resource":"*"},
		  {"Effect":"Deny","Action":"ec2:TerminateInstances","Resource":"*","Condition":{"BoolIfExists":{"aws:MultiFactorAuthPresent":"false"}}}]}`,
		// MFA within the last hour.
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:RebootInstances","Resource":"*",
		  "Condition":{"NumericLessThan":{"aws:MultiFactorAuthAge":"3600"}}}]}`,
	}
	for i, d := range policies {
		if err := st.PutInlinePolicy(ctx, store.InlinePolicy{Owner: ref, PolicyName: string(rune('a' + i)), Document: d}); err != nil {
			t.Fatal(err)
		}
	}
	a := NewAuthorizer(st, func() time.Time { return now })
	base := Principal{Type: TypeIAMUser, AccountID: acct, ARN: u.ARN, PrincipalID: u.UserID, UserName: "u", Policies: ref, PoliciesID: u.UserID}
	accessKey := base
	accessKey.AccessKeyID = "AKIAMFATEST"
	session := base
	session.AccessKeyID, session.SessionIssued, session.SessionExpires = "ASIAMFATEST", now.Add(-time.Minute), now.Add(time.Hour)
	mfaFresh := session
	mfaFresh.MFAAuthenticated, mfaFresh.AuthTime = true, now.Add(-10*time.Minute)
	mfaOld := mfaFresh
	mfaOld.AuthTime = now.Add(-2 * time.Hour)
	role := Principal{Type: TypeAssumedRole, AccountID: acct, ARN: "arn:aws:sts::" + acct + ":assumed-role/r/s",
		RoleARN: "arn:aws:iam::" + acct + ":role/r", SessionIssued: now, MFAAuthenticated: true, AuthTime: now.Add(-time.Minute)}

	keys := []struct {
		name            string
		p               Principal
		present, hasAge bool
		presentVal, age string
	}{
		{"access key", accessKey, false, false, "", ""},
		{"session without MFA", session, true, false, "false", ""},
		{"session with MFA", mfaFresh, true, true, "true", "600"},
		{"role session with MFA", role, true, true, "true", "60"},
	}
	for _, tc := range keys {
		t.Run("keys/"+tc.name, func(t *testing.T) {
			c := GlobalContext(&tc.p, RequestInfo{}, now)
			v, ok := c.Get("aws:MultiFactorAuthPresent")
			if ok != tc.present || (ok && (len(v) != 1 || v[0] != tc.presentVal)) {
				t.Errorf("aws:MultiFactorAuthPresent = %v (set %v), want %q (set %v)", v, ok, tc.presentVal, tc.present)
			}
			age, ok := c.Get("aws:MultiFactorAuthAge")
			if ok != tc.hasAge || (ok && (len(age) != 1 || age[0] != tc.age)) {
				t.Errorf("aws:MultiFactorAuthAge = %v (set %v), want %q (set %v)", age, ok, tc.age, tc.hasAge)
			}
		})
	}

	decisions := []struct {
		name   string
		p      Principal
		action string
		allow  bool
	}{
		{"Bool true: access key denied", accessKey, "ec2:DescribeVpcs", false},
		{"Bool true: session without MFA denied", session, "ec2:DescribeVpcs", false},
		{"Bool true: MFA session allowed", mfaFresh, "ec2:DescribeVpcs", true},
		{"BoolIfExists false deny: access key denied", accessKey, "ec2:TerminateInstances", false},
		{"BoolIfExists false deny: session without MFA denied", session, "ec2:TerminateInstances", false},
		{"BoolIfExists false deny: MFA session allowed", mfaFresh, "ec2:TerminateInstances", true},
		{"BoolIfExists false deny: other actions still allowed to access key", accessKey, "ec2:DescribeSubnets", true},
		{"age < 1h: fresh MFA allowed", mfaFresh, "ec2:RebootInstances", true},
		{"age < 1h: old MFA denied", mfaOld, "ec2:RebootInstances", false},
		{"age < 1h: access key denied", accessKey, "ec2:RebootInstances", false},
	}
	for _, tc := range decisions {
		t.Run("decide/"+tc.name, func(t *testing.T) {
			d, err := a.Authorize(ctx, &tc.p, RequestInfo{}, tc.action, "*", nil)
			if err != nil {
				t.Fatal(err)
			}
			if d.Allowed != tc.allow {
				t.Errorf("%s by %s: allowed %v (%s), want %v", tc.action, tc.name, d.Allowed, d, tc.allow)
			}
		})
	}
}
