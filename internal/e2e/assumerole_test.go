package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// TestAssumeRole: a role whose trust policy allows a user, assumed by that
// user, yields credentials that sign requests with their session token.
func TestAssumeRole(t *testing.T) {
	ctx := context.Background()
	srv := startServer(t, filepath.Join(t.TempDir(), "data"))
	admin, acct := srv.adminAccount(t)
	iamc := iam.NewFromConfig(admin)

	mustDo(t, "CreateUser", func() error {
		_, err := iamc.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("dev")})
		return err
	})
	key, err := iamc.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("dev")})
	if err != nil {
		t.Fatal(err)
	}
	mustDo(t, "PutUserPolicy", func() error {
		_, err := iamc.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("dev"), PolicyName: aws.String("assume"),
			PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"arn:aws:iam::` + acct + `:role/operator"}]}`)})
		return err
	})
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:user/dev"},"Action":"sts:AssumeRole"}]}`
	mustDo(t, "CreateRole", func() error {
		_, err := iamc.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("operator"), AssumeRolePolicyDocument: aws.String(trust)})
		return err
	})
	mustDo(t, "PutRolePolicy", func() error {
		_, err := iamc.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("operator"), PolicyName: aws.String("list"),
			PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:ListUsers","Resource":"*"}]}`)})
		return err
	})

	devCfg := withCreds(admin, *key.AccessKey.AccessKeyId, *key.AccessKey.SecretAccessKey, "")
	out, err := sts.NewFromConfig(devCfg).AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::" + acct + ":role/operator"), RoleSessionName: aws.String("s1"), DurationSeconds: aws.Int32(900)})
	if err != nil {
		t.Fatalf("AssumeRole: %v", err)
	}
	c := out.Credentials
	if c == nil || c.SessionToken == nil || !strings.HasPrefix(*c.AccessKeyId, "ASIA") {
		t.Fatalf("credentials %+v", c)
	}
	roleCfg := withCreds(admin, *c.AccessKeyId, *c.SecretAccessKey, *c.SessionToken)
	me, err := sts.NewFromConfig(roleCfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity as role: %v", err)
	}
	if want := "arn:aws:sts::" + acct + ":assumed-role/operator/s1"; *me.Arn != want {
		t.Errorf("role session ARN %s, want %s", *me.Arn, want)
	}
	if _, err := iam.NewFromConfig(roleCfg).ListUsers(ctx, &iam.ListUsersInput{}); err != nil {
		t.Errorf("role session ListUsers: %v", err)
	}
	if _, err := iam.NewFromConfig(roleCfg).CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("x")}); apiCode(err) != "AccessDenied" {
		t.Errorf("role session CreateUser: %v, want AccessDenied", err)
	}
	// The session token is checked: the same key with another token fails.
	bad := withCreds(admin, *c.AccessKeyId, *c.SecretAccessKey, *c.SessionToken+"x")
	if _, err := sts.NewFromConfig(bad).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); apiCode(err) != "InvalidClientTokenId" {
		t.Errorf("wrong session token: %v, want InvalidClientTokenId", err)
	}
	noToken := withCreds(admin, *c.AccessKeyId, *c.SecretAccessKey, "")
	if _, err := sts.NewFromConfig(noToken).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); apiCode(err) != "InvalidClientTokenId" {
		t.Errorf("missing session token: %v, want InvalidClientTokenId", err)
	}
	// Someone the trust policy does not name is refused.
	if _, err := sts.NewFromConfig(admin).AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::" + acct + ":role/operator"), RoleSessionName: aws.String("s2")}); apiCode(err) != "AccessDenied" {
		t.Errorf("admin AssumeRole outside trust: %v, want AccessDenied", err)
	}
}

func mustDo(t *testing.T, what string, f func() error) {
	t.Helper()
	if err := f(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}
