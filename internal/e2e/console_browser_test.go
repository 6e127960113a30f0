package e2e

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"golang.org/x/crypto/ssh"

	"github.com/postern/postern/internal/server/pki"
	"github.com/postern/postern/internal/testutil/browser"
	"github.com/postern/postern/internal/testutil/sshdtest"
)

// Policies of the console's test users.
const (
	consoleAllowAll = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`
	// consoleNoTunnel may look around and push keys, not open tunnels.
	consoleNoTunnel = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ec2:Describe*","ec2-instance-connect:SendSSHPublicKey"],"Resource":"*"}]}`
	consolePassword = "Correct-Horse-9-Battery"
)

// consoleEnv is a `postern server` (the real binary, embedded agent), a
// real sshd whose keys come only from `postern authorized-keys`, console
// users made through the IAM API, and a headless Chromium that trusts the
// server's certificate.
type consoleEnv struct {
	t        *testing.T
	srv      *serverProc
	sshd     *sshdtest.Server
	admin    aws.Config
	instance string
	endpoint string
	osUser   string
	cert     tls.Certificate // the server's, for the other-origin test site
	mfaSeed  string          // mallory's virtual MFA seed (base32)
	mfaStep  int64           // the step of the last code the server saw
	b        *browser.Browser
}

// startConsoleEnv builds the environment; users: alice (everything),
// mallory (everything, virtual MFA enabled), bob (no OpenTunnel).
// extraConfig is appended to the server's postern.yaml.
func startConsoleEnv(t *testing.T, extraConfig ...string) *consoleEnv {
	t.Helper()
	sshd, helperConfig, me := keylessSSHD(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	writeServerConfig(t, dataDir, fmt.Sprintf("version: 1\ntunnel:\n  ports: [\"22\", \"%d\"]\n", sshd.Port)+strings.Join(extraConfig, ""))
	srv := startServer(t, dataDir)
	e := &consoleEnv{t: t, srv: srv, sshd: sshd, osUser: me.Username}
	e.instance = localInstance(t, srv)
	srv.mustCLI(t, "instance", "init", "--instance-id", e.instance, "--keys-url", srv.url,
		"--signer-key-file", filepath.Join(dataDir, "ssh-signer.pub"), "--config", helperConfig)
	var eps struct {
		InstanceConnectEndpoints []struct{ InstanceConnectEndpointId string }
	}
	srv.mustJSON(t, &eps, "ec2", "describe-instance-connect-endpoints")
	if len(eps.InstanceConnectEndpoints) != 1 {
		t.Fatalf("want the one local endpoint, got %+v", eps)
	}
	e.endpoint = eps.InstanceConnectEndpoints[0].InstanceConnectEndpointId
	e.admin = srv.adminConfig(t)

	var err error
	e.cert, err = tls.LoadX509KeyPair(filepath.Join(dataDir, pki.ServerFile), filepath.Join(dataDir, pki.ServerKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(e.cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}

	ctx := context.Background()
	im := iam.NewFromConfig(e.admin)
	for name, pol := range map[string]string{"alice": consoleAllowAll, "mallory": consoleAllowAll, "bob": consoleNoTunnel} {
		if _, err := im.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(name)}); err != nil {
			t.Fatal(err)
		}
		if _, err := im.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String(name), PolicyName: aws.String("console"), PolicyDocument: aws.String(pol)}); err != nil {
			t.Fatal(err)
		}
		if _, err := im.CreateLoginProfile(ctx, &iam.CreateLoginProfileInput{UserName: aws.String(name), Password: aws.String(consolePassword)}); err != nil {
			t.Fatal(err)
		}
	}
	dev, err := im.CreateVirtualMFADevice(ctx, &iam.CreateVirtualMFADeviceInput{VirtualMFADeviceName: aws.String("mallory-phone")})
	if err != nil {
		t.Fatal(err)
	}
	e.mfaSeed = string(dev.VirtualMFADevice.Base32StringSeed)
	// The codes of the step before now's and now's; mallory later signs in
	// with a later step's code (a code is refused a second time).
	e.mfaStep = time.Now().Unix() / 30
	if _, err := im.EnableMFADevice(ctx, &iam.EnableMFADeviceInput{UserName: aws.String("mallory"),
		SerialNumber:        dev.VirtualMFADevice.SerialNumber,
		AuthenticationCode1: aws.String(e.totpAt(e.mfaStep - 1)),
		AuthenticationCode2: aws.String(e.totpAt(e.mfaStep))}); err != nil {
		t.Fatal(err)
	}

	e.b = browser.Start(t, browser.Options{TrustCert: leaf, Timeout: 10 * time.Minute})
	return e
}

