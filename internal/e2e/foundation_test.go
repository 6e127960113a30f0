package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// TestNewUserFlow is the foundation issue's acceptance scenario, run as a
// new user would: start the server, use the printed environment with the
// postern CLI, then the AWS SDK for Go v2 IAM and STS clients.
func TestNewUserFlow(t *testing.T) {
	ctx := context.Background()
	dataDir := filepath.Join(t.TempDir(), "data")
	srv := startServer(t, dataDir)

	out := srv.output()
	for _, want := range []string{"export AWS_SHARED_CREDENTIALS_FILE=", "AWS_PROFILE=postern", "postern sts get-caller-identity", "ca.pem"} {
		if !strings.Contains(out, want) {
			t.Errorf("welcome text lacks %q:\n%s", want, out)
		}
	}
	for _, f := range []string{"credentials", "config", "ca.pem", "postern.db", "secret.key"} {
		if _, err := os.Stat(filepath.Join(dataDir, f)); err != nil {
			t.Errorf("data dir lacks %s: %v", f, err)
		}
	}
	if st, err := os.Stat(filepath.Join(dataDir, "credentials")); err == nil && st.Mode().Perm() != 0o600 {
		t.Errorf("credentials mode %v, want 0600", st.Mode().Perm())
	}

	// postern sts get-caller-identity with the three variables.
	stdout, stderr, code := srv.cli(t, nil, "sts", "get-caller-identity")
	if code != 0 {
		t.Fatalf("get-caller-identity exit %d: %s", code, stderr)
	}
	var ident struct{ UserId, Account, Arn string }
	if err := json.Unmarshal([]byte(stdout), &ident); err != nil {
		t.Fatalf("get-caller-identity output %q: %v", stdout, err)
	}
	if !strings.HasSuffix(ident.Arn, ":user/admin") || len(ident.Account) != 12 {
		t.Fatalf("caller identity %+v", ident)
	}

	admin := srv.adminConfig(t)
	iamc := iam.NewFromConfig(admin)
	acct := ident.Account

	if _, err := iamc.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("alice")}); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	if _, err := iamc.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("bob")}); err != nil {
		t.Fatalf("CreateUser bob: %v", err)
	}
	selfOnly := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetUser","Resource":"arn:aws:iam::` + acct + `:user/${aws:username}"}]}`
	if _, err := iamc.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("self"), PolicyDocument: aws.String(selfOnly)}); err != nil {
		t.Fatalf("PutUserPolicy: %v", err)
	}
	key, err := iamc.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("alice")})
	if err != nil {
		t.Fatalf("CreateAccessKey: %v", err)
	}
	aliceCfg := withCreds(admin, *key.AccessKey.AccessKeyId, *key.AccessKey.SecretAccessKey, "")
	alice := iam.NewFromConfig(aliceCfg)

	got, err := alice.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("alice")})
	if err != nil {
		t.Fatalf("alice GetUser self: %v", err)
	}
	if *got.User.UserName != "alice" {
		t.Fatalf("GetUser returned %q", *got.User.UserName)
	}
	denied := []struct {
		name string
		call func() error
	}{
		{"GetUser bob", func() error { _, err := alice.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("bob")}); return err }},
		{"ListUsers", func() error { _, err := alice.ListUsers(ctx, &iam.ListUsersInput{}); return err }},
		{"CreateUser", func() error {
			_, err := alice.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("mallory")})
			return err
		}},
		{"CreateAccessKey", func() error {
			_, err := alice.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("alice")})
			return err
		}},
	}
	for _, d := range denied {
		if err := d.call(); apiCode(err) != "AccessDenied" {
			t.Errorf("alice %s: got %v, want AccessDenied", d.name, err)
		}
	}
	// GetCallerIdentity needs no permission.
	who, err := sts.NewFromConfig(aliceCfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || !strings.HasSuffix(*who.Arn, ":user/alice") {
		t.Fatalf("alice GetCallerIdentity: %v %v", who, err)
	}

	// A denied user through the CLI gets AWS's error line and exit code.
	_, stderr, code = srv.cli(t, []string{
		"AWS_ACCESS_KEY_ID=" + *key.AccessKey.AccessKeyId, "AWS_SECRET_ACCESS_KEY=" + *key.AccessKey.SecretAccessKey,
	}, "iam", "list-users")
	if code != 254 || !strings.Contains(stderr, "An error occurred (AccessDenied) when calling the ListUsers operation") {
		t.Errorf("denied CLI call: exit %d, stderr %q", code, stderr)
	}

	// Restart keeps everything; the database holds no secret in plain text.
	if err := srv.stop(); err != nil {
		t.Fatalf("graceful stop: %v\n%s", err, srv.output())
	}
	secrets := [][]byte{[]byte(*key.AccessKey.SecretAccessKey)}
	if c, err := os.ReadFile(filepath.Join(dataDir, "credentials")); err == nil {
		for _, line := range strings.Split(string(c), "\n") {
			if k, v, ok := strings.Cut(line, "="); ok && strings.TrimSpace(k) == "aws_secret_access_key" {
				secrets = append(secrets, []byte(strings.TrimSpace(v)))
			}
		}
	}
	if len(secrets) != 2 {
		t.Fatalf("could not read the admin secret from the credentials file")
	}
	matches, _ := filepath.Glob(filepath.Join(dataDir, "postern.db*"))
	for _, f := range matches {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range secrets {
			if bytes.Contains(data, s) {
				t.Errorf("%s contains a secret access key in plain text", filepath.Base(f))
			}
		}
	}

	srv2 := startServer(t, dataDir)
	if strings.Contains(srv2.output(), "created:") {
		t.Errorf("restart created files again:\n%s", srv2.output())
	}
	admin2 := srv2.adminConfig(t)
	users, err := iam.NewFromConfig(admin2).ListUsers(ctx, &iam.ListUsersInput{})
	if err != nil {
		t.Fatalf("ListUsers after restart: %v", err)
	}
	var names []string
	for _, u := range users.Users {
		names = append(names, *u.UserName)
	}
	if strings.Join(names, ",") != "admin,alice,bob" {
		t.Errorf("users after restart: %v", names)
	}
	alice2 := iam.NewFromConfig(withCreds(admin2, *key.AccessKey.AccessKeyId, *key.AccessKey.SecretAccessKey, ""))
	if _, err := alice2.GetUser(ctx, &iam.GetUserInput{}); err != nil {
		t.Errorf("alice after restart: %v", err)
	}
	who2, err := sts.NewFromConfig(admin2).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || *who2.Account != acct {
		t.Errorf("account after restart: %v %v", who2, err)
	}
}
