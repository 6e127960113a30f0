package console_test

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/postern/postern/internal/server/config"
	"github.com/postern/postern/internal/server/console"
	"github.com/postern/postern/internal/testutil/oidcop"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

const (
	fedAccount = "210987654321"
	fedClient  = "postern-console"
	fedSecret  = "console client secret"
)

var (
	fedAlice = oidcop.User{Subject: "sub-alice", Username: "alice", Password: "alice's password", Email: "alice@example.com"}
	fedBob   = oidcop.User{Subject: "sub-bob", Username: "bob", Password: "bob's password"}
)

// fedSetup is a server whose console offers a real OpenID provider:
// "example-sso" with the one role dev, "multi" with dev and ops; both
// roles trust the provider's user alice (sub-alice) only.
type fedSetup struct {
	e        *tunneltest.Env
	op       *oidcop.Provider
	callback string // the redirect URI
	provider string // the IAM OIDC provider's ARN
}

func startFederated(t *testing.T, createIAMProvider bool) *fedSetup {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	// The console's redirect URI names the server's public host.
	callback := "https://localhost:" + port + console.CallbackPath
	op := oidcop.Start(t, oidcop.Options{
		Clients: []oidcop.Client{{ID: fedClient, Secret: fedSecret, RedirectURIs: []string{callback}}},
		Users:   []oidcop.User{fedAlice, fedBob},
	})
	dev, ops := "arn:aws:iam::"+fedAccount+":role/dev", "arn:aws:iam::"+fedAccount+":role/ops"
	e := tunneltest.Start(t, tunneltest.Options{Listener: ln, Config: func(c *config.Server) {
		c.AccountID = fedAccount
		c.Console.SignInAttempts, c.Console.SignInWindowSeconds = 100, 900
		c.Console.IdentityProviders = []config.IdentityProvider{
			{Name: "Example SSO", Issuer: op.Issuer, ClientID: fedClient, ClientSecret: fedSecret, Roles: []string{dev}},
			{ID: "multi", Name: "Example SSO (choose a role)", Issuer: op.Issuer, ClientID: fedClient, ClientSecret: fedSecret, Roles: []string{dev, ops}},
		}
	}})
	e.Server.SetVersion(testVer)
	s := &fedSetup{e: e, op: op, callback: callback}
	if createIAMProvider {
		s.createIAM(t)
	}
	return s
}

// createIAM makes the IAM OIDC provider and the roles dev and ops, which
// trust alice and may describe endpoints.
func (s *fedSetup) createIAM(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	ic := iam.NewFromConfig(s.e.AWS(s.e.Admin))
	out, err := ic.CreateOpenIDConnectProvider(ctx, &iam.CreateOpenIDConnectProviderInput{Url: aws.String(s.op.Issuer),
		ClientIDList: []string{fedClient}, ThumbprintList: []string{s.op.Thumbprint}})
	if err != nil {
		t.Fatal(err)
	}
	s.provider = aws.ToString(out.OpenIDConnectProviderArn)
	_, host, _ := strings.Cut(s.provider, ":oidc-provider/")
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"` + s.provider + `"},` +
		`"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"` + host + `:aud":"` + fedClient + `","` + host + `:sub":"sub-alice"}}}]}`
	for _, role := range []string{"dev", "ops"} {
		if _, err := ic.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(role), AssumeRolePolicyDocument: aws.String(trust)}); err != nil {
			t.Fatal(err)
		}
		if _, err := ic.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(role), PolicyName: aws.String("read"),
			PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ec2:Describe*","sts:GetCallerIdentity","sts:AssumeRole"],"Resource":"*"}]}`)}); err != nil {
			t.Fatal(err)
		}
	}
	// chain: a role the dev role may switch to.
	chain := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + fedAccount + `:role/dev"},"Action":"sts:AssumeRole"}]}`
	if _, err := ic.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("chain"), AssumeRolePolicyDocument: aws.String(chain)}); err != nil {
		t.Fatal(err)
	}
}

type fedSession struct {
	sessionInfo
	Federated *struct{ Provider, Subject string } `json:"federated"`
}

// start asks the console to start a sign-in with provider; it returns the
// provider's authorization URL.
func (s *fedSetup) start(t *testing.T, b *browser, provider string) string {
	t.Helper()
	resp, body := b.postJSON("/console/api/signin-oidc/start", map[string]string{"provider": provider}, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("start %s: %d %s", provider, resp.StatusCode, body)
	}
	return decode[struct{ AuthorizationURL string }](t, body).AuthorizationURL
}

