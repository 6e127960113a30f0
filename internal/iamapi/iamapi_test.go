package iamapi

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

var ctx = context.Background()

func must[T any](t *testing.T, what string) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
}

// TestSelfOnlyPolicy is the foundation issue's scenario.
func TestSelfOnlyPolicy(t *testing.T) {
	e := newEnv(t)
	admin := e.iam(e.admin)
	must[*iam.CreateUserOutput](t, "create alice")(admin.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("alice"), Tags: []iamtypes.Tag{{Key: aws.String("team"), Value: aws.String("ops")}}}))
	must[*iam.CreateUserOutput](t, "create bob")(admin.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("bob")}))
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetUser","Resource":"arn:aws:iam::` + testAccount + `:user/${aws:username}"}]}`
	must[*iam.PutUserPolicyOutput](t, "put policy")(admin.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("self"), PolicyDocument: aws.String(doc)}))
	key := must[*iam.CreateAccessKeyOutput](t, "create key")(admin.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("alice")}))
	alice := e.iam(e.config(*key.AccessKey.AccessKeyId, *key.AccessKey.SecretAccessKey, ""))

	got := must[*iam.GetUserOutput](t, "alice get self")(alice.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("alice")}))
	if *got.User.UserName != "alice" || *got.User.Arn != "arn:aws:iam::"+testAccount+":user/alice" || len(got.User.Tags) != 1 || got.User.CreateDate == nil {
		t.Fatalf("user %+v", got.User)
	}
	must[*iam.GetUserOutput](t, "alice get self without name")(alice.GetUser(ctx, &iam.GetUserInput{}))
	denied := map[string]error{}
	_, denied["GetUser bob"] = alice.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("bob")})
	_, denied["GetUser nobody"] = alice.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("nobody")})
	_, denied["ListUsers"] = alice.ListUsers(ctx, &iam.ListUsersInput{})
	_, denied["CreateUser"] = alice.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("eve")})
	_, denied["DeleteUser"] = alice.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String("bob")})
	for what, err := range denied {
		if code(err) != "AccessDenied" {
			t.Errorf("alice %s: %v, want AccessDenied", what, err)
		}
	}
	if err := denied["GetUser bob"]; !strings.Contains(err.Error(), "is not authorized to perform: iam:GetUser on resource: arn:aws:iam::"+testAccount+":user/bob") {
		t.Errorf("denial wording: %v", err)
	}

	// An explicit Deny in a group policy beats the Allow.
	must[*iam.CreateGroupOutput](t, "create group")(admin.CreateGroup(ctx, &iam.CreateGroupInput{GroupName: aws.String("locked")}))
	must[*iam.AddUserToGroupOutput](t, "add")(admin.AddUserToGroup(ctx, &iam.AddUserToGroupInput{GroupName: aws.String("locked"), UserName: aws.String("alice")}))
	must[*iam.PutGroupPolicyOutput](t, "deny")(admin.PutGroupPolicy(ctx, &iam.PutGroupPolicyInput{GroupName: aws.String("locked"), PolicyName: aws.String("deny"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"iam:*","Resource":"*"}]}`)}))
	_, err := alice.GetUser(ctx, &iam.GetUserInput{})
	if code(err) != "AccessDenied" || !strings.Contains(err.Error(), "explicit deny") {
		t.Errorf("after group deny: %v", err)
	}
	must[*iam.RemoveUserFromGroupOutput](t, "remove")(admin.RemoveUserFromGroup(ctx, &iam.RemoveUserFromGroupInput{GroupName: aws.String("locked"), UserName: aws.String("alice")}))
	must[*iam.GetUserOutput](t, "alice after leaving group")(alice.GetUser(ctx, &iam.GetUserInput{}))

	// Deactivated and deleted keys stop working.
	must[*iam.UpdateAccessKeyOutput](t, "deactivate")(admin.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: key.AccessKey.AccessKeyId, Status: iamtypes.StatusTypeInactive}))
	if _, err := alice.GetUser(ctx, &iam.GetUserInput{}); code(err) != "InvalidClientTokenId" {
		t.Errorf("inactive key: %v", err)
	}
	must[*iam.UpdateAccessKeyOutput](t, "activate")(admin.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: key.AccessKey.AccessKeyId, Status: iamtypes.StatusTypeActive}))
	must[*iam.GetUserOutput](t, "alice reactivated")(alice.GetUser(ctx, &iam.GetUserInput{}))
	must[*iam.DeleteAccessKeyOutput](t, "delete key")(admin.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: key.AccessKey.AccessKeyId}))
	if _, err := alice.GetUser(ctx, &iam.GetUserInput{}); code(err) != "InvalidClientTokenId" {
		t.Errorf("deleted key: %v", err)
	}
}

// TestAssumeRole covers role sessions: trust, identity allow, token and expiry.
func TestAssumeRole(t *testing.T) {
	e := newEnv(t)
	// Start the server clock 10 minutes behind the SDK's, so that it can
	// move past a 15-minute session's end while staying within the
	// 15-minute signing skew.
	e.clock.Advance(-10 * time.Minute)
	admin := e.iam(e.admin)
	roleARN := "arn:aws:iam::" + testAccount + ":role/ops"
	must[*iam.CreateUserOutput](t, "user")(admin.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("alice")}))
	must[*iam.CreateUserOutput](t, "user")(admin.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("carol")}))
	for _, u := range []string{"alice", "carol"} {
		must[*iam.PutUserPolicyOutput](t, "assume policy")(admin.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String(u), PolicyName: aws.String("assume"),
			PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"` + roleARN + `"}]}`)}))
	}
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + testAccount + `:user/alice"},"Action":"sts:AssumeRole"}]}`
	role := must[*iam.CreateRoleOutput](t, "role")(admin.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("ops"), AssumeRolePolicyDocument: aws.String(trust)}))
	if *role.Role.Arn != roleARN || !strings.Contains(*role.Role.AssumeRolePolicyDocument, "%22") {
		t.Fatalf("role %+v", role.Role)
	}
	must[*iam.PutRolePolicyOutput](t, "role policy")(admin.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("ops"), PolicyName: aws.String("list"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:ListUsers","Resource":"*"}]}`)}))
	keyOf := func(u string) aws.Config {
		k := must[*iam.CreateAccessKeyOutput](t, "key")(admin.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(u)}))
		return e.config(*k.AccessKey.AccessKeyId, *k.AccessKey.SecretAccessKey, "")
	}
	alice, carol := keyOf("alice"), keyOf("carol")

	out := must[*sts.AssumeRoleOutput](t, "assume")(e.sts(alice).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("night-shift"), DurationSeconds: aws.Int32(900)}))
	c := out.Credentials
	if !strings.HasPrefix(*c.AccessKeyId, "ASIA") || *out.AssumedRoleUser.Arn != "arn:aws:sts::"+testAccount+":assumed-role/ops/night-shift" {
		t.Fatalf("assume output %+v %+v", c, out.AssumedRoleUser)
	}
	session := e.config(*c.AccessKeyId, *c.SecretAccessKey, *c.SessionToken)
	who := must[*sts.GetCallerIdentityOutput](t, "who")(e.sts(session).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}))
	if *who.Arn != *out.AssumedRoleUser.Arn || *who.UserId != *out.AssumedRoleUser.AssumedRoleId || *who.Account != testAccount {
		t.Errorf("caller identity %+v", who)
	}
	must[*iam.ListUsersOutput](t, "role lists users")(e.iam(session).ListUsers(ctx, &iam.ListUsersInput{}))
	if _, err := e.iam(session).CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("x")}); code(err) != "AccessDenied" {
		t.Errorf("role CreateUser: %v", err)
	}
	if _, err := e.iam(session).GetUser(ctx, &iam.GetUserInput{}); code(err) != "ValidationError" {
		t.Errorf("role GetUser without name: %v", err)
	}
	if _, err := e.sts(e.config(*c.AccessKeyId, *c.SecretAccessKey, "wrong")).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); code(err) != "InvalidClientTokenId" {
		t.Errorf("wrong token: %v", err)
	}
	if _, err := e.sts(carol).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("s")}); code(err) != "ValidationError" {
		t.Errorf("one-letter session name: %v", err)
	}
	if _, err := e.sts(carol).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("sneaky")}); code(err) != "AccessDenied" {
		t.Errorf("carol outside trust: %v", err)
	}
	if _, err := e.sts(alice).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(roleARN + "x"), RoleSessionName: aws.String("s2")}); code(err) != "AccessDenied" {
		t.Errorf("unknown role: %v", err)
	}
	// The session ends at its expiration.
	e.clock.Advance(16 * time.Minute)
	if _, err := e.sts(session).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); code(err) != "ExpiredToken" {
		t.Errorf("after expiry: %v", err)
	}
}

