package frontdoor_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/server/iamapi"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/testutil/oidcop"
	"github.com/postern/postern/internal/testutil/tunneltest"
	"github.com/postern/postern/internal/wire/awsid"
)

// The OpenID provider of the web identity case.
const webClient = "postern-ci"

var webUser = oidcop.User{Subject: "sub-ci", Username: "ci", Password: "ci's password"}

// webIdentitySession creates the OIDC provider and role ops (tunnels
// only), which trusts the provider's user, and returns a session of ops
// from AssumeRoleWithWebIdentity, unsigned as the SDK sends it.
func webIdentitySession(t *testing.T, e *tunneltest.Env, op *oidcop.Provider) aws.Credentials {
	t.Helper()
	ctx := context.Background()
	ic := iam.NewFromConfig(e.AWS(e.Admin))
	out, err := ic.CreateOpenIDConnectProvider(ctx, &iam.CreateOpenIDConnectProviderInput{Url: aws.String(op.Issuer),
		ClientIDList: []string{webClient}, ThumbprintList: []string{op.Thumbprint}})
	must(t, err)
	provider := aws.ToString(out.OpenIDConnectProviderArn)
	_, host, _ := strings.Cut(provider, ":oidc-provider/")
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"` + provider + `"},` +
		`"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"` + host + `:aud":"` + webClient + `","` + host + `:sub":"` + webUser.Subject + `"}}}]}`
	_, err = ic.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(identityName), AssumeRolePolicyDocument: aws.String(trust)})
	must(t, err)
	_, err = ic.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(identityName), PolicyName: aws.String("p"), PolicyDocument: aws.String(tunnelPolicy)})
	must(t, err)
	anon := e.AWS(aws.Credentials{})
	anon.Credentials = aws.AnonymousCredentials{}
	s, err := sts.NewFromConfig(anon).AssumeRoleWithWebIdentity(ctx, &sts.AssumeRoleWithWebIdentityInput{
		RoleArn: aws.String("arn:aws:iam::" + e.Server.AccountID + ":role/" + identityName), RoleSessionName: aws.String("build-1"),
		WebIdentityToken: aws.String(op.IDToken(t, webClient, webUser))})
	must(t, err)
	return aws.Credentials{AccessKeyID: aws.ToString(s.Credentials.AccessKeyId), SecretAccessKey: aws.ToString(s.Credentials.SecretAccessKey),
		SessionToken: aws.ToString(s.Credentials.SessionToken)}
}