// totpAt is the code mallory's authenticator shows in a 30-second step.
func (e *consoleEnv) totpAt(step int64) string {
	e.t.Helper()
	code, err := totp.GenerateCodeCustom(e.mfaSeed, time.Unix(step*30, 0), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		e.t.Fatal(err)
	}
	return code
}

// mfaCode is a code the server takes now: of a step after the one used
// to enable the device, within a step of now. It is the next step's
// (when that is after the enabling one): the server takes it for at least
// 60 s from now, not the at least 30 s of the current step's, which a
// starved machine could spend between this call and the server's check.
func (e *consoleEnv) mfaCode() string {
	return e.totpAt(max(e.mfaStep+1, time.Now().Unix()/30+1))
}

// wrongMFACode is a code of an hour ago that is none of the codes the
// server would take now.
func (e *consoleEnv) wrongMFACode() string {
	cur := time.Now().Unix() / 30
	valid := map[string]bool{}
	for s := cur - 2; s <= cur+2; s++ {
		valid[e.totpAt(s)] = true
	}
	for s := cur - 120; s > cur-220; s-- {
		if c := e.totpAt(s); !valid[c] {
			return c
		}
	}
	e.t.Fatal("100 past codes all equal a current one")
	return ""
}

// run runs browser actions within d, failing t with a screenshot of the
// page and the server's output.
func (e *consoleEnv) run(t *testing.T, what string, d time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(e.b.Context(), d)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		e.b.Screenshot("failed-" + what)
		tctx, tcancel := context.WithTimeout(e.b.Context(), 5*time.Second)
		text, _ := chromedp.Run(tctx, chromedp.Evaluate[string]("document.body ? document.body.innerText : ''"))
		tcancel()
		t.Fatalf("browser: %s: %v\n--- the page's text:\n%s\n%s", what, err, text, e.srv.logs(e.sshd))
	}
}

// evalIn evaluates a JavaScript expression in the page (awaiting it when
// it is a promise).
func evalIn[T any](t *testing.T, e *consoleEnv, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(e.b.Context(), time.Minute)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// until waits (polling in the page) until the JavaScript expression is
// truthy.
func until(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(0))
}

// termText is the terminal's visible text (xterm's DOM renderer), with
// its non-breaking spaces as spaces.
const termText = `(document.querySelector('.xterm-rows') ? document.querySelector('.xterm-rows').innerText.replace(/\u00a0/g, ' ') : '')`

// typeInTerminal types s into the terminal as keystrokes, one key down
// and up per character as a person's typing makes them ("\r" is Enter).
func typeInTerminal(s string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(chromedp.Focus(chromedp.CSS(".xterm-helper-textarea"), chromedp.NodeReady),
		browser.TypeKeys(s))
}

// windowSize resizes the browser's window, as a person dragging its edge
// does.
func windowSize(width, height int64) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		win, err := chromedp.CallBrowser(ctx, cdpbrowser.GetWindowForTarget, cdpbrowser.GetWindowForTargetParams{TargetID: t.TargetID})
		if err != nil {
			return err
		}
		_, err = chromedp.CallBrowser(ctx, cdpbrowser.SetWindowBounds, cdpbrowser.SetWindowBoundsParams{WindowID: win.WindowID,
			Bounds: &cdpbrowser.Bounds{Width: width, Height: height}})
		return err
	})
}