// TestErrors checks IAM's error codes and that a failed write leaves the
// store as it was.
func TestErrors(t *testing.T) {
	e := newEnv(t)
	admin := e.iam(e.admin)
	must[*iam.CreateUserOutput](t, "user")(admin.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("dave")}))
	must[*iam.CreateAccessKeyOutput](t, "k1")(admin.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("dave")}))
	must[*iam.CreateAccessKeyOutput](t, "k2")(admin.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("dave")}))
	pol := must[*iam.CreatePolicyOutput](t, "policy")(admin.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("p"), PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}`)}))
	must[*iam.AttachUserPolicyOutput](t, "attach")(admin.AttachUserPolicy(ctx, &iam.AttachUserPolicyInput{UserName: aws.String("dave"), PolicyArn: pol.Policy.Arn}))
	snapshot := func() string {
		var b strings.Builder
		users, _ := e.store.ListUsers(ctx, "/")
		for _, u := range users {
			keys, _ := e.store.ListAccessKeys(ctx, u.UserName)
			ps, _ := e.store.ListInlinePolicies(ctx, refUser(u.UserName))
			fmt.Fprintf(&b, "%s keys=%d inline=%d;", u.UserName, len(keys), len(ps))
		}
		mps, _ := e.store.ListManagedPolicies(ctx, "/")
		roles, _ := e.store.ListRoles(ctx, "/")
		groups, _ := e.store.ListGroups(ctx, "/")
		fmt.Fprintf(&b, "policies=%d roles=%d groups=%d", len(mps), len(roles), len(groups))
		return b.String()
	}
	before := snapshot()
	tests := []struct {
		name string
		call func() error
		want string
	}{
		{"duplicate user", func() error {
			_, err := admin.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("DAVE")})
			return err
		}, "EntityAlreadyExists"},
		{"bad user name", func() error {
			_, err := admin.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("no spaces")})
			return err
		}, "ValidationError"},
		{"long user name", func() error {
			_, err := admin.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(strings.Repeat("a", 65))})
			return err
		}, "ValidationError"},
		{"bad path", func() error {
			_, err := admin.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("x"), Path: aws.String("nopath")})
			return err
		}, "ValidationError"},
		{"unknown user", func() error {
			_, err := admin.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("nobody")})
			return err
		}, "NoSuchEntity"},
		{"third key", func() error {
			_, err := admin.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("dave")})
			return err
		}, "LimitExceeded"},
		{"delete user with keys", func() error {
			_, err := admin.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String("dave")})
			return err
		}, "DeleteConflict"},
		{"delete attached policy", func() error {
			_, err := admin.DeletePolicy(ctx, &iam.DeletePolicyInput{PolicyArn: pol.Policy.Arn})
			return err
		}, "DeleteConflict"},
		{"malformed policy", func() error {
			_, err := admin.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("dave"), PolicyName: aws.String("bad"), PolicyDocument: aws.String(`{"Statement":[{"Effect":"Allow","Action":"x","Resource":"*"}]}`)})
			return err
		}, "MalformedPolicyDocument"},
		{"policy with principal", func() error {
			_, err := admin.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("q"), PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}]}`)})
			return err
		}, "MalformedPolicyDocument"},
		{"trust without principal", func() error {
			_, err := admin.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("r"), AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole"}]}`)})
			return err
		}, "MalformedPolicyDocument"},
		{"duplicate policy", func() error {
			_, err := admin.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("P"), PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}`)})
			return err
		}, "EntityAlreadyExists"},
		{"attach unknown policy", func() error {
			_, err := admin.AttachUserPolicy(ctx, &iam.AttachUserPolicyInput{UserName: aws.String("dave"), PolicyArn: aws.String("arn:aws:iam::" + testAccount + ":policy/none")})
			return err
		}, "NoSuchEntity"},
		{"detach not attached", func() error {
			_, err := admin.DetachUserPolicy(ctx, &iam.DetachUserPolicyInput{UserName: aws.String("dave"), PolicyArn: aws.String(AdministratorAccessARN)})
			return err
		}, "NoSuchEntity"},
		{"missing name", func() error {
			_, err := admin.CreateGroup(ctx, &iam.CreateGroupInput{GroupName: aws.String("")})
			return err
		}, "ValidationError"},
		{"bad status", func() error {
			_, err := admin.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{AccessKeyId: aws.String("AKIAXXXXXXXXXXXXXXXX"), Status: "Sleeping"})
			return err
		}, "ValidationError"},
		{"unknown key", func() error {
			_, err := admin.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{AccessKeyId: aws.String("AKIAXXXXXXXXXXXXXXXX")})
			return err
		}, "NoSuchEntity"},
		{"session duration", func() error {
			_, err := admin.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("r"), MaxSessionDuration: aws.Int32(60), AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + testAccount + `"},"Action":"sts:AssumeRole"}]}`)})
			return err
		}, "ValidationError"},
		{"delete aws policy", func() error {
			_, err := admin.DeletePolicy(ctx, &iam.DeletePolicyInput{PolicyArn: aws.String(AdministratorAccessARN)})
			return err
		}, "InvalidInput"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := code(tc.call()); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
			if after := snapshot(); after != before {
				t.Fatalf("store changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// TestActions runs every other action once through the SDK.
func TestActions(t *testing.T) {
	e := newEnv(t)
	a := e.iam(e.admin)
	for _, n := range []string{"u1", "u2", "u3"} {
		must[*iam.CreateUserOutput](t, "user")(a.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(n), Path: aws.String("/team/")}))
	}
	page1 := must[*iam.ListUsersOutput](t, "list")(a.ListUsers(ctx, &iam.ListUsersInput{PathPrefix: aws.String("/team/"), MaxItems: aws.Int32(1)}))
	if len(page1.Users) != 1 || !page1.IsTruncated || page1.Marker == nil {
		t.Fatalf("page 1 %+v", page1)
	}
	var names []string
	p := iam.NewListUsersPaginator(a, &iam.ListUsersInput{MaxItems: aws.Int32(1)})
	for p.HasMorePages() {
		out := must[*iam.ListUsersOutput](t, "page")(p.NextPage(ctx))
		for _, u := range out.Users {
			names = append(names, *u.UserName)
		}
	}
	if strings.Join(names, ",") != "admin,u1,u2,u3" {
		t.Fatalf("paged users %v", names)
	}
	if u := must[*iam.GetUserOutput](t, "get")(a.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("U1")})); *u.User.Path != "/team/" || *u.User.Arn != "arn:aws:iam::"+testAccount+":user/team/u1" {
		t.Fatalf("user with path %+v", u.User)
	}
	keys := must[*iam.ListAccessKeysOutput](t, "keys")(a.ListAccessKeys(ctx, &iam.ListAccessKeysInput{}))
	if len(keys.AccessKeyMetadata) != 1 || *keys.AccessKeyMetadata[0].UserName != "admin" {
		t.Fatalf("admin keys %+v", keys)
	}
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:Describe*","Resource":"*"}]}`
	must[*iam.PutUserPolicyOutput](t, "put")(a.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("u1"), PolicyName: aws.String("d"), PolicyDocument: aws.String(doc)}))
	gp := must[*iam.GetUserPolicyOutput](t, "get policy")(a.GetUserPolicy(ctx, &iam.GetUserPolicyInput{UserName: aws.String("u1"), PolicyName: aws.String("d")}))
	if *gp.PolicyDocument != doc && !strings.Contains(*gp.PolicyDocument, "%22") {
		t.Fatalf("policy document %q", *gp.PolicyDocument)
	}
	lp := must[*iam.ListUserPoliciesOutput](t, "list policies")(a.ListUserPolicies(ctx, &iam.ListUserPoliciesInput{UserName: aws.String("u1")}))
	if len(lp.PolicyNames) != 1 || lp.PolicyNames[0] != "d" {
		t.Fatalf("policy names %v", lp.PolicyNames)
	}
	must[*iam.DeleteUserPolicyOutput](t, "delete policy")(a.DeleteUserPolicy(ctx, &iam.DeleteUserPolicyInput{UserName: aws.String("u1"), PolicyName: aws.String("d")}))

	must[*iam.CreateGroupOutput](t, "group")(a.CreateGroup(ctx, &iam.CreateGroupInput{GroupName: aws.String("g")}))
	must[*iam.AddUserToGroupOutput](t, "add")(a.AddUserToGroup(ctx, &iam.AddUserToGroupInput{GroupName: aws.String("g"), UserName: aws.String("u2")}))
	g := must[*iam.GetGroupOutput](t, "get group")(a.GetGroup(ctx, &iam.GetGroupInput{GroupName: aws.String("g")}))
	if len(g.Users) != 1 || *g.Group.GroupName != "g" {
		t.Fatalf("group %+v", g)
	}
	gfu := must[*iam.ListGroupsForUserOutput](t, "groups for user")(a.ListGroupsForUser(ctx, &iam.ListGroupsForUserInput{UserName: aws.String("u2")}))
	if len(gfu.Groups) != 1 {
		t.Fatalf("groups for user %+v", gfu)
	}
	must[*iam.PutGroupPolicyOutput](t, "group policy")(a.PutGroupPolicy(ctx, &iam.PutGroupPolicyInput{GroupName: aws.String("g"), PolicyName: aws.String("d"), PolicyDocument: aws.String(doc)}))
	must[*iam.GetGroupPolicyOutput](t, "get group policy")(a.GetGroupPolicy(ctx, &iam.GetGroupPolicyInput{GroupName: aws.String("g"), PolicyName: aws.String("d")}))
	must[*iam.ListGroupPoliciesOutput](t, "list group policies")(a.ListGroupPolicies(ctx, &iam.ListGroupPoliciesInput{GroupName: aws.String("g")}))
	if _, err := a.DeleteGroup(ctx, &iam.DeleteGroupInput{GroupName: aws.String("g")}); code(err) != "DeleteConflict" {
		t.Fatalf("delete group with members: %v", err)
	}
	must[*iam.DeleteGroupPolicyOutput](t, "delete group policy")(a.DeleteGroupPolicy(ctx, &iam.DeleteGroupPolicyInput{GroupName: aws.String("g"), PolicyName: aws.String("d")}))
	must[*iam.RemoveUserFromGroupOutput](t, "remove")(a.RemoveUserFromGroup(ctx, &iam.RemoveUserFromGroupInput{GroupName: aws.String("g"), UserName: aws.String("u2")}))
	lg := must[*iam.ListGroupsOutput](t, "list groups")(a.ListGroups(ctx, &iam.ListGroupsInput{}))
	if len(lg.Groups) != 1 {
		t.Fatalf("groups %+v", lg)
	}
	must[*iam.DeleteGroupOutput](t, "delete group")(a.DeleteGroup(ctx, &iam.DeleteGroupInput{GroupName: aws.String("g")}))

	pol := must[*iam.CreatePolicyOutput](t, "create policy")(a.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("desc"), Description: aws.String("describe"), PolicyDocument: aws.String(doc)}))
	if *pol.Policy.Arn != "arn:aws:iam::"+testAccount+":policy/desc" || *pol.Policy.DefaultVersionId != "v1" {
		t.Fatalf("policy %+v", pol.Policy)
	}
	must[*iam.GetPolicyOutput](t, "get policy")(a.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: pol.Policy.Arn}))
	pv := must[*iam.GetPolicyVersionOutput](t, "version")(a.GetPolicyVersion(ctx, &iam.GetPolicyVersionInput{PolicyArn: pol.Policy.Arn, VersionId: aws.String("v1")}))
	if !pv.PolicyVersion.IsDefaultVersion {
		t.Fatal("v1 is not default")
	}
	must[*iam.CreateGroupOutput](t, "group")(a.CreateGroup(ctx, &iam.CreateGroupInput{GroupName: aws.String("g2")}))
	must[*iam.AttachGroupPolicyOutput](t, "attach group")(a.AttachGroupPolicy(ctx, &iam.AttachGroupPolicyInput{GroupName: aws.String("g2"), PolicyArn: pol.Policy.Arn}))
	must[*iam.AttachUserPolicyOutput](t, "attach user")(a.AttachUserPolicy(ctx, &iam.AttachUserPolicyInput{UserName: aws.String("u3"), PolicyArn: pol.Policy.Arn}))
	lap := must[*iam.ListAttachedUserPoliciesOutput](t, "attached")(a.ListAttachedUserPolicies(ctx, &iam.ListAttachedUserPoliciesInput{UserName: aws.String("u3")}))
	if len(lap.AttachedPolicies) != 1 || *lap.AttachedPolicies[0].PolicyName != "desc" {
		t.Fatalf("attached %+v", lap)
	}
	must[*iam.ListAttachedGroupPoliciesOutput](t, "attached group")(a.ListAttachedGroupPolicies(ctx, &iam.ListAttachedGroupPoliciesInput{GroupName: aws.String("g2")}))
	local := must[*iam.ListPoliciesOutput](t, "local")(a.ListPolicies(ctx, &iam.ListPoliciesInput{Scope: iamtypes.PolicyScopeTypeLocal}))
	awsScope := must[*iam.ListPoliciesOutput](t, "aws")(a.ListPolicies(ctx, &iam.ListPoliciesInput{Scope: iamtypes.PolicyScopeTypeAws}))
	if len(local.Policies) != 1 || len(awsScope.Policies) != 1 || *local.Policies[0].AttachmentCount != 2 {
		t.Fatalf("policies local %d aws %d", len(local.Policies), len(awsScope.Policies))
	}
	must[*iam.DetachUserPolicyOutput](t, "detach")(a.DetachUserPolicy(ctx, &iam.DetachUserPolicyInput{UserName: aws.String("u3"), PolicyArn: pol.Policy.Arn}))
	must[*iam.DetachGroupPolicyOutput](t, "detach group")(a.DetachGroupPolicy(ctx, &iam.DetachGroupPolicyInput{GroupName: aws.String("g2"), PolicyArn: pol.Policy.Arn}))
	must[*iam.DeletePolicyOutput](t, "delete policy")(a.DeletePolicy(ctx, &iam.DeletePolicyInput{PolicyArn: pol.Policy.Arn}))

	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + testAccount + `:root"},"Action":"sts:AssumeRole"}]}`
	must[*iam.CreateRoleOutput](t, "role")(a.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("r"), AssumeRolePolicyDocument: aws.String(trust), Description: aws.String("d"), MaxSessionDuration: aws.Int32(7200)}))
	r := must[*iam.GetRoleOutput](t, "get role")(a.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("r")}))
	if *r.Role.MaxSessionDuration != 7200 {
		t.Fatalf("role %+v", r.Role)
	}
	must[*iam.UpdateAssumeRolePolicyOutput](t, "trust")(a.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String("r"), PolicyDocument: aws.String(trust)}))
	must[*iam.AttachRolePolicyOutput](t, "attach role")(a.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String("r"), PolicyArn: aws.String(AdministratorAccessARN)}))
	must[*iam.ListAttachedRolePoliciesOutput](t, "attached role")(a.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String("r")}))
	must[*iam.PutRolePolicyOutput](t, "put role")(a.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("r"), PolicyName: aws.String("d"), PolicyDocument: aws.String(doc)}))
	must[*iam.GetRolePolicyOutput](t, "get role policy")(a.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String("r"), PolicyName: aws.String("d")}))
	must[*iam.ListRolePoliciesOutput](t, "list role policies")(a.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: aws.String("r")}))
	must[*iam.ListRolesOutput](t, "list roles")(a.ListRoles(ctx, &iam.ListRolesInput{}))
	if _, err := a.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: aws.String("r")}); code(err) != "DeleteConflict" {
		t.Fatalf("delete role with policies: %v", err)
	}
	// The account-wide trust plus admin's identity allow lets admin in.
	must[*sts.AssumeRoleOutput](t, "assume via account trust")(e.sts(e.admin).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: r.Role.Arn, RoleSessionName: aws.String("adm")}))
	must[*iam.DeleteRolePolicyOutput](t, "delete role policy")(a.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String("r"), PolicyName: aws.String("d")}))
	must[*iam.DetachRolePolicyOutput](t, "detach role")(a.DetachRolePolicy(ctx, &iam.DetachRolePolicyInput{RoleName: aws.String("r"), PolicyArn: aws.String(AdministratorAccessARN)}))
	must[*iam.DeleteRoleOutput](t, "delete role")(a.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: aws.String("r")}))
	must[*iam.DeleteUserOutput](t, "delete user")(a.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String("u1")}))
}

