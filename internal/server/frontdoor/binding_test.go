package frontdoor_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/testutil/tunneltest"
	"github.com/postern/postern/internal/wire/awsid"
)

// Policies of the identity bound tests.
const (
	allowAll     = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`
	trustNobody  = `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}`
	identityName = "ops"
)

// refusedAs fails t unless err is an AWS error with one of codes and a 4xx
// HTTP status (a 500 makes the SDK retry and tells the caller nothing).
func refusedAs(t *testing.T, what string, err error, codes ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: succeeded, want it refused with %v", what, codes)
	}
	var ae smithy.APIError
	var re *awshttp.ResponseError
	if !errors.As(err, &ae) || !errors.As(err, &re) {
		t.Fatalf("%s: %v, want an AWS error", what, err)
	}
	if s := re.HTTPStatusCode(); s < 400 || s > 499 {
		t.Errorf("%s: HTTP %d (%s), want 4xx", what, s, ae.ErrorCode())
	}
	for _, c := range codes {
		if ae.ErrorCode() == c {
			return
		}
	}
	t.Errorf("%s: %s (%s), want one of %v", what, ae.ErrorCode(), ae.ErrorMessage(), codes)
}

// boundEnv is a server with an identity called ops (a role or a user)
// whose credentials opened a tunnel.
type boundEnv struct {
	e     *tunneltest.Env
	acct  string
	iam   *iam.Client
	creds aws.Credentials // the old identity's
}

// roleSession creates role ops (tunnels only, trusting the account) and
// returns a session of it.
func roleSession(t *testing.T, e *tunneltest.Env, acct string) aws.Credentials {
	t.Helper()
	ctx := context.Background()
	ic := iam.NewFromConfig(e.AWS(e.Admin))
	_, err := ic.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(identityName), AssumeRolePolicyDocument: aws.String(
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:root"},"Action":"sts:AssumeRole"}]}`)})
	must(t, err)
	_, err = ic.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(identityName), PolicyName: aws.String("p"), PolicyDocument: aws.String(tunnelPolicy)})
	must(t, err)
	out, err := sts.NewFromConfig(e.AWS(e.Admin)).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + acct + ":role/" + identityName),
		RoleSessionName: aws.String("old")})
	must(t, err)
	return aws.Credentials{AccessKeyID: aws.ToString(out.Credentials.AccessKeyId), SecretAccessKey: aws.ToString(out.Credentials.SecretAccessKey),
		SessionToken: aws.ToString(out.Credentials.SessionToken)}
}

// deleteRoleAPI deletes role ops as AWS requires: its policy first.
func deleteRoleAPI(t *testing.T, b boundEnv) {
	t.Helper()
	ctx := context.Background()
	_, err := b.iam.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String(identityName), PolicyName: aws.String("p")})
	must(t, err)
	_, err = b.iam.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: aws.String(identityName)})
	must(t, err)
}

// recreateRoleAPI creates a new role ops that allows everything and trusts
// nobody.
func recreateRoleAPI(t *testing.T, b boundEnv) {
	t.Helper()
	ctx := context.Background()
	_, err := b.iam.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(identityName), AssumeRolePolicyDocument: aws.String(trustNobody)})
	must(t, err)
	_, err = b.iam.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(identityName), PolicyName: aws.String("all"), PolicyDocument: aws.String(allowAll)})
	must(t, err)
}

