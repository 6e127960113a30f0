package iamapi

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/postern/postern/internal/server/oidcverify"
	"github.com/postern/postern/internal/testutil/oidcop"
	"github.com/postern/postern/internal/testutil/testclock"
)

// TestOIDCProviders: the IAM OIDC provider actions with the AWS SDK for Go
// v2, with AWS's shapes and errors.
func TestOIDCProviders(t *testing.T) {
	e := newEnv(t)
	a := e.iam(e.admin)
	thumb := strings.Repeat("ab", 20)
	out := must(a.CreateOpenIDConnectProvider(ctx, &iam.CreateOpenIDConnectProviderInput{
		Url: aws.String("https://Token.Example.com/ci/"), ClientIDList: []string{"sts.amazonaws.com", "sts.amazonaws.com", "postern"},
		ThumbprintList: []string{strings.ToUpper(thumb)}, Tags: []iamtypes.Tag{{Key: aws.String("team"), Value: aws.String("ops")}}}))(t)
	arn := "arn:aws:iam::" + testAccount + ":oidc-provider/token.example.com/ci"
	if aws.ToString(out.OpenIDConnectProviderArn) != arn || len(out.Tags) != 1 {
		t.Fatalf("CreateOpenIDConnectProvider = %s %v, want %s and the tag", aws.ToString(out.OpenIDConnectProviderArn), out.Tags, arn)
	}
	// ThumbprintList may be left out, as AWS now allows.
	must(a.CreateOpenIDConnectProvider(ctx, &iam.CreateOpenIDConnectProviderInput{
		Url: aws.String("https://accounts.example.org"), ClientIDList: []string{"x"}}))(t)

	got := must(a.GetOpenIDConnectProvider(ctx, &iam.GetOpenIDConnectProviderInput{OpenIDConnectProviderArn: aws.String(arn)}))(t)
	if aws.ToString(got.Url) != "token.example.com/ci" || !slices.Equal(got.ClientIDList, []string{"sts.amazonaws.com", "postern"}) ||
		!slices.Equal(got.ThumbprintList, []string{thumb}) || got.CreateDate == nil || len(got.Tags) != 1 {
		t.Fatalf("GetOpenIDConnectProvider = %+v", got)
	}
	list := must(a.ListOpenIDConnectProviders(ctx, &iam.ListOpenIDConnectProvidersInput{}))(t)
	if len(list.OpenIDConnectProviderList) != 2 || aws.ToString(list.OpenIDConnectProviderList[1].Arn) != arn {
		t.Fatalf("ListOpenIDConnectProviders = %+v", list.OpenIDConnectProviderList)
	}

	p := aws.String(arn)
	must(a.AddClientIDToOpenIDConnectProvider(ctx, &iam.AddClientIDToOpenIDConnectProviderInput{OpenIDConnectProviderArn: p, ClientID: aws.String("more")}))(t)
	must(a.AddClientIDToOpenIDConnectProvider(ctx, &iam.AddClientIDToOpenIDConnectProviderInput{OpenIDConnectProviderArn: p, ClientID: aws.String("more")}))(t)
	must(a.RemoveClientIDFromOpenIDConnectProvider(ctx, &iam.RemoveClientIDFromOpenIDConnectProviderInput{OpenIDConnectProviderArn: p, ClientID: aws.String("postern")}))(t)
	thumb2 := strings.Repeat("01", 20)
	must(a.UpdateOpenIDConnectProviderThumbprint(ctx, &iam.UpdateOpenIDConnectProviderThumbprintInput{OpenIDConnectProviderArn: p, ThumbprintList: []string{thumb2}}))(t)
	must(a.TagOpenIDConnectProvider(ctx, &iam.TagOpenIDConnectProviderInput{OpenIDConnectProviderArn: p,
		Tags: []iamtypes.Tag{{Key: aws.String("TEAM"), Value: aws.String("ci")}, {Key: aws.String("env"), Value: aws.String("prod")}}}))(t)
	must(a.UntagOpenIDConnectProvider(ctx, &iam.UntagOpenIDConnectProviderInput{OpenIDConnectProviderArn: p, TagKeys: []string{"env"}}))(t)
	got = must(a.GetOpenIDConnectProvider(ctx, &iam.GetOpenIDConnectProviderInput{OpenIDConnectProviderArn: p}))(t)
	if !slices.Equal(got.ClientIDList, []string{"sts.amazonaws.com", "more"}) || !slices.Equal(got.ThumbprintList, []string{thumb2}) {
		t.Errorf("after the updates: %v %v", got.ClientIDList, got.ThumbprintList)
	}
	tags := must(a.ListOpenIDConnectProviderTags(ctx, &iam.ListOpenIDConnectProviderTagsInput{OpenIDConnectProviderArn: p}))(t)
	if len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Key) != "TEAM" || aws.ToString(tags.Tags[0].Value) != "ci" || tags.IsTruncated {
		t.Errorf("ListOpenIDConnectProviderTags = %+v", tags.Tags)
	}

	missing := aws.String(arn + "x")
	for _, tc := range []struct {
		name   string
		call   func() error
		code   string
		status int
		msg    string
	}{
		{"create again", func() error {
			_, err := a.CreateOpenIDConnectProvider(ctx, &iam.CreateOpenIDConnectProviderInput{Url: aws.String("https://token.example.com/ci"), ClientIDList: []string{"a"}})
			return err
		}, "EntityAlreadyExists", http.StatusConflict, "Provider with url https://token.example.com/ci already exists."},
		{"http URL", func() error {
			_, err := a.CreateOpenIDConnectProvider(ctx, &iam.CreateOpenIDConnectProviderInput{Url: aws.String("http://token.example.com"), ClientIDList: []string{"a"}})
			return err
		}, "InvalidInput", http.StatusBadRequest, "Invalid OpenID Connect provider URL"},
		{"short thumbprint", func() error {
			_, err := a.CreateOpenIDConnectProvider(ctx, &iam.CreateOpenIDConnectProviderInput{Url: aws.String("https://t.example.com"), ThumbprintList: []string{"abcd"}})
			return err
		}, "ValidationError", http.StatusBadRequest, "thumbprintList.1.member"},
		{"get missing", func() error {
			_, err := a.GetOpenIDConnectProvider(ctx, &iam.GetOpenIDConnectProviderInput{OpenIDConnectProviderArn: missing})
			return err
		}, "NoSuchEntity", http.StatusNotFound, "OpenIDConnect Provider not found for arn " + *missing},
		{"add to missing", func() error {
			_, err := a.AddClientIDToOpenIDConnectProvider(ctx, &iam.AddClientIDToOpenIDConnectProviderInput{OpenIDConnectProviderArn: missing, ClientID: aws.String("a")})
			return err
		}, "NoSuchEntity", http.StatusNotFound, "OpenIDConnect Provider not found"},
		{"not an OIDC provider ARN", func() error {
			_, err := a.DeleteOpenIDConnectProvider(ctx, &iam.DeleteOpenIDConnectProviderInput{OpenIDConnectProviderArn: aws.String("arn:aws:iam::" + testAccount + ":role/x")})
			return err
		}, "InvalidInput", http.StatusBadRequest, "is not valid"},
	} {
		t.Run(tc.name, func(t *testing.T) { wantErr(t, tc.call(), tc.code, tc.status, tc.msg) })
	}

	// IAM actions are authorized as the others: a user without a policy
	// may not create or read providers.
	nobody := e.iam(e.user("nobody", ""))
	_, err := nobody.ListOpenIDConnectProviders(ctx, &iam.ListOpenIDConnectProvidersInput{})
	wantErr(t, err, "AccessDenied", http.StatusForbidden, "iam:ListOpenIDConnectProviders")
	_, err = nobody.GetOpenIDConnectProvider(ctx, &iam.GetOpenIDConnectProviderInput{OpenIDConnectProviderArn: p})
	wantErr(t, err, "AccessDenied", http.StatusForbidden, "iam:GetOpenIDConnectProvider on resource: "+arn)

	must(a.DeleteOpenIDConnectProvider(ctx, &iam.DeleteOpenIDConnectProviderInput{OpenIDConnectProviderArn: p}))(t)
	_, err = a.DeleteOpenIDConnectProvider(ctx, &iam.DeleteOpenIDConnectProviderInput{OpenIDConnectProviderArn: p})
	wantErr(t, err, "NoSuchEntity", http.StatusNotFound, "OpenIDConnect Provider not found")
}

