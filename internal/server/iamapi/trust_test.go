package iamapi

import (
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/postern/postern/internal/store"
)

// TestTrustPolicyStoredByID: CreateRole and UpdateAssumeRolePolicy store
// the users and roles a trust policy names by unique id and refuse a
// principal that does not exist (or a unique id given for one), as IAM
// does; GetRole shows the ARNs back.
func TestTrustPolicyStoredByID(t *testing.T) {
	e := newEnv(t)
	a := e.iam(e.admin)
	bob := must(a.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("bob"), Path: aws.String("/team/")}))(t).User
	ops := must(a.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("ops"), AssumeRolePolicyDocument: aws.String(trustOf(testAccount))}))(t).Role
	bobARN := userARN + "team/bob"
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["` + bobARN + `","` + *ops.Arn + `","` + testAccount +
		`","arn:aws:iam::210987654321:user/elsewhere"],"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"},` +
		`{"Effect":"Deny","NotPrincipal":{"AWS":"` + bobARN + `"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"aws:PrincipalArn":"` + bobARN + `"}}}]}`
	stored := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["` + *bob.UserId + `","` + *ops.RoleId + `","` + testAccount +
		`","arn:aws:iam::210987654321:user/elsewhere"],"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"},` +
		`{"Effect":"Deny","NotPrincipal":{"AWS":"` + *bob.UserId + `"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"aws:PrincipalArn":"` + bobARN + `"}}}]}`

	shown := func(t *testing.T, role string) string {
		t.Helper()
		r := must(a.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(role)}))(t).Role
		doc, err := url.PathUnescape(*r.AssumeRolePolicyDocument)
		if err != nil {
			t.Fatal(err)
		}
		return doc
	}
	storedDoc := func(t *testing.T, role string) string {
		t.Helper()
		r, err := e.store.GetRole(ctx, role)
		if err != nil {
			t.Fatal(err)
		}
		return r.AssumeRolePolicyDocument
	}

	created := must(a.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("x"), AssumeRolePolicyDocument: aws.String(trust)}))(t).Role
	if doc, _ := url.PathUnescape(*created.AssumeRolePolicyDocument); doc != trust {
		t.Errorf("CreateRole shows %s, want %s", doc, trust)
	}
	if got := storedDoc(t, "x"); got != stored {
		t.Errorf("stored trust policy\n%s\nwant\n%s", got, stored)
	}
	if got := shown(t, "x"); got != trust {
		t.Errorf("GetRole shows\n%s\nwant\n%s", got, trust)
	}

	refused := []struct{ name, principal string }{
		{"missing user", userARN + "nobody"},
		{"missing role", roleARNOf + "nobody"},
		{"user under another path", userARN + "bob"},
		{"a user's unique id", *bob.UserId},
		{"a role's unique id", *ops.RoleId},
		{"the role itself", roleARNOf + "y"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			before := e.snapshot()
			_, err := a.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("y"), AssumeRolePolicyDocument: aws.String(trustOf(tc.principal))})
			wantErr(t, err, "MalformedPolicyDocument", 400, `Invalid principal in policy: "AWS":"`+tc.principal+`"`)
			_, err = a.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String("x"), PolicyDocument: aws.String(trustOf(tc.principal))})
			wantErr(t, err, "MalformedPolicyDocument", 400, `Invalid principal in policy: "AWS":"`+tc.principal+`"`)
			if after := e.snapshot(); after != before {
				t.Fatalf("store changed:\n%s\n%s", before, after)
			}
		})
	}

	// Once ops is gone, its id is shown in its place; bob's ARN stays.
	must(a.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: aws.String("ops")}))(t)
	want := strings.Replace(trust, `"`+*ops.Arn+`"`, `"`+*ops.RoleId+`"`, 1)
	if got := shown(t, "x"); got != want {
		t.Errorf("GetRole after ops was deleted shows\n%s\nwant\n%s", got, want)
	}
	for _, r := range must(a.ListRoles(ctx, &iam.ListRolesInput{}))(t).Roles {
		if doc, _ := url.PathUnescape(*r.AssumeRolePolicyDocument); *r.RoleName == "x" && doc != want {
			t.Errorf("ListRoles after ops was deleted shows\n%s\nwant\n%s", doc, want)
		}
	}
}

// TestBindStoredTrust: trust policies stored by a Postern that kept ARNs
// are bound to unique ids the first time Bootstrap runs on the store; an
// ARN that names nobody stays and trusts nobody.
func TestBindStoredTrust(t *testing.T) {
	st, seal := newStore(t)
	cfg := Config{Store: st, Sealer: seal, AccountID: testAccount}
	const bobID, opsID = "AIDAAAAAAAAAAAAAAAAAB", "AROAAAAAAAAAAAAAAAAAB"
	if err := st.CreateUser(ctx, store.User{UserID: bobID, UserName: "bob", Path: "/", ARN: userARN + "bob"}); err != nil {
		t.Fatal(err)
	}
	legacy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["` + userARN + `bob","` + userARN + `gone","` + roleARNOf + `x"]},"Action":"sts:AssumeRole"}]}`
	if err := st.CreateRole(ctx, store.Role{RoleID: opsID, RoleName: "x", Path: "/", ARN: roleARNOf + "x", AssumeRolePolicyDocument: legacy, MaxSessionDuration: 3600}); err != nil {
		t.Fatal(err)
	}
	if _, err := Bootstrap(ctx, cfg, "admin"); err != nil {
		t.Fatal(err)
	}
	bound := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["` + bobID + `","` + userARN + `gone","` + opsID + `"]},"Action":"sts:AssumeRole"}]}`
	r, err := st.GetRole(ctx, "x")
	if err != nil || r.AssumeRolePolicyDocument != bound {
		t.Fatalf("trust policy after Bootstrap\n%s (%v)\nwant\n%s", r.AssumeRolePolicyDocument, err, bound)
	}
	// Once done, never again: an ARN left in a policy named nobody then,
	// and is not bound to whoever takes the name later.
	if err := st.CreateUser(ctx, store.User{UserID: "AIDAAAAAAAAAAAAAAAAAC", UserName: "gone", Path: "/", ARN: userARN + "gone"}); err != nil {
		t.Fatal(err)
	}
	if _, err := Bootstrap(ctx, cfg, "admin"); err != nil {
		t.Fatal(err)
	}
	if r, _ := st.GetRole(ctx, "x"); r.AssumeRolePolicyDocument != bound {
		t.Fatalf("second Bootstrap rewrote the trust policy: %s", r.AssumeRolePolicyDocument)
	}
}
