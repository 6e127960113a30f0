package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/chromedp/chromedp"

	"github.com/postern/postern/internal/server/config"
	"github.com/postern/postern/internal/server/pki"
	"github.com/postern/postern/internal/testutil/browser"
	"github.com/postern/postern/internal/testutil/oidcop"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// TestConsoleBrowserFederatedSignIn: in headless Chromium, "Sign in with
// Example SSO" leads to the real OpenID provider's own login page and back
// into the console as the role (the endpoints page); a person the role's
// trust policy does not admit (its sub condition) is shown AWS's
// AccessDenied on the sign-in page; the trail shows the
// AssumeRoleWithWebIdentity calls as WebIdentityUser and the ConsoleLogin
// records. With several roles offered, the page asks which.
func TestConsoleBrowserFederatedSignIn(t *testing.T) {
	const account, client, secret = "310987654321", "postern-console", "console client secret"
	alice := oidcop.User{Subject: "sub-alice", Username: "alice", Password: "alice's password", Email: "alice@example.com"}
	bob := oidcop.User{Subject: "sub-bob", Username: "bob", Password: "bob's password"}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	consoleURL := "https://localhost:" + port // the server's public host, as the provider's redirect URI names it
	op := oidcop.Start(t, oidcop.Options{
		Clients: []oidcop.Client{{ID: client, Secret: secret, RedirectURIs: []string{consoleURL + "/console/oidc/callback"}}},
		Users:   []oidcop.User{alice, bob},
	})
	e := tunneltest.Start(t, tunneltest.Options{Listener: ln, Config: func(c *config.Server) {
		c.AccountID = account
		c.Console.IdentityProviders = []config.IdentityProvider{
			{Name: "Example SSO", Issuer: op.Issuer, ClientID: client, ClientSecret: secret, Roles: []string{"arn:aws:iam::" + account + ":role/developers"}},
			{ID: "pick", Name: "Example SSO (choose a role)", Issuer: op.Issuer, ClientID: client, ClientSecret: secret,
				Roles: []string{"arn:aws:iam::" + account + ":role/developers", "arn:aws:iam::" + account + ":role/operators"}},
		}
	}})
	ctx := context.Background()
	admin := e.AWS(e.Admin)
	ic := iam.NewFromConfig(admin)
	out, err := ic.CreateOpenIDConnectProvider(ctx, &iam.CreateOpenIDConnectProviderInput{Url: aws.String(op.Issuer),
		ClientIDList: []string{client}, ThumbprintList: []string{op.Thumbprint}})
	if err != nil {
		t.Fatal(err)
	}
	provider := aws.ToString(out.OpenIDConnectProviderArn)
	_, host, _ := strings.Cut(provider, ":oidc-provider/")
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"` + provider + `"},` +
		`"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"` + host + `:aud":"` + client + `","` + host + `:sub":"sub-alice"}}}]}`
	for _, role := range []string{"developers", "operators"} {
		if _, err := ic.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(role), AssumeRolePolicyDocument: aws.String(trust)}); err != nil {
			t.Fatal(err)
		}
		if _, err := ic.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(role), PolicyName: aws.String("read"),
			PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ec2:Describe*","sts:GetCallerIdentity"],"Resource":"*"}]}`)}); err != nil {
			t.Fatal(err)
		}
	}

	cert, err := tls.LoadX509KeyPair(filepath.Join(e.Dir, pki.ServerFile), filepath.Join(e.Dir, pki.ServerKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	b := browser.Start(t, browser.Options{TrustCert: leaf, AlsoTrust: []*x509.Certificate{op.CACert}, Timeout: 10 * time.Minute})
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		rctx, cancel := context.WithTimeout(b.Context(), time.Minute)
		defer cancel()
		if err := chromedp.Do(rctx, actions...); err != nil {
			b.Screenshot("failed-" + what)
			tctx, tcancel := context.WithTimeout(b.Context(), 5*time.Second)
			text, _ := chromedp.Run(tctx, chromedp.Evaluate[string]("location.href + '\\n' + (document.body ? document.body.innerText : '')"))
			tcancel()
			t.Fatalf("browser: %s: %v\n--- the page:\n%s", what, err, text)
		}
	}
	// The provider's own login page, filled in as a person does.
	providerLogin := func(u oidcop.User) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(
			chromedp.WaitVisible(chromedp.CSS(`input#username`)),
			chromedp.SendKeys(chromedp.CSS(`input#username`), u.Username),
			chromedp.SendKeys(chromedp.CSS(`input#password`), u.Password),
			chromedp.Click(chromedp.CSS(`button[type=submit]`)))
	}

	run("open the sign-in page", chromedp.Navigate(consoleURL+"/console/"), chromedp.WaitVisible(browser.TestID("signin-idp-example-sso")))
	b.Screenshot("signin-with-provider")
	run("sign in with Example SSO as alice", chromedp.Click(browser.TestID("signin-idp-example-sso")))
	run("the provider's login page", chromedp.WaitVisible(chromedp.CSS(`input#username`)),
		until(`location.href.startsWith(`+strconv.Quote(op.Issuer+"/")+`)`))
	b.Screenshot("provider-login-page")
	run("the provider's login", providerLogin(alice))
	run("back in the console", chromedp.WaitVisible(browser.TestID("nav")),
		until(`location.hash === '#/endpoints'`),
		until(`document.querySelector('[data-testid="identity-name"]') && document.querySelector('[data-testid="identity-name"]').textContent === 'alice @ developers'`))
	run("the endpoints page", until(`document.querySelector('main.view') && document.querySelector('main.view').innerText.includes('Instance Connect Endpoints')`))
	b.Screenshot("signed-in-as-role")
	run("the federated identity", chromedp.Click(browser.TestID("identity")), chromedp.WaitVisible(browser.TestID("identity-federated")),
		until(`document.querySelector('[data-testid="identity-federated"]').textContent.includes('sub-alice')`))
	b.Screenshot("federated-identity")
	run("sign out", chromedp.Click(browser.TestID("signout")), chromedp.WaitVisible(browser.TestID("signin-form")))

	// bob signs in at the provider, but the role's trust policy admits
	// only alice: AWS's AccessDenied on the sign-in page.
	run("sign in with Example SSO as bob", chromedp.Click(browser.TestID("signin-idp-example-sso")))
	// The provider asks for a sign-in on every authorization request.
	run("the provider's login as bob", chromedp.WaitVisible(chromedp.CSS(`input#username`)),
		until(`location.href.startsWith(`+strconv.Quote(op.Issuer+"/")+`)`), providerLogin(bob))
	run("refused", chromedp.WaitVisible(browser.TestID("error-banner")),
		until(`document.querySelector('[data-testid="error-code"]').textContent === 'AccessDenied'`),
		until(`document.querySelector('[data-testid="error-message"]').textContent.includes('sts:AssumeRoleWithWebIdentity')`),
		chromedp.WaitVisible(browser.TestID("signin-form")))
	b.Screenshot("refused-access-denied")

	// A provider that offers two roles: back from the provider, the page
	// asks which.
	run("sign in choosing a role", chromedp.Click(browser.TestID("signin-idp-pick")))
	run("the provider's login for the role picker", chromedp.WaitVisible(chromedp.CSS(`input#username`)), providerLogin(alice))
	run("the role picker", chromedp.WaitVisible(browser.TestID("signin-role-operators")), chromedp.WaitVisible(browser.TestID("signin-role-developers")),
		until(`document.querySelector('[data-testid="signin-role-who"]').textContent.includes('sub-alice')`))
	b.Screenshot("choose-a-role")
	// Cancel drops it: the sign-in page, and no role picker on reload.
	run("cancel the role picker", chromedp.Click(browser.TestID("signin-role-cancel")), chromedp.WaitVisible(browser.TestID("signin-form")),
		chromedp.Reload(), chromedp.WaitVisible(browser.TestID("signin-idp-pick")))
	pctx, pcancel := context.WithTimeout(b.Context(), time.Minute)
	pending, err := chromedp.Run(pctx, chromedp.Evaluate[string](`fetch('/console/api/signin-oidc/pending').then((r) => r.text())`, chromedp.EvalAwaitPromise))
	pcancel()
	if err != nil || strings.TrimSpace(pending) != "{}" {
		t.Fatalf("pending after cancel: %q %v", pending, err)
	}
	run("sign in choosing a role again", chromedp.Click(browser.TestID("signin-idp-pick")))
	run("the provider's login for the role picker again", chromedp.WaitVisible(chromedp.CSS(`input#username`)), providerLogin(alice))
	run("the role picker again", chromedp.WaitVisible(browser.TestID("signin-role-operators")))
	run("as operators", chromedp.Click(browser.TestID("signin-role-operators")), chromedp.WaitVisible(browser.TestID("nav")),
		until(`document.querySelector('[data-testid="identity-name"]') && document.querySelector('[data-testid="identity-name"]').textContent === 'alice @ operators'`),
		until(`location.hash === '#/endpoints'`))
	b.Screenshot("signed-in-as-chosen-role")

	// The trail.
	type rec = map[string]any
	get := func(r rec, path string) any {
		var v any = r
		for _, k := range strings.Split(path, ".") {
			m, _ := v.(map[string]any)
			v = m[k]
		}
		return v
	}
	awi := lookupEvents(t, admin, cttypes.LookupAttributeKeyEventName, "AssumeRoleWithWebIdentity")
	var okCall, deniedCall bool
	for _, ev := range awi {
		r := rec(ev.Detail)
		if get(r, "userIdentity.type") != "WebIdentityUser" || get(r, "userIdentity.identityProvider") != provider {
			continue
		}
		switch {
		case get(r, "userIdentity.userName") == "sub-alice" && get(r, "errorCode") == nil:
			okCall = true
		case get(r, "userIdentity.userName") == "sub-bob" && get(r, "errorCode") == "AccessDenied":
			deniedCall = true
		}
	}
	if !okCall || !deniedCall {
		t.Fatalf("AssumeRoleWithWebIdentity records (alice allowed %v, bob denied %v): %+v", okCall, deniedCall, awi)
	}
	logins := lookupEvents(t, admin, cttypes.LookupAttributeKeyEventName, "ConsoleLogin")
	var okLogin, deniedLogin, pickedLogin bool
	for _, ev := range logins {
		r := rec(ev.Detail)
		switch {
		case get(r, "responseElements.ConsoleLogin") == "Success" && get(r, "userIdentity.type") == "AssumedRole" &&
			get(r, "userIdentity.arn") == "arn:aws:sts::"+account+":assumed-role/developers/alice":
			okLogin = true
		case get(r, "responseElements.ConsoleLogin") == "Success" &&
			get(r, "userIdentity.arn") == "arn:aws:sts::"+account+":assumed-role/operators/alice":
			pickedLogin = true
		case get(r, "responseElements.ConsoleLogin") == "Failure" && get(r, "errorCode") == "AccessDenied" &&
			get(r, "userIdentity.type") == "WebIdentityUser" && get(r, "userIdentity.userName") == "sub-bob":
			deniedLogin = true
		}
	}
	if !okLogin || !deniedLogin || !pickedLogin {
		t.Fatalf("ConsoleLogin records (success %v, refusal %v, chosen role %v): %+v", okLogin, deniedLogin, pickedLogin, logins)
	}
}