// webIdentityFixture is a test server trusting a real OpenID provider, and
// a role that the provider's user alice may assume.
type webIdentityFixture struct {
	e        *env
	op       *oidcop.Provider
	svcClock *testclock.Clock
	provider string // the provider's ARN
	url      string // its URL (condition-key prefix)
	role     string
	anon     *sts.Client // no credentials: AssumeRoleWithWebIdentity is unsigned
}

const (
	webClient = "postern-ci"
	webOther  = "other-app"
)

var (
	webAlice = oidcop.User{Subject: "sub-alice", Username: "alice", Password: "alice's password", Email: "alice@example.com",
		Claims: map[string]any{oidcverify.TagsClaim: map[string]any{"principal_tags": map[string]any{"username": []any{"alice"}}},
			SourceIdentityClaim: "alice"}}
	webBob = oidcop.User{Subject: "sub-bob", Username: "bob", Password: "bob's password"}
)

func newWebIdentityFixture(t *testing.T) *webIdentityFixture {
	t.Helper()
	svc := testclock.New(time.Now().UTC())
	f := &webIdentityFixture{svcClock: svc}
	f.e = newEnv(t, withServiceClock(svc.Now))
	clients := []oidcop.Client{
		{ID: webClient, Native: true, RedirectURIs: []string{"http://127.0.0.1/callback"}},
		{ID: webOther, Native: true, RedirectURIs: []string{"http://127.0.0.1/callback"}},
	}
	f.op = oidcop.Start(t, oidcop.Options{Clients: clients, Users: []oidcop.User{webAlice, webBob}})
	a := f.e.iam(f.e.admin)
	out := must(a.CreateOpenIDConnectProvider(ctx, &iam.CreateOpenIDConnectProviderInput{
		Url: aws.String(f.op.Issuer), ClientIDList: []string{webClient}, ThumbprintList: []string{f.op.Thumbprint}}))(t)
	f.provider = aws.ToString(out.OpenIDConnectProviderArn)
	_, f.url, _ = strings.Cut(f.provider, ":oidc-provider/")
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"` + f.provider + `"},` +
		`"Action":["sts:AssumeRoleWithWebIdentity","sts:TagSession","sts:SetSourceIdentity"],"Condition":{"StringEquals":{"` + f.url + `:sub":"sub-alice","` + f.url + `:aud":"` + webClient + `"}}}]}`
	must(a.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("ci"), AssumeRolePolicyDocument: aws.String(trust)}))(t)
	// The session's own policy: list users only while its principal tag
	// says alice.
	must(a.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("ci"), PolicyName: aws.String("p"), PolicyDocument: aws.String(
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:ListUsers","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalTag/username":"alice"}}}]}`)}))(t)
	f.role = roleARNOf + "ci"
	f.anon = f.e.sts(aws.Config{Region: "us-east-1", HTTPClient: &http.Client{Transport: f.e.rec}, RetryMaxAttempts: 1})
	return f
}