// A credential belongs to the identity it was issued to, not to its name:
// once role ops (or user ops) is deleted, its sessions (keys) are refused
// with an AWS error the SDK understands, whether or not a new identity
// called ops exists, and the tunnels they opened close as revoked.
func TestCredentialsDoNotOutliveTheirIdentity(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		// open creates identity ops and returns its credentials.
		open func(t *testing.T, e *tunneltest.Env, acct string) aws.Credentials
		// replace deletes ops and, in most cases, creates a new ops.
		replace func(t *testing.T, b boundEnv)
		// codes the old credentials' API calls may be refused with.
		iamCodes, ec2Codes []string
	}{
		{
			name: "role deleted",
			open: roleSession, replace: deleteRoleAPI,
			iamCodes: []string{"InvalidClientTokenId", "ExpiredToken"}, ec2Codes: []string{"AuthFailure", "ExpiredToken"},
		},
		{
			name: "role deleted and re-created with allow-all",
			open: roleSession,
			replace: func(t *testing.T, b boundEnv) {
				deleteRoleAPI(t, b)
				recreateRoleAPI(t, b)
			},
			iamCodes: []string{"InvalidClientTokenId", "ExpiredToken"}, ec2Codes: []string{"AuthFailure", "ExpiredToken"},
		},
		{
			// The same in one transaction: no re-check of the tunnels can
			// fall between the delete and the re-creation.
			name: "role swapped in one transaction",
			open: roleSession,
			replace: func(t *testing.T, b boundEnv) {
				err := b.e.Server.Store.InTx(ctx, func(tx store.Repo) error {
					old := store.PrincipalRef{Kind: store.KindRole, Name: identityName}
					if err := tx.DeleteInlinePolicy(ctx, old, "p"); err != nil {
						return err
					}
					if err := tx.DeleteRole(ctx, identityName); err != nil {
						return err
					}
					r := store.Role{RoleID: awsid.Unique(awsid.PrefixRole), RoleName: identityName, Path: "/",
						ARN: "arn:aws:iam::" + b.acct + ":role/" + identityName, AssumeRolePolicyDocument: trustNobody,
						MaxSessionDuration: 3600, CreateDate: time.Now().UTC()}
					if err := tx.CreateRole(ctx, r); err != nil {
						return err
					}
					return tx.PutInlinePolicy(ctx, store.InlinePolicy{Owner: old, PolicyName: "all", Document: allowAll})
				})
				must(t, err)
			},
			iamCodes: []string{"InvalidClientTokenId", "ExpiredToken"}, ec2Codes: []string{"AuthFailure", "ExpiredToken"},
		},
		{
			name: "user deleted and re-created with allow-all",
			open: func(t *testing.T, e *tunneltest.Env, _ string) aws.Credentials {
				return e.NewUser(identityName, tunnelPolicy)
			},
			replace: func(t *testing.T, b boundEnv) {
				_, err := b.iam.DeleteUserPolicy(ctx, &iam.DeleteUserPolicyInput{UserName: aws.String(identityName), PolicyName: aws.String("p")})
				must(t, err)
				_, err = b.iam.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String(identityName), AccessKeyId: aws.String(b.creds.AccessKeyID)})
				must(t, err)
				_, err = b.iam.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String(identityName)})
				must(t, err)
				b.e.NewUser(identityName, allowAll) // a new user, a new key
			},
			iamCodes: []string{"InvalidClientTokenId"}, ec2Codes: []string{"AuthFailure"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := startAll(t)
			echo := tunneltest.Echo(t)
			who, err := sts.NewFromConfig(e.AWS(e.Admin)).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
			must(t, err)
			acct := aws.ToString(who.Account)
			b := boundEnv{e: e, acct: acct, iam: iam.NewFromConfig(e.AWS(e.Admin))}
			b.creds = tc.open(t, e, acct)
			old := iam.NewFromConfig(e.AWS(b.creds))

			// Before: a tunnel, and no IAM.
			tun, err := e.Dialer(b.creds).Dial(ctx, e.Local(echo.Port))
			must(t, err)
			defer tun.Close()
			roundTrip(t, tun, "before")
			_, err = old.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("before")})
			refusedAs(t, "CreateUser before", err, "AccessDenied")

			end := tunneltest.WatchEnd(tun)
			start := time.Now()
			tc.replace(t, b)
			end.Within(t, start, 2*time.Second, 1008, "Access was revoked")
			if reason, _ := lastClose(t, e); reason != "Revoked" {
				t.Errorf("close record reason %q, want Revoked", reason)
			}

			// After: the old credentials do nothing at all.
			_, err = old.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("intruder")})
			refusedAs(t, "iam CreateUser", err, tc.iamCodes...)
			_, err = sts.NewFromConfig(e.AWS(b.creds)).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
			refusedAs(t, "sts GetCallerIdentity", err, tc.iamCodes...)
			_, err = e.EC2(b.creds).DescribeInstanceConnectEndpoints(ctx, &ec2.DescribeInstanceConnectEndpointsInput{})
			refusedAs(t, "ec2 DescribeInstanceConnectEndpoints", err, tc.ec2Codes...)
			if _, err := b.iam.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("intruder")}); err == nil {
				t.Errorf("the old credentials created a user")
			}
			if tun2, err := e.Dialer(b.creds).Dial(ctx, e.Local(echo.Port)); err == nil {
				tun2.Close()
				t.Errorf("the old credentials opened a tunnel")
			}
		})
	}
}
