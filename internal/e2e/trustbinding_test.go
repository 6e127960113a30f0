package e2e

import (
	"context"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// TestTrustPolicyBindsPrincipalByID: a trust policy that names an IAM user
// or role trusts that identity, not its name. Once the named identity is
// deleted, a new identity of the same name is not trusted, and GetRole
// shows the old unique id where the ARN was (as IAM does).
func TestTrustPolicyBindsPrincipalByID(t *testing.T) {
	ctx := context.Background()
	srv := startServer(t, filepath.Join(t.TempDir(), "data"))
	admin, acct := srv.adminAccount(t)
	iamc := iam.NewFromConfig(admin)
	arn := func(kind, name string) string { return "arn:aws:iam::" + acct + ":" + kind + "/" + name }
	trustOf := func(principal string) string {
		return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + principal + `"},"Action":"sts:AssumeRole"}]}`
	}
	assumeAll := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}`

	// newUser creates a user with a key, allowed to assume any role.
	newUser := func(t *testing.T, name string) (aws.Config, string) {
		t.Helper()
		u, err := iamc.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(name)})
		if err != nil {
			t.Fatalf("CreateUser %s: %v", name, err)
		}
		mustDo(t, "PutUserPolicy", func() error {
			_, err := iamc.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String(name), PolicyName: aws.String("assume"), PolicyDocument: aws.String(assumeAll)})
			return err
		})
		k, err := iamc.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(name)})
		if err != nil {
			t.Fatalf("CreateAccessKey %s: %v", name, err)
		}
		return withCreds(admin, *k.AccessKey.AccessKeyId, *k.AccessKey.SecretAccessKey, ""), *u.User.UserId
	}
	deleteUser := func(t *testing.T, name string) {
		t.Helper()
		keys, err := iamc.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys.AccessKeyMetadata {
			mustDo(t, "DeleteAccessKey", func() error {
				_, err := iamc.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String(name), AccessKeyId: k.AccessKeyId})
				return err
			})
		}
		mustDo(t, "DeleteUserPolicy", func() error {
			_, err := iamc.DeleteUserPolicy(ctx, &iam.DeleteUserPolicyInput{UserName: aws.String(name), PolicyName: aws.String("assume")})
			return err
		})
		mustDo(t, "DeleteUser", func() error {
			_, err := iamc.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String(name)})
			return err
		})
	}
	assume := func(cfg aws.Config, role string) (aws.Config, error) {
		out, err := sts.NewFromConfig(cfg).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(arn("role", role)), RoleSessionName: aws.String("s1")})
		if err != nil {
			return aws.Config{}, err
		}
		c := out.Credentials
		return withCreds(admin, *c.AccessKeyId, *c.SecretAccessKey, *c.SessionToken), nil
	}
	// trustShows returns the trust policy of role as GetRole and ListRoles
	// show it.
	trustShows := func(t *testing.T, role string) (get, list string) {
		t.Helper()
		r, err := iamc.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(role)})
		if err != nil {
			t.Fatalf("GetRole %s: %v", role, err)
		}
		get, err = url.QueryUnescape(*r.Role.AssumeRolePolicyDocument)
		if err != nil {
			t.Fatal(err)
		}
		rs, err := iamc.ListRoles(ctx, &iam.ListRolesInput{})
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range rs.Roles {
			if *x.RoleName == role {
				list, err = url.QueryUnescape(*x.AssumeRolePolicyDocument)
				if err != nil {
					t.Fatal(err)
				}
			}
		}
		return get, list
	}
	wantShown := func(t *testing.T, role, want, not string) {
		t.Helper()
		get, list := trustShows(t, role)
		for _, got := range []string{get, list} {
			if !strings.Contains(got, `"`+want+`"`) || (not != "" && strings.Contains(got, not)) {
				t.Fatalf("trust policy of %s shown as %s; want %q in it, not %q", role, got, want, not)
			}
		}
	}

	t.Run("user", func(t *testing.T) {
		bob, oldID := newUser(t, "bob")
		mustDo(t, "CreateRole", func() error {
			_, err := iamc.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("x"), AssumeRolePolicyDocument: aws.String(trustOf(arn("user", "bob")))})
			return err
		})
		wantShown(t, "x", arn("user", "bob"), oldID)
		if _, err := assume(bob, "x"); err != nil {
			t.Fatalf("bob AssumeRole x: %v", err)
		}
		deleteUser(t, "bob")
		wantShown(t, "x", oldID, arn("user", "bob"))

		newBob, newID := newUser(t, "bob")
		if newID == oldID {
			t.Fatalf("the new bob has the old id %s", oldID)
		}
		if _, err := assume(newBob, "x"); apiCode(err) != "AccessDenied" {
			t.Fatalf("new bob AssumeRole x: %v, want AccessDenied", err)
		}
		wantShown(t, "x", oldID, arn("user", "bob"))

		// Naming the new bob again trusts him; the stale id cannot be saved.
		_, err := iamc.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String("x"), PolicyDocument: aws.String(trustOf(oldID))})
		if apiCode(err) != "MalformedPolicyDocument" {
			t.Fatalf("UpdateAssumeRolePolicy with the old id: %v, want MalformedPolicyDocument", err)
		}
		mustDo(t, "UpdateAssumeRolePolicy", func() error {
			_, err := iamc.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String("x"), PolicyDocument: aws.String(trustOf(arn("user", "bob")))})
			return err
		})
		wantShown(t, "x", arn("user", "bob"), newID)
		if _, err := assume(newBob, "x"); err != nil {
			t.Fatalf("new bob AssumeRole x once named again: %v", err)
		}
	})

	t.Run("role", func(t *testing.T) {
		carol, _ := newUser(t, "carol")
		mustDo(t, "CreateRole ops", func() error {
			_, err := iamc.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("ops"), AssumeRolePolicyDocument: aws.String(trustOf(arn("user", "carol")))})
			return err
		})
		mustDo(t, "PutRolePolicy ops", func() error {
			_, err := iamc.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("ops"), PolicyName: aws.String("assume"), PolicyDocument: aws.String(assumeAll)})
			return err
		})
		ops, err := iamc.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("ops")})
		if err != nil {
			t.Fatal(err)
		}
		oldID := *ops.Role.RoleId
		mustDo(t, "CreateRole y", func() error {
			_, err := iamc.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("y"), AssumeRolePolicyDocument: aws.String(trustOf(arn("role", "ops")))})
			return err
		})
		wantShown(t, "y", arn("role", "ops"), oldID)
		opsSession, err := assume(carol, "ops")
		if err != nil {
			t.Fatalf("carol AssumeRole ops: %v", err)
		}
		if _, err := assume(opsSession, "y"); err != nil {
			t.Fatalf("ops session AssumeRole y: %v", err)
		}

		// ops is deleted and made again, with the same trust and policy.
		for _, f := range []func() error{
			func() error {
				_, err := iamc.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String("ops"), PolicyName: aws.String("assume")})
				return err
			},
			func() error {
				_, err := iamc.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: aws.String("ops")})
				return err
			},
		} {
			mustDo(t, "delete ops", f)
		}
		wantShown(t, "y", oldID, arn("role", "ops"))
		mustDo(t, "CreateRole ops again", func() error {
			_, err := iamc.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("ops"), AssumeRolePolicyDocument: aws.String(trustOf(arn("user", "carol")))})
			return err
		})
		mustDo(t, "PutRolePolicy ops again", func() error {
			_, err := iamc.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("ops"), PolicyName: aws.String("assume"), PolicyDocument: aws.String(assumeAll)})
			return err
		})
		newSession, err := assume(carol, "ops")
		if err != nil {
			t.Fatalf("carol AssumeRole the new ops: %v", err)
		}
		if _, err := assume(newSession, "y"); apiCode(err) != "AccessDenied" {
			t.Fatalf("new ops session AssumeRole y: %v, want AccessDenied", err)
		}
		wantShown(t, "y", oldID, arn("role", "ops"))
	})

	t.Run("missing principal refused", func(t *testing.T) {
		_, err := iamc.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("z"), AssumeRolePolicyDocument: aws.String(trustOf(arn("user", "nobody")))})
		if apiCode(err) != "MalformedPolicyDocument" || !strings.Contains(err.Error(), `Invalid principal in policy: "AWS":"`+arn("user", "nobody")+`"`) {
			t.Fatalf("CreateRole trusting a missing user: %v, want MalformedPolicyDocument Invalid principal in policy", err)
		}
		if _, err := iamc.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("z")}); apiCode(err) != "NoSuchEntity" {
			t.Fatalf("GetRole z after a refused CreateRole: %v, want NoSuchEntity", err)
		}
	})
}