// setValue sets an input's value as the page's script reads it (the
// property, not the attribute), waiting for the input first.
func setValue(testid, v string) chromedp.Action[chromedp.Void] {
	sel := `[data-testid="` + testid + `"]`
	return chromedp.Steps(chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.Evaluate[chromedp.Void](fmt.Sprintf(
		`(() => { const el = document.querySelector(%s); el.value = %s; el.dispatchEvent(new Event('input', {bubbles: true})); })()`,
		strconv.Quote(sel), strconv.Quote(v))))
}

// signIn fills the sign-in form and submits it.
func (e *consoleEnv) signIn(t *testing.T, name, password string) {
	t.Helper()
	e.run(t, "sign in as "+name, time.Minute,
		chromedp.WaitVisible(browser.TestID("signin-form")),
		setValue("signin-username", ""), chromedp.SendKeys(browser.TestID("signin-username"), name),
		setValue("signin-password", ""), chromedp.SendKeys(browser.TestID("signin-password"), password),
		chromedp.Click(browser.TestID("signin-submit")))
}

// signOut uses the account menu's Sign out and waits for the sign-in page.
func (e *consoleEnv) signOut(t *testing.T) {
	t.Helper()
	e.run(t, "sign out", time.Minute,
		chromedp.Click(browser.TestID("identity")), chromedp.Click(browser.TestID("signout")),
		chromedp.WaitVisible(browser.TestID("signin-form")))
}

// signedInAs waits for the console's layout under name.
func (e *consoleEnv) signedInAs(t *testing.T, name string) {
	t.Helper()
	e.run(t, "signed in as "+name, time.Minute,
		chromedp.WaitVisible(browser.TestID("nav")),
		until(`document.querySelector('[data-testid="identity-name"]') && document.querySelector('[data-testid="identity-name"]').textContent === `+strconv.Quote(name)))
}

