package console_test

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/postern/postern/internal/testutil/tunneltest"
)

// TestSignInBoundToIdentity: a console session belongs to the identity
// that signed in, by its unique id, not to its name. A user (password
// sign-in) or a role (federated sign-in, AssumeRoleWithWebIdentity)
// deleted and created again under the same name with allow-all leaves
// the old browser signed out (401 NotSignedIn, for the page and for the
// proxied API calls), never acting as the newcomer; the newcomer's own
// sign-in works.
func TestSignInBoundToIdentity(t *testing.T) {
	ctx := context.Background()
	whoAmI := "Action=GetCallerIdentity&Version=2011-06-15"
	cases := []struct {
		name string
		// signIn makes the identity, signs b in as it and returns the
		// ARN the console acts as, and a function that signs a new
		// browser in.
		signIn func(t *testing.T) (e *tunneltest.Env, b *browser, arn string, again func() *browser)
		// replace deletes the identity and creates a namesake that may do
		// everything.
		replace func(t *testing.T, e *tunneltest.Env)
	}{
		{
			name: "password sign-in, user deleted and re-created",
			signIn: func(t *testing.T) (*tunneltest.Env, *browser, string, func() *browser) {
				e := start(t, 100)
				loginUser(t, e, "ops", onlyWhoAmI)
				b := newBrowser(t, e, "127.0.0.2")
				si := b.signIn("ops", password, "")
				return e, b, si.ARN, func() *browser {
					nb := newBrowser(t, e, "127.0.0.2")
					nb.signIn("ops", password, "")
					return nb
				}
			},
			replace: func(t *testing.T, e *tunneltest.Env) {
				ic := iam.NewFromConfig(e.AWS(e.Admin))
				name := aws.String("ops")
				if _, err := ic.DeleteLoginProfile(ctx, &iam.DeleteLoginProfileInput{UserName: name}); err != nil {
					t.Fatal(err)
				}
				if _, err := ic.DeleteUserPolicy(ctx, &iam.DeleteUserPolicyInput{UserName: name, PolicyName: aws.String("p")}); err != nil {
					t.Fatal(err)
				}
				keys, err := ic.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: name})
				if err != nil {
					t.Fatal(err)
				}
				for _, k := range keys.AccessKeyMetadata {
					if _, err := ic.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: name, AccessKeyId: k.AccessKeyId}); err != nil {
						t.Fatal(err)
					}
				}
				if _, err := ic.DeleteUser(ctx, &iam.DeleteUserInput{UserName: name}); err != nil {
					t.Fatal(err)
				}
				loginUser(t, e, "ops", allowAll)
			},
		},
		{
			name: "federated sign-in, role deleted and re-created",
			signIn: func(t *testing.T) (*tunneltest.Env, *browser, string, func() *browser) {
				s := startFederated(t, true)
				b := newBrowser(t, s.e, "127.0.0.3")
				if loc := s.signInAt(t, b, "example-sso", fedAlice); loc != "/console/#/endpoints" {
					t.Fatalf("callback sent the browser to %q", loc)
				}
				code, si := b.session()
				if code != http.StatusOK {
					t.Fatalf("session after the federated sign-in: %d", code)
				}
				return s.e, b, si.ARN, func() *browser {
					nb := newBrowser(t, s.e, "127.0.0.3")
					if loc := s.signInAt(t, nb, "example-sso", fedAlice); loc != "/console/#/endpoints" {
						t.Fatalf("sign-in to the new role sent the browser to %q", loc)
					}
					nb.session()
					return nb
				}
			},
			replace: func(t *testing.T, e *tunneltest.Env) {
				ic := iam.NewFromConfig(e.AWS(e.Admin))
				name := aws.String("dev")
				old, err := ic.GetRole(ctx, &iam.GetRoleInput{RoleName: name})
				if err != nil {
					t.Fatal(err)
				}
				// The namesake trusts the same person (GetRole returns the
				// document URL-encoded, as AWS does).
				trust, err := url.QueryUnescape(aws.ToString(old.Role.AssumeRolePolicyDocument))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := ic.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: name, PolicyName: aws.String("read")}); err != nil {
					t.Fatal(err)
				}
				if _, err := ic.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: name}); err != nil {
					t.Fatal(err)
				}
				if _, err := ic.CreateRole(ctx, &iam.CreateRoleInput{RoleName: name, AssumeRolePolicyDocument: aws.String(trust)}); err != nil {
					t.Fatal(err)
				}
				if _, err := ic.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: name, PolicyName: aws.String("all"), PolicyDocument: aws.String(allowAll)}); err != nil {
					t.Fatal(err)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, b, arn, again := tc.signIn(t)
			if _, body := b.call("sts", "", whoAmI); !bytes.Contains(body, []byte(arn)) {
				t.Fatalf("GetCallerIdentity before: %s, want %s", body, arn)
			}
			if resp, body := b.call("iam", "", "Action=ListUsers&Version=2010-05-08"); resp.StatusCode != http.StatusForbidden {
				t.Fatalf("ListUsers before: %d %s, want 403", resp.StatusCode, body)
			}

			u, err := url.Parse(e.URL)
			if err != nil {
				t.Fatal(err)
			}
			cookies := b.jar.Cookies(u)
			if len(cookies) != 1 {
				t.Fatalf("cookies after sign-in: %v", cookies)
			}

			tc.replace(t, e)

			// The old browser is signed out, for the page and the proxy:
			// its cookie, sent again each time (a 401 clears it), opens
			// nothing.
			b.jar.SetCookies(u, cookies)
			if resp, body := b.do(http.MethodGet, "/console/api/session", nil, nil); resp.StatusCode != http.StatusUnauthorized ||
				decode[apiErr](t, body).Code != "NotSignedIn" {
				t.Fatalf("session after the identity was replaced: %d %s, want 401 NotSignedIn", resp.StatusCode, body)
			}
			for _, call := range []struct{ service, body string }{
				{"iam", "Action=ListUsers&Version=2010-05-08"},
				{"iam", "Action=CreateUser&Version=2010-05-08&UserName=intruder"},
				{"sts", whoAmI},
			} {
				b.jar.SetCookies(u, cookies)
				resp, body := b.call(call.service, "", call.body)
				if resp.StatusCode != http.StatusUnauthorized || decode[apiErr](t, body).Code != "NotSignedIn" {
					t.Errorf("%s %s with the old session: %d %s, want 401 NotSignedIn", call.service, call.body, resp.StatusCode, body)
				}
			}
			if _, err := iam.NewFromConfig(e.AWS(e.Admin)).GetUser(ctx, &iam.GetUserInput{UserName: aws.String("intruder")}); err == nil {
				t.Errorf("the old session created a user")
			}

			// The namesake signs in by itself and acts with its own
			// permissions: the refusal above was the binding, not the name.
			nb := again()
			if resp, body := nb.call("iam", "", "Action=ListUsers&Version=2010-05-08"); resp.StatusCode != http.StatusOK {
				t.Fatalf("ListUsers as the new identity: %d %s", resp.StatusCode, body)
			}
		})
	}
}