// assume calls AssumeRoleWithWebIdentity with token.
func (f *webIdentityFixture) assume(token string) (*sts.AssumeRoleWithWebIdentityOutput, error) {
	return f.anon.AssumeRoleWithWebIdentity(ctx, &sts.AssumeRoleWithWebIdentityInput{
		RoleArn: aws.String(f.role), RoleSessionName: aws.String("build-1"), WebIdentityToken: aws.String(token)})
}

// TestAssumeRoleWithWebIdentity: a token of the provider's user, unsigned
// as the SDK sends it, yields a session of the role with AWS's response
// shape; the session's principal tags reach its policies.
func TestAssumeRoleWithWebIdentity(t *testing.T) {
	f := newWebIdentityFixture(t)
	token := f.op.IDToken(t, webClient, webAlice)
	out, err := f.assume(token)
	if err != nil {
		t.Fatalf("AssumeRoleWithWebIdentity: %v", err)
	}
	wantARN := "arn:aws:sts::" + testAccount + ":assumed-role/ci/build-1"
	if aws.ToString(out.SubjectFromWebIdentityToken) != "sub-alice" || aws.ToString(out.Audience) != webClient ||
		aws.ToString(out.Provider) != f.provider || aws.ToString(out.AssumedRoleUser.Arn) != wantARN ||
		!strings.HasSuffix(aws.ToString(out.AssumedRoleUser.AssumedRoleId), ":build-1") || out.Credentials == nil ||
		!strings.HasPrefix(aws.ToString(out.Credentials.AccessKeyId), "ASIA") {
		t.Fatalf("AssumeRoleWithWebIdentity = %+v", out)
	}
	if d := out.Credentials.Expiration.Sub(f.svcClock.Now()); d < 59*time.Minute || d > 61*time.Minute {
		t.Errorf("session lasts %s, want the default hour", d)
	}
	c := out.Credentials
	sess := f.e.config(*c.AccessKeyId, *c.SecretAccessKey, *c.SessionToken)
	me := must(f.e.sts(sess).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}))(t)
	if aws.ToString(me.Arn) != wantARN {
		t.Errorf("GetCallerIdentity = %s, want %s", aws.ToString(me.Arn), wantARN)
	}
	// aws:PrincipalTag/username is alice: the role's policy allows.
	must(f.e.iam(sess).ListUsers(ctx, &iam.ListUsersInput{}))(t)
	s, err := f.e.store.GetSession(ctx, *c.AccessKeyId)
	if err != nil || s.Federation.Provider != f.provider || s.Federation.Subject != "sub-alice" || s.Federation.Audience != webClient ||
		len(s.Federation.Tags) != 1 || s.Federation.Tags[0].Value != "alice" {
		t.Errorf("stored session %+v %v", s.Federation, err)
	}

	if aws.ToString(out.SourceIdentity) != "alice" || s.Federation.SourceIdentity != "alice" {
		t.Errorf("source identity %q, stored %q, want alice", aws.ToString(out.SourceIdentity), s.Federation.SourceIdentity)
	}
	// DurationSeconds above the role's maximum is refused.
	_, err = f.anon.AssumeRoleWithWebIdentity(ctx, &sts.AssumeRoleWithWebIdentityInput{RoleArn: aws.String(f.role),
		RoleSessionName: aws.String("s2"), WebIdentityToken: aws.String(token), DurationSeconds: aws.Int32(7200)})
	wantErr(t, err, "ValidationError", http.StatusBadRequest, "exceeds the MaxSessionDuration")

	// No other action is served unsigned.
	_, err = f.anon.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if code, _, _ := apiError(err); code == "" {
		t.Errorf("unsigned GetCallerIdentity succeeded")
	}
}