// signInAt drives a whole sign-in up to the console's redirect after the
// callback, and returns where the console sent the browser.
func (s *fedSetup) signInAt(t *testing.T, b *browser, provider string, user oidcop.User) string {
	t.Helper()
	back := s.op.SignInUntil(t, s.start(t, b, provider), s.callback, user)
	return b.callback(back.RawQuery)
}

// callback opens the console's callback with query, as the provider's
// redirect does, and returns the console's redirect.
func (b *browser) callback(query string) string {
	b.t.Helper()
	resp, body := b.do(http.MethodGet, console.CallbackPath+"?"+query, nil, nil)
	if resp.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("callback: %d %s", resp.StatusCode, body)
	}
	return resp.Header.Get("Location")
}

func (b *browser) pending() (out struct {
	Error *apiErr
	Roles []struct{ RoleARN, RoleName string }
}) {
	b.t.Helper()
	resp, body := b.do(http.MethodGet, "/console/api/signin-oidc/pending", nil, nil)
	if resp.StatusCode != http.StatusOK {
		b.t.Fatalf("pending: %d %s", resp.StatusCode, body)
	}
	return decode[struct {
		Error *apiErr
		Roles []struct{ RoleARN, RoleName string }
	}](b.t, body)
}

func (b *browser) session() (int, fedSession) {
	b.t.Helper()
	resp, body := b.do(http.MethodGet, "/console/api/session", nil, nil)
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, fedSession{}
	}
	si := decode[fedSession](b.t, body)
	b.csrf = si.CSRFToken
	return resp.StatusCode, si
}