// consoleCookie is the browser's console session cookie.
func (e *consoleEnv) consoleCookie(t *testing.T) *network.Cookie {
	t.Helper()
	res, err := chromedp.Call(e.b.Context(), network.GetCookies, network.GetCookiesParams{URLs: []string{e.srv.url + "/console/"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Cookies {
		if c.Name == "__Host-postern-console" {
			return c
		}
	}
	t.Fatalf("no console cookie among %d", len(res.Cookies))
	return nil
}

// TestConsoleBrowser drives the console in a real browser (Chromium
// headless over chromedp) against `postern server`: sign-in with a
// password and with MFA, the endpoint and instance pages, a terminal to a
// real sshd (echo, resize, revocation), a cross-site POST refused, the
// trail, sign-out, and a user AWS refuses a tunnel. Screenshots of every
// page are kept under test-artifacts/TestConsoleBrowser.
func TestConsoleBrowser(t *testing.T) {
	e := startConsoleEnv(t)
	b := e.b
	ctx := context.Background()

	if !t.Run("sign in", func(t *testing.T) {
		e.run(t, "open the console", time.Minute, chromedp.Navigate(e.srv.url+"/"), chromedp.WaitVisible(browser.TestID("signin-form")))
		if loc := evalIn[string](t, e, "location.pathname"); loc != "/console/" {
			t.Errorf("the server's address led to %s, want /console/", loc)
		}
		b.Screenshot("signin")

		e.signIn(t, "alice", "not-"+consolePassword)
		e.run(t, "wrong password refused", time.Minute, chromedp.WaitVisible(chromedp.CSS(`[data-testid="error-banner"][data-code="SignInFailed"]`)))
		msg := evalIn[string](t, e, `document.querySelector('[data-testid="error-message"]').textContent`)
		if !strings.Contains(msg, "Your authentication information is incorrect") {
			t.Errorf("wrong password: message %q", msg)
		}
		b.Screenshot("signin-wrong-password")

		// MFA: the password is right, the code is asked for.
		e.signIn(t, "mallory", consolePassword)
		e.run(t, "MFA code asked", time.Minute, chromedp.WaitVisible(browser.TestID("signin-mfa-required")), chromedp.WaitVisible(browser.TestID("signin-mfa")))
		b.Screenshot("signin-mfa-asked")
		e.run(t, "wrong MFA code", time.Minute,
			chromedp.SendKeys(browser.TestID("signin-mfa"), e.wrongMFACode()), chromedp.Click(browser.TestID("signin-submit")),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="error-banner"][data-code="MFAInvalid"]`)))
		b.Screenshot("signin-mfa-wrong")
		e.run(t, "right MFA code", time.Minute,
			setValue("signin-mfa", ""), chromedp.SendKeys(browser.TestID("signin-mfa"), e.mfaCode()), chromedp.Click(browser.TestID("signin-submit")))
		e.signedInAs(t, "mallory")
		if badge := evalIn[string](t, e, `Array.from(document.querySelectorAll('[data-testid="identity"] .badge')).map((x) => x.textContent).join(',')`); !strings.Contains(badge, "MFA") {
			t.Errorf("mallory's session shows no MFA badge: %q", badge)
		}
		b.Screenshot("signed-in-with-mfa")
		e.signOut(t)

		e.signIn(t, "alice", consolePassword)
		e.signedInAs(t, "alice")
	}) {
		return
	}

	if !t.Run("endpoint and instance", func(t *testing.T) {
		state := fmt.Sprintf(`[data-testid="state-%s"]`, e.endpoint)
		e.run(t, "endpoint listed", time.Minute,
			chromedp.Navigate(e.srv.url+"/console/#/endpoints"),
			until(`document.querySelector('`+state+`') && document.querySelector('`+state+`').textContent === 'create-complete'`))
		b.Screenshot("endpoints")
		detail := fmt.Sprintf(`[data-testid="detail-%s"]`, e.endpoint)
		e.run(t, "endpoint detail with a connected agent", time.Minute,
			chromedp.Click(browser.TestID("row-"+e.endpoint)),
			chromedp.WaitVisible(chromedp.CSS(detail)),
			until(`Array.from(document.querySelectorAll('`+detail+` .badge')).some((x) => x.textContent === 'connected')`))
		b.Screenshot("endpoint-detail")

		e.run(t, "instance listed", time.Minute,
			chromedp.Click(browser.TestID("nav-instances")),
			chromedp.WaitVisible(browser.TestID("row-"+e.instance)),
			until(`document.querySelector('[data-testid="ipv4-`+e.instance+`"]').textContent === '127.0.0.1'`))
		b.Screenshot("instances")
	}) {
		return
	}

	var tunnelID string
	if !t.Run("terminal", func(t *testing.T) {
		e.run(t, "connect dialog", time.Minute,
			chromedp.Navigate(e.srv.url+"/console/#/instances"),
			chromedp.Click(browser.TestID("connect-"+e.instance)),
			chromedp.WaitVisible(browser.TestID("connect-dialog")))
		b.Screenshot("connect-dialog")
		e.run(t, "connect", time.Minute,
			setValue("connect-user", e.osUser),
			setValue("connect-port", strconv.Itoa(e.sshd.Port)),
			chromedp.Click(browser.TestID("connect-dialog-submit")),
			chromedp.WaitVisible(browser.TestID("hostkey-prompt")))
		fp := evalIn[string](t, e, `document.querySelector('[data-testid="hostkey-fingerprint"]').textContent`)
		if want := ssh.FingerprintSHA256(e.sshd.HostKey); fp != want {
			t.Errorf("host key fingerprint shown: %q, sshd's is %q", fp, want)
		}
		b.Screenshot("terminal-hostkey")
		e.run(t, "trust the host key", time.Minute,
			chromedp.Click(browser.TestID("hostkey-trust")),
			until(`document.querySelector('[data-testid="terminal"]').dataset.state === 'connected'`))
		tunnelID = evalIn[string](t, e, `document.querySelector('[data-testid="tunnel-id"]').textContent`)
		if !strings.HasPrefix(tunnelID, "tnl-") {
			t.Fatalf("tunnel id shown: %q", tunnelID)
		}

		// echo of a random marker: the output (marker then 42) differs from
		// the typed command line.
		marker := "m" + randomHex(t, 6)
		e.run(t, "echo", time.Minute,
			typeInTerminal("echo "+marker+"$((6*7))\r"),
			until(termText+`.includes(`+strconv.Quote(marker+"42")+`)`))
		b.Screenshot("terminal-echo")

		// Resize: the window gets smaller, the terminal follows, and the
		// remote pty says so.
		size := func(tag string) (int, int) {
			t.Helper()
			re := tag + `=(\d+) (\d+)`
			e.run(t, "stty size "+tag, time.Minute,
				typeInTerminal("stty size | sed 's/^/"+tag+"=/'\r"),
				until(`new RegExp(`+strconv.Quote(re)+`).test(`+termText+`)`))
			m := regexp.MustCompile(re).FindStringSubmatch(evalIn[string](t, e, termText))
			rows, _ := strconv.Atoi(m[1])
			cols, _ := strconv.Atoi(m[2])
			return rows, cols
		}
		rowsBefore, colsBefore := size("SZA")
		domRows := `document.querySelectorAll('.xterm-rows > div').length`
		if n := evalIn[int](t, e, domRows); n != rowsBefore {
			t.Errorf("stty size says %d rows, the page shows %d", rowsBefore, n)
		}
		e.run(t, "resize the window", time.Minute,
			windowSize(960, 640),
			until(domRows+` !== `+strconv.Itoa(rowsBefore)))
		rowsAfter, colsAfter := size("SZB")
		if rowsAfter >= rowsBefore || colsAfter >= colsBefore {
			t.Errorf("after a smaller window, stty size %dx%d, before %dx%d", rowsAfter, colsAfter, rowsBefore, colsBefore)
		}
		if n := evalIn[int](t, e, domRows); n != rowsAfter {
			t.Errorf("after the resize stty size says %d rows, the page shows %d", rowsAfter, n)
		}
		b.Screenshot("terminal-resized")

		// Revocation: the administrator terminates the tunnel.
		e.srv.mustCLI(t, "tunnels", "terminate", "--tunnel-id", tunnelID)
		e.run(t, "session ended: revoked", time.Minute,
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="session-ended"][data-reason="revoked"]`)))
		if reason := evalIn[string](t, e, `document.querySelector('[data-testid="session-ended-reason"]').textContent`); reason != "revoked" {
			t.Errorf("end-of-session reason %q", reason)
		}
		b.Screenshot("terminal-revoked")
		e.run(t, "window back", time.Minute, windowSize(1280, 800))
	}) {
		return
	}

	if !t.Run("cross-site POST refused", func(t *testing.T) {
		// Another origin on the same host (a different port, so the
		// same site: the SameSite=Strict cookie goes along).
		target := e.srv.url + "/console/api/call/ec2"
		other := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			switch r.URL.Path {
			case "/form":
				fmt.Fprintf(w, `<!doctype html><title>form</title><form method="POST" action="%s">
<input name="Action" value="CreateVpc"><input name="Version" value="2016-11-15"><input name="CidrBlock" value="10.201.0.0/16">
<button id="go" type="submit">go</button></form>`, target)
			case "/fetch":
				fmt.Fprintf(w, `<!doctype html><title>fetch</title><script>
fetch(%q, {method: "POST", credentials: "include", body: new URLSearchParams({Action: "CreateVpc", Version: "2016-11-15", CidrBlock: "10.202.0.0/16"})})
  .then((r) => { document.title = "done:" + r.status; }, (err) => { document.title = "done:blocked"; });
</script>`, target)
			}
		}))
		other.TLS = &tls.Config{Certificates: []tls.Certificate{e.cert}}
		other.StartTLS()
		defer other.Close()

		e.run(t, "fetch from another origin", time.Minute,
			chromedp.Navigate(other.URL+"/fetch"), until(`document.title.startsWith('done:')`))
		if title := evalIn[string](t, e, "document.title"); title != "done:blocked" && title != "done:403" {
			t.Errorf("the cross-origin fetch ended with %q", title)
		}
		e.run(t, "form page", time.Minute, chromedp.Navigate(other.URL+"/form"), chromedp.WaitVisible(chromedp.ID("go")))
		rctx, cancel := context.WithTimeout(b.Context(), time.Minute)
		resp, err := chromedp.RunResponse(rctx, chromedp.Click(chromedp.ID("go")))
		cancel()
		if err != nil {
			t.Fatalf("form POST: %v", err)
		}
		body := evalIn[string](t, e, "document.body.innerText")
		if resp.Status != http.StatusForbidden || !strings.Contains(body, "CrossOriginRequestRefused") {
			t.Errorf("cross-site form POST: status %d, body %q", resp.Status, body)
		}
		b.Screenshot("cross-site-post")

		vpcs, err := ec2.NewFromConfig(e.admin).DescribeVpcs(ctx, &ec2.DescribeVpcsInput{})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vpcs.Vpcs {
			if c := aws.ToString(v.CidrBlock); c == "10.201.0.0/16" || c == "10.202.0.0/16" {
				t.Errorf("a cross-site POST made VPC %s (%s)", aws.ToString(v.VpcId), c)
			}
		}
		if evs := lookupEvents(t, e.admin, cttypes.LookupAttributeKeyEventName, "CreateVpc"); len(evs) != 0 {
			t.Errorf("a cross-site POST is in the trail: %+v", evs)
		}
		// Sanity: the same call from the console itself is not refused,
		// so the refusal above is the origin's, not the call's.
		e.run(t, "back to the console", time.Minute, chromedp.Navigate(e.srv.url+"/console/#/endpoints"), chromedp.WaitVisible(browser.TestID("nav")))
		status := evalIn[float64](t, e, `(async () => {
  const s = await (await fetch('/console/api/session')).json();
  const r = await fetch('/console/api/call/ec2', {method: 'POST', headers: {'X-Postern-CSRF': s.csrfToken, 'Content-Type': 'application/x-www-form-urlencoded'},
    body: 'Action=DescribeVpcs&Version=2016-11-15'});
  return r.status;
})()`)
		if status != 200 {
			t.Errorf("a same-origin call with the CSRF token: status %v", status)
		}
	}) {
		return
	}

	if !t.Run("audit trail", func(t *testing.T) {
		for _, name := range []string{"ConsoleLogin", "SendSSHPublicKey", "OpenTunnel", "CloseTunnel"} {
			var last string
			waitUntil(t, time.Minute, name+" by alice from the browser", func() string { return e.srv.output() }, func() (bool, string) {
				for _, ev := range lookupEvents(t, e.admin, cttypes.LookupAttributeKeyEventName, name) {
					if ev.userName() != "alice" {
						continue
					}
					last = fmt.Sprintf("%+v", ev)
					if name == "ConsoleLogin" && ev.Detail["errorMessage"] != nil {
						continue // the wrong password's record
					}
					// ConsoleLogin is the sign-in page's own record, with
					// the browser's user agent as AWS's; the API calls the
					// console makes say postern-console/<version> (<browser>).
					ua, _ := ev.Detail["userAgent"].(string)
					console := strings.HasPrefix(ua, "postern-console/") || name == "ConsoleLogin"
					if ev.Detail["sourceIPAddress"] == "127.0.0.1" && console && strings.Contains(ua, "HeadlessChrome") {
						return true, ""
					}
				}
				return false, last
			})
		}
		// The failed sign-in is on record too.
		failed := false
		for _, ev := range lookupEvents(t, e.admin, cttypes.LookupAttributeKeyEventName, "ConsoleLogin") {
			if ev.userName() == "alice" && ev.Detail["errorMessage"] != nil {
				failed = true
			}
		}
		if !failed {
			t.Error("alice's wrong password has no ConsoleLogin record")
		}
		e.run(t, "event history page", time.Minute,
			chromedp.Navigate(e.srv.url+"/console/#/audit"),
			until(`document.querySelector('[data-testid="view"]').innerText.includes('CloseTunnel')`))
		b.Screenshot("audit")
	}) {
		return
	}

	if !t.Run("sign out", func(t *testing.T) {
		cookie := e.consoleCookie(t)
		if !cookie.HTTPOnly || !cookie.Secure || cookie.SameSite != network.CookieSameSiteStrict {
			t.Errorf("cookie %s: HttpOnly %v Secure %v SameSite %q", cookie.Name, cookie.HTTPOnly, cookie.Secure, cookie.SameSite)
		}
		if code := e.sessionWithCookie(t, cookie); code != http.StatusOK {
			t.Fatalf("the cookie before sign-out: %d", code)
		}
		e.signOut(t)
		b.Screenshot("signed-out")
		if code := e.sessionWithCookie(t, cookie); code != http.StatusUnauthorized {
			t.Errorf("the old cookie after sign-out: status %d, want 401", code)
		}
		e.run(t, "reload shows sign-in", time.Minute, chromedp.Reload(), chromedp.WaitVisible(browser.TestID("signin-form")))
	}) {
		return
	}

	t.Run("refused tunnel", func(t *testing.T) {
		e.signIn(t, "bob", consolePassword)
		e.signedInAs(t, "bob")
		e.run(t, "connect as bob", time.Minute,
			chromedp.Navigate(e.srv.url+"/console/#/instances"),
			chromedp.Click(browser.TestID("connect-"+e.instance)),
			chromedp.WaitVisible(browser.TestID("connect-dialog")),
			setValue("connect-user", e.osUser),
			setValue("connect-port", strconv.Itoa(e.sshd.Port)),
			chromedp.Click(browser.TestID("connect-dialog-submit")),
			until(`document.querySelector('[data-testid="terminal"]') && document.querySelector('[data-testid="terminal"]').dataset.state === 'error'`),
			chromedp.WaitVisible(browser.TestID("error-banner")))
		code := evalIn[string](t, e, `document.querySelector('[data-testid="error-code"]').textContent`)
		msg := evalIn[string](t, e, `document.querySelector('[data-testid="error-message"]').textContent`)
		if code != "AccessDeniedException" || !strings.Contains(msg, "is not authorized to perform: ec2-instance-connect:OpenTunnel") || !strings.Contains(msg, "user/bob") {
			t.Errorf("refusal shown: %q %q", code, msg)
		}
		b.Screenshot("terminal-refused")
		e.signOut(t)
	})
}