// TestAssumeRoleWithWebIdentityRefusals: each bad token or trust gets
// AWS's answer.
func TestAssumeRoleWithWebIdentityRefusals(t *testing.T) {
	f := newWebIdentityFixture(t)
	a := f.e.iam(f.e.admin)
	good := f.op.IDToken(t, webClient, webAlice)
	other := oidcop.Start(t, oidcop.Options{Clients: []oidcop.Client{{ID: webClient, Native: true, RedirectURIs: []string{"http://127.0.0.1/callback"}}},
		Users: []oidcop.User{webAlice}})
	parts := strings.Split(good, ".")
	badSig := parts[0] + "." + parts[1] + "." + strings.Map(func(r rune) rune {
		if r == 'A' {
			return 'B'
		}
		return 'A'
	}, parts[2])

	for _, tc := range []struct {
		name   string
		token  func(t *testing.T) string
		code   string
		status int
		msg    string
	}{
		{"another issuer", func(t *testing.T) string { return other.IDToken(t, webClient, webAlice) },
			"InvalidIdentityToken", http.StatusBadRequest, "No OpenIDConnect provider found in your account for " + other.Issuer},
		{"bad signature", func(*testing.T) string { return badSig }, "InvalidIdentityToken", http.StatusBadRequest, "signature does not verify"},
		{"not a JWT", func(*testing.T) string { return "not-a-token" }, "InvalidIdentityToken", http.StatusBadRequest, "not a valid JWT"},
		{"wrong audience", func(t *testing.T) string { return f.op.IDToken(t, webOther, webAlice) },
			"InvalidIdentityToken", http.StatusBadRequest, "Incorrect token audience"},
		{"sub does not match the trust policy", func(t *testing.T) string { return f.op.IDToken(t, webClient, webBob) },
			"AccessDenied", http.StatusForbidden, "Not authorized to perform sts:AssumeRoleWithWebIdentity"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.assume(tc.token(t))
			wantErr(t, err, tc.code, tc.status, tc.msg)
		})
	}

	t.Run("thumbprint mismatch", func(t *testing.T) {
		p := aws.String(f.provider)
		must(a.UpdateOpenIDConnectProviderThumbprint(ctx, &iam.UpdateOpenIDConnectProviderThumbprintInput{
			OpenIDConnectProviderArn: p, ThumbprintList: []string{strings.Repeat("0", 40)}}))(t)
		_, err := f.assume(good)
		wantErr(t, err, "InvalidIdentityToken", http.StatusBadRequest, "doesn't match configured thumbprint")
		must(a.UpdateOpenIDConnectProviderThumbprint(ctx, &iam.UpdateOpenIDConnectProviderThumbprintInput{
			OpenIDConnectProviderArn: p, ThumbprintList: []string{f.op.Thumbprint}}))(t)
		if _, err := f.assume(good); err != nil {
			t.Fatalf("with the right thumbprint again: %v", err)
		}
	})

	t.Run("rotated key", func(t *testing.T) {
		f.op.Restart(t)
		// Once the cached keys are older than their lifetime (an hour),
		// the keys are fetched again: the old key is gone, and a token it
		// signed (still within its expiry) is refused.
		f.svcClock.Advance(oidcverify.DefaultKeyTTL + 2*time.Minute)
		_, err := f.assume(good)
		wantErr(t, err, "InvalidIdentityToken", http.StatusBadRequest, "the provider publishes no key")
		if _, err := f.assume(f.op.IDToken(t, webClient, webAlice)); err != nil {
			t.Fatalf("a token signed with the new key: %v", err)
		}
	})

	t.Run("expired", func(t *testing.T) {
		token := f.op.IDToken(t, webClient, webAlice)
		f.svcClock.Advance(time.Hour + oidcverify.DefaultSkew + time.Minute)
		_, err := f.assume(token)
		wantErr(t, err, "ExpiredTokenException", http.StatusBadRequest, "Token expired: current date/time")
		if _, _, m := apiError(err); !strings.HasPrefix(m, "Token expired: ") {
			t.Errorf("message %q: want AWS's, starting with the detail (no sentinel's text before it)", m)
		}
	})

	t.Run("provider deleted", func(t *testing.T) {
		must(a.DeleteOpenIDConnectProvider(ctx, &iam.DeleteOpenIDConnectProviderInput{OpenIDConnectProviderArn: aws.String(f.provider)}))(t)
		_, err := f.assume(f.op.IDToken(t, webClient, webAlice))
		wantErr(t, err, "InvalidIdentityToken", http.StatusBadRequest, "No OpenIDConnect provider found")
	})
}