// TestSimulateSeedPolicy loads the seed's tunnel policy and simulates it.
func TestSimulateSeedPolicy(t *testing.T) {
	raw, err := os.ReadFile("testdata/seed-open-tunnel.json")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	a := e.iam(e.admin)
	must[*iam.CreateUserOutput](t, "user")(a.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("ssh")}))
	must[*iam.PutUserPolicyOutput](t, "seed")(a.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("ssh"), PolicyName: aws.String("connect"), PolicyDocument: aws.String(string(raw))}))
	endpoint := "arn:aws:ec2:region:account-id:instance-connect-endpoint/eice-123456789abcdef"
	sim := func(port string) iamtypes.EvaluationResult {
		out := must[*iam.SimulatePrincipalPolicyOutput](t, "simulate")(a.SimulatePrincipalPolicy(ctx, &iam.SimulatePrincipalPolicyInput{
			PolicySourceArn: aws.String("arn:aws:iam::" + testAccount + ":user/ssh"),
			ActionNames:     []string{"ec2-instance-connect:OpenTunnel"},
			ResourceArns:    []string{endpoint},
			ContextEntries: []iamtypes.ContextEntry{
				{ContextKeyName: aws.String("ec2-instance-connect:remotePort"), ContextKeyValues: []string{port}, ContextKeyType: iamtypes.ContextKeyTypeEnumNumeric},
				{ContextKeyName: aws.String("ec2-instance-connect:privateIpAddress"), ContextKeyValues: []string{"10.0.1.1"}, ContextKeyType: iamtypes.ContextKeyTypeEnumIp},
				{ContextKeyName: aws.String("ec2-instance-connect:maxTunnelDuration"), ContextKeyValues: []string{"60"}, ContextKeyType: iamtypes.ContextKeyTypeEnumNumeric},
			},
		}))
		if len(out.EvaluationResults) != 1 {
			t.Fatalf("results %+v", out)
		}
		return out.EvaluationResults[0]
	}
	if r := sim("22"); r.EvalDecision != iamtypes.PolicyEvaluationDecisionTypeAllowed || len(r.MatchedStatements) != 1 || !strings.Contains(*r.MatchedStatements[0].SourcePolicyId, "connect") {
		t.Errorf("port 22: %+v", r)
	}
	if r := sim("3389"); r.EvalDecision != iamtypes.PolicyEvaluationDecisionTypeImplicitDeny {
		t.Errorf("port 3389: %+v", r.EvalDecision)
	}
}