// sessionWithCookie asks GET /console/api/session with the cookie, as a
// client other than the browser would, and returns the status.
func (e *consoleEnv) sessionWithCookie(t *testing.T, c *network.Cookie) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.srv.url+"/console/api/session", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	resp, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: insecureTLS()}, Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// trailEvent is one LookupEvents result with its full record.
type trailEvent struct {
	Name     string
	Username string
	Detail   map[string]any
}

func (ev trailEvent) userName() string {
	if ev.Username != "" {
		return ev.Username
	}
	ui, _ := ev.Detail["userIdentity"].(map[string]any)
	n, _ := ui["userName"].(string)
	return n
}

func lookupEvents(t *testing.T, admin aws.Config, key cttypes.LookupAttributeKey, value string) []trailEvent {
	t.Helper()
	out, err := cloudtrail.NewFromConfig(admin).LookupEvents(context.Background(), &cloudtrail.LookupEventsInput{
		LookupAttributes: []cttypes.LookupAttribute{{AttributeKey: key, AttributeValue: aws.String(value)}}, MaxResults: aws.Int32(50)})
	if err != nil {
		t.Fatalf("LookupEvents %s=%s: %v", key, value, err)
	}
	var evs []trailEvent
	for _, ev := range out.Events {
		x := trailEvent{Name: aws.ToString(ev.EventName), Username: aws.ToString(ev.Username)}
		if err := json.Unmarshal([]byte(aws.ToString(ev.CloudTrailEvent)), &x.Detail); err != nil {
			t.Fatalf("CloudTrailEvent of %s: %v", x.Name, err)
		}
		evs = append(evs, x)
	}
	return evs
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