// TestOIDCProviderRecreatedGetsNewVerifier: a provider deleted and created
// again under the same URL, with the same client ids and thumbprints, does
// not inherit the old provider's cached keys: a token signed by a key the
// issuer no longer publishes is refused at once, not for the rest of the
// old key cache's lifetime.
func TestOIDCProviderRecreatedGetsNewVerifier(t *testing.T) {
	f := newWebIdentityFixture(t)
	a := f.e.iam(f.e.admin)
	good := f.op.IDToken(t, webClient, webAlice)
	if _, err := f.assume(good); err != nil {
		t.Fatalf("AssumeRoleWithWebIdentity before the delete: %v", err)
	}
	must(a.DeleteOpenIDConnectProvider(ctx, &iam.DeleteOpenIDConnectProviderInput{OpenIDConnectProviderArn: aws.String(f.provider)}))(t)
	f.op.Restart(t) // the issuer's key is rotated
	f.svcClock.Advance(time.Minute)
	out := must(a.CreateOpenIDConnectProvider(ctx, &iam.CreateOpenIDConnectProviderInput{
		Url: aws.String(f.op.Issuer), ClientIDList: []string{webClient}, ThumbprintList: []string{f.op.Thumbprint}}))(t)
	if aws.ToString(out.OpenIDConnectProviderArn) != f.provider {
		t.Fatalf("re-created provider %s, want %s", aws.ToString(out.OpenIDConnectProviderArn), f.provider)
	}
	_, err := f.assume(good)
	wantErr(t, err, "InvalidIdentityToken", http.StatusBadRequest, "the provider publishes no key")
	if _, err := f.assume(f.op.IDToken(t, webClient, webAlice)); err != nil {
		t.Fatalf("a token signed with the new key: %v", err)
	}
}

