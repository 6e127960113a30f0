package identity

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/testutil/sqlitetest"
)

// TestSourcesCacheFollowsWrites: cached policies are dropped by the first
// write, so a change of access takes effect on the next request.
func TestSourcesCacheFollowsWrites(t *testing.T) {
	ctx := context.Background()
	st := sqlitetest.Open(t)
	now := time.Now()
	u := store.User{UserID: "AIDATEST", UserName: "u", Path: "/", ARN: "arn:aws:iam::123456789012:user/u", CreateDate: now}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	ref := store.PrincipalRef{Kind: store.KindUser, Name: "u"}
	allow := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:Describe*","Resource":"*"}]}`
	if err := st.PutInlinePolicy(ctx, store.InlinePolicy{Owner: ref, PolicyName: "p", Document: allow}); err != nil {
		t.Fatal(err)
	}
	a := NewAuthorizer(st, nil)
	if a.changes == nil {
		t.Fatal("the SQLite store should count its changes")
	}
	p := &Principal{Type: TypeIAMUser, AccountID: "123456789012", ARN: u.ARN, UserName: "u", Policies: ref}
	decide := func() bool {
		t.Helper()
		d, err := a.Authorize(ctx, p, RequestInfo{}, "ec2:DescribeVpcs", "*", nil)
		if err != nil {
			t.Fatal(err)
		}
		return d.Allowed
	}
	for range 3 {
		if !decide() {
			t.Fatal("denied while the policy allows")
		}
	}
	if err := st.DeleteInlinePolicy(ctx, ref, "p"); err != nil {
		t.Fatal(err)
	}
	if decide() {
		t.Fatal("still allowed after the policy was deleted")
	}
	// A group policy added later is seen too.
	if err := st.CreateGroup(ctx, store.Group{GroupID: "AGPATEST", GroupName: "g", Path: "/", ARN: "arn:aws:iam::123456789012:group/g", CreateDate: now}); err != nil {
		t.Fatal(err)
	}
	if err := st.AddUserToGroup(ctx, "g", "u"); err != nil {
		t.Fatal(err)
	}
	if err := st.PutInlinePolicy(ctx, store.InlinePolicy{Owner: store.PrincipalRef{Kind: store.KindGroup, Name: "g"}, PolicyName: "p", Document: allow}); err != nil {
		t.Fatal(err)
	}
	if !decide() {
		t.Fatal("group policy not seen")
	}
}

// TestAuthorizeBindsTheIdentity: a principal authenticated as one role
// (or user) is never given the policies of another identity that takes
// its name later, even when the swap falls between authentication and
// authorization; the error is ErrPrincipalGone, which the edge answers as
// an invalid credential.
func TestAuthorizeBindsTheIdentity(t *testing.T) {
	ctx := context.Background()
	allow := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`
	const acct = "123456789012"
	cases := []struct {
		name   string
		kind   store.PrincipalKind
		create func(st store.Store, id string) error
		remove func(st store.Store) error
	}{
		{"role", store.KindRole, func(st store.Store, id string) error {
			return st.CreateRole(ctx, store.Role{RoleID: id, RoleName: "ops", Path: "/", ARN: "arn:aws:iam::" + acct + ":role/ops",
				AssumeRolePolicyDocument: "{}", MaxSessionDuration: 3600, CreateDate: time.Now()})
		}, func(st store.Store) error { return st.DeleteRole(ctx, "ops") }},
		{"user", store.KindUser, func(st store.Store, id string) error {
			return st.CreateUser(ctx, store.User{UserID: id, UserName: "ops", Path: "/", ARN: "arn:aws:iam::" + acct + ":user/ops", CreateDate: time.Now()})
		}, func(st store.Store) error { return st.DeleteUser(ctx, "ops") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := sqlitetest.Open(t)
			ref := store.PrincipalRef{Kind: tc.kind, Name: "ops"}
			if err := tc.create(st, "OLDID"); err != nil {
				t.Fatal(err)
			}
			a := NewAuthorizer(st, nil)
			p := &Principal{Type: TypeIAMUser, AccountID: acct, ARN: "arn:aws:iam::" + acct + ":" + string(tc.kind) + "/ops",
				UserName: "ops", Policies: ref, PoliciesID: "OLDID"}
			if tc.kind == store.KindRole {
				p.Type, p.RoleID = TypeAssumedRole, "OLDID"
			}
			d, err := a.Authorize(ctx, p, RequestInfo{}, "iam:CreateUser", "*", nil)
			if err != nil || d.Allowed {
				t.Fatalf("before: %v, %v; want denied", d, err)
			}
			// Deleted: gone, not a store failure.
			if err := tc.remove(st); err != nil {
				t.Fatal(err)
			}
			if _, err := a.Authorize(ctx, p, RequestInfo{}, "iam:CreateUser", "*", nil); !errors.Is(err, ErrPrincipalGone) {
				t.Fatalf("deleted: %v, want ErrPrincipalGone", err)
			}
			// Re-created with allow-all under the same name: still gone.
			if err := tc.create(st, "NEWID"); err != nil {
				t.Fatal(err)
			}
			if err := st.PutInlinePolicy(ctx, store.InlinePolicy{Owner: ref, PolicyName: "all", Document: allow}); err != nil {
				t.Fatal(err)
			}
			d, err = a.Authorize(ctx, p, RequestInfo{}, "iam:CreateUser", "*", nil)
			if !errors.Is(err, ErrPrincipalGone) || d.Allowed {
				t.Fatalf("re-created: %v, %v; want ErrPrincipalGone", d, err)
			}
			// The new identity itself is allowed.
			p.PoliciesID = "NEWID"
			if d, err := a.Authorize(ctx, p, RequestInfo{}, "iam:CreateUser", "*", nil); err != nil || !d.Allowed {
				t.Fatalf("new identity: %v, %v; want allowed", d, err)
			}
		})
	}
}