// The session binding of TestCredentialsDoNotOutliveTheirIdentity, for the
// sessions that do not come from AssumeRole or an access key: a web
// identity's (AssumeRoleWithWebIdentity, bound to the role's AROA id) and
// a console sign-in's (bound to the user's AIDA id). Once the identity is
// deleted and one of the same name created with allow-all (in one store
// transaction, so that only the binding can tell them apart), the old
// session's tunnel closes as revoked and its API calls get
// InvalidClientTokenId (EC2: AuthFailure), 4xx, never the new identity's
// permissions.
func TestSessionsDoNotOutliveTheirIdentity(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		// open creates identity ops and returns a session of it.
		open func(t *testing.T, e *tunneltest.Env) aws.Credentials
		// replace deletes ops and creates a new ops that allows everything,
		// in one transaction.
		replace func(t *testing.T, e *tunneltest.Env)
		// why is part of the tunnel's close reason.
		why string
	}{
		{
			name: "web identity session, role deleted and re-created",
			open: func(t *testing.T, e *tunneltest.Env) aws.Credentials {
				op := oidcop.Start(t, oidcop.Options{Clients: []oidcop.Client{{ID: webClient, Native: true,
					RedirectURIs: []string{"http://127.0.0.1/callback"}}}, Users: []oidcop.User{webUser}})
				return webIdentitySession(t, e, op)
			},
			replace: func(t *testing.T, e *tunneltest.Env) {
				// In one transaction, as in TestCredentialsDoNotOutliveTheirIdentity:
				// no re-check falls between the steps (a re-check after the
				// policy's deletion alone would end the tunnel for that).
				err := e.Server.Store.InTx(ctx, func(tx store.Repo) error {
					old, err := tx.GetRole(ctx, identityName)
					if err != nil {
						return err
					}
					ref := store.PrincipalRef{Kind: store.KindRole, Name: identityName}
					if err := tx.DeleteInlinePolicy(ctx, ref, "p"); err != nil {
						return err
					}
					if err := tx.DeleteRole(ctx, identityName); err != nil {
						return err
					}
					// The namesake trusts the same web identity.
					r := store.Role{RoleID: awsid.Unique(awsid.PrefixRole), RoleName: identityName, Path: "/", ARN: old.ARN,
						AssumeRolePolicyDocument: old.AssumeRolePolicyDocument, MaxSessionDuration: old.MaxSessionDuration, CreateDate: time.Now().UTC()}
					if err := tx.CreateRole(ctx, r); err != nil {
						return err
					}
					return tx.PutInlinePolicy(ctx, store.InlinePolicy{Owner: ref, PolicyName: "all", Document: allowAll})
				})
				must(t, err)
			},
			why: "the role was deleted",
		},
		{
			name: "console session, user deleted and re-created",
			open: func(t *testing.T, e *tunneltest.Env) aws.Credentials {
				e.NewUser(identityName, tunnelPolicy)
				cfg := iamapi.Config{Store: e.Server.Store, Sealer: e.Server.Sealer, AccountID: e.Server.AccountID}
				r, err := iamapi.IssueUserSession(ctx, cfg, identityName, "192.0.2.1", time.Hour)
				must(t, err)
				return aws.Credentials{AccessKeyID: r.AccessKeyID, SecretAccessKey: r.SecretAccessKey, SessionToken: r.SessionToken}
			},
			replace: func(t *testing.T, e *tunneltest.Env) {
				err := e.Server.Store.InTx(ctx, func(tx store.Repo) error {
					old, err := tx.GetUser(ctx, identityName)
					if err != nil {
						return err
					}
					ref := store.PrincipalRef{Kind: store.KindUser, Name: identityName}
					if err := tx.DeleteInlinePolicy(ctx, ref, "p"); err != nil {
						return err
					}
					keys, err := tx.ListAccessKeys(ctx, identityName)
					if err != nil {
						return err
					}
					for _, k := range keys {
						if err := tx.DeleteAccessKey(ctx, k.AccessKeyID); err != nil {
							return err
						}
					}
					if err := tx.DeleteUser(ctx, identityName); err != nil {
						return err
					}
					u := store.User{UserID: awsid.Unique(awsid.PrefixUser), UserName: identityName, Path: "/", ARN: old.ARN, CreateDate: time.Now().UTC()}
					if err := tx.CreateUser(ctx, u); err != nil {
						return err
					}
					return tx.PutInlinePolicy(ctx, store.InlinePolicy{Owner: ref, PolicyName: "all", Document: allowAll})
				})
				must(t, err)
			},
			why: "the user was deleted",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := startAll(t)
			echo := tunneltest.Echo(t)
			creds := tc.open(t, e)
			old := iam.NewFromConfig(e.AWS(creds))

			// Before: a tunnel, and no IAM.
			tun, err := e.Dialer(creds).Dial(ctx, e.Local(echo.Port))
			must(t, err)
			defer tun.Close()
			roundTrip(t, tun, "before")
			_, err = old.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("before")})
			refusedAs(t, "CreateUser before", err, "AccessDenied")

			end := tunneltest.WatchEnd(tun)
			start := time.Now()
			tc.replace(t, e)
			end.Within(t, start, 2*time.Second, 1008, "Access was revoked: "+tc.why)
			if reason, _ := lastClose(t, e); reason != "Revoked" {
				t.Errorf("close record reason %q, want Revoked", reason)
			}

			// After: the old session does nothing at all, and says so
			// with the code an SDK expects (not a 500 it would retry).
			_, err = old.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("intruder")})
			refusedAs(t, "iam CreateUser", err, "InvalidClientTokenId")
			_, err = sts.NewFromConfig(e.AWS(creds)).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
			refusedAs(t, "sts GetCallerIdentity", err, "InvalidClientTokenId")
			_, err = e.EC2(creds).DescribeInstanceConnectEndpoints(ctx, nil)
			refusedAs(t, "ec2 DescribeInstanceConnectEndpoints", err, "AuthFailure")
			if _, err := iam.NewFromConfig(e.AWS(e.Admin)).GetUser(ctx, &iam.GetUserInput{UserName: aws.String("intruder")}); err == nil {
				t.Errorf("the old session created a user")
			}
			tun2, err := e.Dialer(creds).Dial(ctx, e.Local(echo.Port))
			if err == nil {
				tun2.Close()
				t.Fatalf("the old session opened a tunnel")
			}
			var re *client.RefusedError
			if !errors.As(err, &re) || re.Status != http.StatusForbidden || re.ErrorCode != "UnrecognizedClientException" {
				t.Errorf("tunnel with the old session: %v, want 403 UnrecognizedClientException", err)
			}
		})
	}
}