// TestFederatedSignIn: "Sign in with <provider>" against a real OpenID
// provider: code flow with PKCE, state and nonce, the callback calls
// AssumeRoleWithWebIdentity (the trust policy decides, the call is on
// record as the web identity's) and the role session is the console's.
func TestFederatedSignIn(t *testing.T) {
	s := startFederated(t, true)
	e := s.e

	b := newBrowser(t, e, "127.0.0.3")
	resp, body := b.do(http.MethodGet, "/console/api/providers", nil, nil)
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`{"id":"example-sso","name":"Example SSO"}`)) || bytes.Contains(body, []byte("role/")) {
		t.Fatalf("providers: %d %s", resp.StatusCode, body)
	}

	// The authorization request: code flow, PKCE S256, state, nonce; the
	// flow cookie is sealed, HttpOnly, Secure and SameSite=Lax.
	authURL := s.start(t, b, "example-sso")
	u, err := url.Parse(authURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" ||
		q.Get("state") == "" || q.Get("nonce") == "" || q.Get("redirect_uri") != s.callback || q.Get("client_id") != fedClient {
		t.Fatalf("authorization URL %s", authURL)
	}
	back := s.op.SignInUntil(t, authURL, s.callback, fedAlice)

	// A callback with another state is refused (and the flow is spent).
	forged := back.Query()
	forged.Set("state", "not-"+q.Get("state"))
	if loc := b.callback(forged.Encode()); loc != "/console/#/signin" {
		t.Fatalf("callback with a wrong state sent the browser to %q", loc)
	}
	if p := b.pending(); p.Error == nil || p.Error.Code != "SignInFailed" {
		t.Fatalf("pending after a wrong state: %+v", p)
	}
	if code, _ := b.session(); code != http.StatusUnauthorized {
		t.Fatalf("session after a wrong state: %d", code)
	}
	// The right state now finds no flow: state is single-use. Nothing
	// was attempted, so nothing is recorded.
	before := len(consoleLogins(t, e))
	if loc := b.callback(back.RawQuery); loc != "/console/#/signin" {
		t.Fatalf("callback after the flow was spent sent the browser to %q", loc)
	}
	if p := b.pending(); p.Error == nil || p.Error.Code != "SignInFailed" {
		t.Fatalf("pending after a spent flow: %+v", p)
	}
	if n := len(consoleLogins(t, e)); n != before {
		t.Fatalf("a callback without a flow made %d ConsoleLogin records", n-before)
	}

	// The whole flow: signed in as the role, with the web identity.
	if loc := s.signInAt(t, b, "example-sso", fedAlice); loc != "/console/#/endpoints" {
		t.Fatalf("callback sent the browser to %q", loc)
	}
	code, si := b.session()
	wantARN := "arn:aws:sts::" + fedAccount + ":assumed-role/dev/alice"
	if code != 200 || si.ARN != wantARN || si.PrincipalType != "AssumedRole" || si.Federated == nil ||
		si.Federated.Subject != "sub-alice" || si.Federated.Provider != s.provider {
		t.Fatalf("session: %d %+v", code, si)
	}
	if _, body := b.call("sts", "", "Action=GetCallerIdentity&Version=2011-06-15"); !bytes.Contains(body, []byte(wantARN)) {
		t.Fatalf("GetCallerIdentity through the console: %s", body)
	}
	if resp, body := b.call("ec2", "", "Action=DescribeInstanceConnectEndpoints&Version=2016-11-15"); resp.StatusCode != 200 {
		t.Fatalf("DescribeInstanceConnectEndpoints: %d %s", resp.StatusCode, body)
	}
	// The trail: the STS call as the web identity user, from the
	// browser's address; the ConsoleLogin as the role session.
	var awi map[string]any
	for _, r := range lookup(t, e, cttypes.LookupAttributeKeyEventName, "AssumeRoleWithWebIdentity") {
		if field(r, "errorCode") == nil {
			awi = r
			break
		}
	}
	if awi == nil || field(awi, "userIdentity.type") != "WebIdentityUser" || field(awi, "userIdentity.userName") != "sub-alice" ||
		field(awi, "userIdentity.identityProvider") != s.provider || field(awi, "sourceIPAddress") != "127.0.0.3" ||
		!strings.HasPrefix(field(awi, "userAgent").(string), "postern-console/"+testVer+" (") {
		t.Fatalf("AssumeRoleWithWebIdentity record: %v", awi)
	}
	logins := consoleLogins(t, e)
	if len(logins) != 2 {
		t.Fatalf("ConsoleLogin records: %v", logins)
	}
	ok := logins[0]
	if field(ok, "responseElements.ConsoleLogin") != "Success" || field(ok, "userIdentity.type") != "AssumedRole" ||
		field(ok, "userIdentity.arn") != wantARN || field(ok, "eventSource") != "signin.amazonaws.com" ||
		field(ok, "userIdentity.sessionContext.webIdFederationData.federatedProvider") != s.provider ||
		field(ok, "sourceIPAddress") != "127.0.0.3" || field(ok, "userIdentity.accessKeyId") == nil {
		t.Fatalf("ConsoleLogin success record: %v", ok)
	}
	if f := logins[1]; field(f, "responseElements.ConsoleLogin") != "Failure" || field(f, "userIdentity.type") != "WebIdentityUser" || field(f, "errorCode") != "SignInFailed" {
		t.Fatalf("ConsoleLogin failure record: %v", f)
	}

	// Switch role from the federated session (role chaining, as in AWS)
	// keeps the person's session name; switch back returns to it.
	if resp, body := b.postJSON("/console/api/switch-role", map[string]string{"roleArn": "arn:aws:iam::" + fedAccount + ":role/ops"}, nil); resp.StatusCode != 403 ||
		!bytes.Contains(body, []byte("AccessDenied")) {
		t.Fatalf("switch-role to ops (its trust policy names only the provider): %d %s", resp.StatusCode, body)
	}
	if code, si := b.session(); code != 200 || si.ARN != wantARN {
		t.Fatalf("session after a refused switch: %d %+v", code, si)
	}
	resp, body = b.postJSON("/console/api/switch-role", map[string]string{"roleArn": "arn:aws:iam::" + fedAccount + ":role/chain"}, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("switch-role to chain: %d %s", resp.StatusCode, body)
	}
	if si := decode[fedSession](t, body); si.Role == nil || si.Role.SessionName != "alice" || si.ARN != "arn:aws:sts::"+fedAccount+":assumed-role/chain/alice" {
		t.Fatalf("session after switch-role: %s", body)
	}
	if resp, body := b.postJSON("/console/api/switch-back", struct{}{}, nil); resp.StatusCode != 200 || decode[fedSession](t, body).ARN != wantARN {
		t.Fatalf("switch-back: %d %s", resp.StatusCode, body)
	}

	// Signing out ends the role session.
	if resp, body := b.postJSON("/console/api/signout", struct{}{}, nil); resp.StatusCode != 200 {
		t.Fatalf("signout: %d %s", resp.StatusCode, body)
	}
	if code, _ := b.session(); code != http.StatusUnauthorized {
		t.Fatalf("session after sign-out: %d", code)
	}

	t.Run("trust policy refuses", func(t *testing.T) {
		bb := newBrowser(t, e, "127.0.0.4")
		if loc := s.signInAt(t, bb, "example-sso", fedBob); loc != "/console/#/signin" {
			t.Fatalf("bob's callback sent the browser to %q", loc)
		}
		p := bb.pending()
		if p.Error == nil || p.Error.Code != "AccessDenied" || !strings.Contains(p.Error.Message, "sts:AssumeRoleWithWebIdentity") {
			t.Fatalf("pending after a refusal: %+v", p)
		}
		if p := bb.pending(); p.Error != nil {
			t.Fatalf("the refusal is shown once; again: %+v", p)
		}
		if code, _ := bb.session(); code != http.StatusUnauthorized {
			t.Fatalf("bob's session: %d", code)
		}
		f := consoleLogins(t, e)[0]
		if field(f, "responseElements.ConsoleLogin") != "Failure" || field(f, "errorCode") != "AccessDenied" ||
			field(f, "userIdentity.type") != "WebIdentityUser" || field(f, "userIdentity.userName") != "sub-bob" ||
			field(f, "userIdentity.identityProvider") != s.provider || field(f, "sourceIPAddress") != "127.0.0.4" {
			t.Fatalf("ConsoleLogin record of the refusal: %v", f)
		}
	})

	t.Run("choose a role", func(t *testing.T) {
		bb := newBrowser(t, e, "127.0.0.5")
		if loc := s.signInAt(t, bb, "multi", fedAlice); loc != "/console/#/signin/role" {
			t.Fatalf("callback sent the browser to %q", loc)
		}
		p := bb.pending()
		if p.Error != nil || len(p.Roles) != 2 || p.Roles[1].RoleName != "ops" {
			t.Fatalf("pending roles: %+v", p)
		}
		if resp, body := bb.postJSON("/console/api/signin-oidc/finish", map[string]string{"roleArn": "arn:aws:iam::" + fedAccount + ":role/admin"}, nil); resp.StatusCode != 400 {
			t.Fatalf("finish with a role not offered: %d %s", resp.StatusCode, body)
		}
		if resp, body := bb.postJSON("/console/api/signin-oidc/finish", map[string]string{"roleArn": p.Roles[1].RoleARN},
			map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}); resp.StatusCode != 403 {
			t.Fatalf("cross-site finish: %d %s", resp.StatusCode, body)
		}
		resp, body := bb.postJSON("/console/api/signin-oidc/finish", map[string]string{"roleArn": p.Roles[1].RoleARN}, nil)
		if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`assumed-role/ops/alice"`)) {
			t.Fatalf("finish: %d %s", resp.StatusCode, body)
		}
		if code, si := bb.session(); code != 200 || si.ARN != "arn:aws:sts::"+fedAccount+":assumed-role/ops/alice" {
			t.Fatalf("session as ops: %d %+v", code, si)
		}
		// Cancel drops a waiting sign-in.
		if loc := s.signInAt(t, bb, "multi", fedAlice); loc != "/console/#/signin/role" {
			t.Fatalf("callback sent the browser to %q", loc)
		}
		if resp, body := bb.postJSON("/console/api/signin-oidc/cancel", struct{}{}, nil); resp.StatusCode != 200 {
			t.Fatalf("cancel: %d %s", resp.StatusCode, body)
		}
		if p := bb.pending(); p.Error != nil || len(p.Roles) != 0 {
			t.Fatalf("pending after cancel: %+v", p)
		}
		// The token was used: the pending sign-in is gone.
		if resp, _ := bb.postJSON("/console/api/signin-oidc/finish", map[string]string{"roleArn": p.Roles[0].RoleARN}, nil); resp.StatusCode != 401 {
			t.Fatalf("second finish: %d", resp.StatusCode)
		}
	})

	t.Run("cross-site start", func(t *testing.T) {
		resp, _ := b.postJSON("/console/api/signin-oidc/start", map[string]string{"provider": "example-sso"},
			map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
		if resp.StatusCode != 403 {
			t.Fatalf("cross-site start: %d", resp.StatusCode)
		}
		if resp, _ := b.postJSON("/console/api/signin-oidc/start", map[string]string{"provider": "nope"}, nil); resp.StatusCode != 400 {
			t.Fatalf("unknown provider: %d", resp.StatusCode)
		}
	})
}

// TestFederatedSignInNoIAMProvider: a console provider without its IAM
// OIDC provider says so instead of starting a flow that cannot end.
func TestFederatedSignInNoIAMProvider(t *testing.T) {
	s := startFederated(t, false)
	b := newBrowser(t, s.e, "127.0.0.6")
	resp, body := b.postJSON("/console/api/signin-oidc/start", map[string]string{"provider": "example-sso"}, nil)
	if resp.StatusCode != http.StatusServiceUnavailable || decode[apiErr](t, body).Code != "IdentityProviderUnavailable" {
		t.Fatalf("start without the IAM provider: %d %s", resp.StatusCode, body)
	}
}