// TestWebIdentityAndOIDCBounds: each parameter past AWS's bounds is
// refused with the code an AWS client expects, before anything is stored.
func TestWebIdentityAndOIDCBounds(t *testing.T) {
	f := newWebIdentityFixture(t)
	a := f.e.iam(f.e.admin)
	good := f.op.IDToken(t, webClient, webAlice)
	manyIDs := make([]string, maxClientIDs+1)
	for i := range manyIDs {
		manyIDs[i] = fmt.Sprintf("client-%d", i)
	}
	thumb := strings.Repeat("ab", 20)
	for _, tc := range []struct {
		name string
		call func() error
		code string
		msg  string
	}{
		{"DurationSeconds below 900", func() error {
			_, err := f.anon.AssumeRoleWithWebIdentity(ctx, &sts.AssumeRoleWithWebIdentityInput{RoleArn: aws.String(f.role),
				RoleSessionName: aws.String("s1"), WebIdentityToken: aws.String(good), DurationSeconds: aws.Int32(899)})
			return err
		}, "ValidationError", "greater than or equal to 900"},
		{"DurationSeconds above 43200", func() error {
			_, err := f.anon.AssumeRoleWithWebIdentity(ctx, &sts.AssumeRoleWithWebIdentityInput{RoleArn: aws.String(f.role),
				RoleSessionName: aws.String("s2"), WebIdentityToken: aws.String(good), DurationSeconds: aws.Int32(43201)})
			return err
		}, "ValidationError", "less than or equal to 43200"},
		{"Url of 256 characters", func() error {
			_, err := a.CreateOpenIDConnectProvider(ctx, &iam.CreateOpenIDConnectProviderInput{
				Url: aws.String("https://" + strings.Repeat("a", 248)), ClientIDList: []string{"a"}})
			return err
		}, "ValidationError", "less than or equal to 255"},
		{"101 client ids", func() error {
			_, err := a.CreateOpenIDConnectProvider(ctx, &iam.CreateOpenIDConnectProviderInput{
				Url: aws.String("https://ids.example.com"), ClientIDList: manyIDs})
			return err
		}, "ValidationError", "clientIDList"},
		{"client id of 256 characters", func() error {
			_, err := a.CreateOpenIDConnectProvider(ctx, &iam.CreateOpenIDConnectProviderInput{
				Url: aws.String("https://ids.example.com"), ClientIDList: []string{strings.Repeat("c", 256)}})
			return err
		}, "ValidationError", "less than or equal to 255"},
		{"6 thumbprints", func() error {
			_, err := a.CreateOpenIDConnectProvider(ctx, &iam.CreateOpenIDConnectProviderInput{
				Url: aws.String("https://ids.example.com"), ClientIDList: []string{"a"},
				ThumbprintList: []string{thumb, thumb, thumb, thumb, thumb, thumb}})
			return err
		}, "ValidationError", "thumbprintList"},
		{"thumbprint not hex", func() error {
			_, err := a.UpdateOpenIDConnectProviderThumbprint(ctx, &iam.UpdateOpenIDConnectProviderThumbprintInput{
				OpenIDConnectProviderArn: aws.String(f.provider), ThumbprintList: []string{strings.Repeat("zz", 20)}})
			return err
		}, "ValidationError", "thumbprintList.1.member"},
		{"VirtualMFADeviceName of 227 characters", func() error {
			_, err := a.CreateVirtualMFADevice(ctx, &iam.CreateVirtualMFADeviceInput{VirtualMFADeviceName: aws.String(strings.Repeat("d", 227))})
			return err
		}, "ValidationError", "less than or equal to 226"},
		{"VirtualMFADeviceName with a slash", func() error {
			_, err := a.CreateVirtualMFADevice(ctx, &iam.CreateVirtualMFADeviceInput{VirtualMFADeviceName: aws.String("a/b")})
			return err
		}, "ValidationError", "regular expression pattern"},
		{"AuthenticationCode1 of 5 digits", func() error {
			_, err := a.EnableMFADevice(ctx, &iam.EnableMFADeviceInput{UserName: aws.String("nobody"),
				SerialNumber: aws.String("arn:aws:iam::" + testAccount + ":mfa/x"), AuthenticationCode1: aws.String("12345"), AuthenticationCode2: aws.String("123456")})
			return err
		}, "ValidationError", "authenticationCode1"},
		{"AuthenticationCode2 not digits", func() error {
			_, err := a.EnableMFADevice(ctx, &iam.EnableMFADeviceInput{UserName: aws.String("nobody"),
				SerialNumber: aws.String("arn:aws:iam::" + testAccount + ":mfa/x"), AuthenticationCode1: aws.String("123456"), AuthenticationCode2: aws.String("12345a")})
			return err
		}, "ValidationError", "authenticationCode2"},
		{"password of 129 characters", func() error {
			_, err := a.CreateLoginProfile(ctx, &iam.CreateLoginProfileInput{UserName: aws.String("nobody"), Password: aws.String(strings.Repeat("Aa1!", 32) + "x")})
			return err
		}, "ValidationError", "less than or equal to 128"},
	} {
		t.Run(tc.name, func(t *testing.T) { wantErr(t, tc.call(), tc.code, http.StatusBadRequest, tc.msg) })
	}
	list := must(a.ListOpenIDConnectProviders(ctx, &iam.ListOpenIDConnectProvidersInput{}))(t)
	if len(list.OpenIDConnectProviderList) != 1 {
		t.Errorf("providers after the refusals: %d, want only the fixture's", len(list.OpenIDConnectProviderList))
	}
}
