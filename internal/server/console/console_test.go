package console_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/postern/postern/internal/server/config"
	"github.com/postern/postern/internal/server/console"
	"github.com/postern/postern/internal/server/identity"
	"github.com/postern/postern/internal/server/totp"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

const (
	password   = "Corr3ct-Horse-Battery!"
	browserUA  = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) PosternTest/1.0"
	testVer    = "9.8.7-test"
	allowAll   = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`
	onlyWhoAmI = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:GetCallerIdentity","Resource":"*"}]}`
)

// start runs a real server with the console, and attempts/window for
// the sign-in throttle.
func start(t *testing.T, attempts int) *tunneltest.Env {
	t.Helper()
	e := tunneltest.Start(t, tunneltest.Options{Config: func(c *config.Server) {
		c.Console.SignInAttempts, c.Console.SignInWindowSeconds = attempts, 900
	}})
	e.Server.SetVersion(testVer)
	return e
}

// loginUser makes an IAM user with a policy (none when empty) and a
// console password.
func loginUser(t *testing.T, e *tunneltest.Env, name, policy string) {
	t.Helper()
	e.NewUser(name, policy)
	_, err := iam.NewFromConfig(e.AWS(e.Admin)).CreateLoginProfile(context.Background(), &iam.CreateLoginProfileInput{
		UserName: aws.String(name), Password: aws.String(password)})
	if err != nil {
		t.Fatalf("CreateLoginProfile %s: %v", name, err)
	}
}

// browser is a cookie-keeping HTTPS client from a chosen loopback
// address, sending what a browser sends with the page's fetches.
type browser struct {
	t    *testing.T
	e    *tunneltest.Env
	hc   *http.Client
	jar  *cookiejar.Jar
	from string // source address
	csrf string
}

func newBrowser(t *testing.T, e *tunneltest.Env, from string) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.Roots}, DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &browser{t: t, e: e, jar: jar, from: from,
		hc: &http.Client{Jar: jar, Transport: tr, Timeout: 30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// do sends a request; hdr entries with an empty value remove the header.
func (b *browser) do(method, path string, body []byte, hdr map[string]string) (*http.Response, []byte) {
	b.t.Helper()
	req, err := http.NewRequest(method, b.e.URL+path, bytes.NewReader(body))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("User-Agent", browserUA)
	if method == http.MethodPost {
		req.Header.Set("Origin", b.e.URL)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		req.Header.Set("Content-Type", "application/json")
		if b.csrf != "" {
			req.Header.Set(console.CSRFHeader, b.csrf)
		}
	}
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return resp, out
}

func (b *browser) postJSON(path string, v any, hdr map[string]string) (*http.Response, []byte) {
	b.t.Helper()
	body, err := json.Marshal(v)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(http.MethodPost, path, body, hdr)
}

type sessionInfo struct {
	AccountID        string `json:"accountId"`
	UserName         string `json:"userName"`
	ARN              string `json:"arn"`
	PrincipalType    string `json:"principalType"`
	MFAAuthenticated bool   `json:"mfaAuthenticated"`
	ExpiresAt        string `json:"expiresAt"`
	CSRFToken        string `json:"csrfToken"`
	Role             *struct {
		RoleARN     string `json:"roleArn"`
		SessionName string `json:"sessionName"`
	} `json:"role"`
	Version     string `json:"version"`
	EndpointURL string `json:"endpointUrl"`
}

type apiErr struct{ Code, Message string }

func decode[T any](t *testing.T, body []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return v
}

// signIn signs b in and keeps the CSRF token; it fails t unless the
// answer is 200.
func (b *browser) signIn(user, pw, code string) sessionInfo {
	b.t.Helper()
	resp, body := b.postJSON("/console/api/signin", map[string]string{"userName": user, "password": pw, "mfaCode": code}, nil)
	if resp.StatusCode != http.StatusOK {
		b.t.Fatalf("sign-in of %s: %d %s", user, resp.StatusCode, body)
	}
	si := decode[sessionInfo](b.t, body)
	b.csrf = si.CSRFToken
	return si
}

// call sends an API request through the console's proxy.
func (b *browser) call(service, target string, body string) (*http.Response, []byte) {
	b.t.Helper()
	hdr := map[string]string{"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
	if target != "" {
		hdr["Content-Type"], hdr["X-Amz-Target"] = "application/x-amz-json-1.1", target
	}
	return b.do(http.MethodPost, "/console/api/call/"+service, []byte(body), hdr)
}

// consoleLogins returns the trail's ConsoleLogin records, newest first.
func consoleLogins(t *testing.T, e *tunneltest.Env) []map[string]any {
	t.Helper()
	return lookup(t, e, cttypes.LookupAttributeKeyEventName, "ConsoleLogin")
}

func lookup(t *testing.T, e *tunneltest.Env, key cttypes.LookupAttributeKey, value string) []map[string]any {
	t.Helper()
	out, err := cloudtrail.NewFromConfig(e.AWS(e.Admin)).LookupEvents(context.Background(), &cloudtrail.LookupEventsInput{
		LookupAttributes: []cttypes.LookupAttribute{{AttributeKey: key, AttributeValue: aws.String(value)}}, MaxResults: aws.Int32(50)})
	if err != nil {
		t.Fatalf("LookupEvents %s=%s: %v", key, value, err)
	}
	var recs []map[string]any
	for _, ev := range out.Events {
		var m map[string]any
		if err := json.Unmarshal([]byte(aws.ToString(ev.CloudTrailEvent)), &m); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, m)
	}
	return recs
}

// field reads a dotted path in a record.
func field(rec map[string]any, path string) any {
	var v any = rec
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// TestSignIn: a password (and MFA code) signs in; every success and
// failure is a ConsoleLogin record in CloudTrail's shape, from the
// browser's address; MFA steps are asked for and not recorded as
// failures.
func TestSignIn(t *testing.T) {
	e := start(t, 100)
	loginUser(t, e, "alice", onlyWhoAmI)
	loginUser(t, e, "mfa-user", onlyWhoAmI)
	ic := iam.NewFromConfig(e.AWS(e.Admin))
	ctx := context.Background()
	dev, err := ic.CreateVirtualMFADevice(ctx, &iam.CreateVirtualMFADeviceInput{VirtualMFADeviceName: aws.String("mfa-user")})
	if err != nil {
		t.Fatal(err)
	}
	seed := string(dev.VirtualMFADevice.Base32StringSeed)
	now := time.Now()
	c1, _ := totp.Code(seed, totp.Step(now)-1)
	c2, _ := totp.Code(seed, totp.Step(now))
	if _, err := ic.EnableMFADevice(ctx, &iam.EnableMFADeviceInput{UserName: aws.String("mfa-user"),
		SerialNumber: dev.VirtualMFADevice.SerialNumber, AuthenticationCode1: aws.String(c1), AuthenticationCode2: aws.String(c2)}); err != nil {
		t.Fatal(err)
	}
	// A fresh code for sign-in: the next step (EnableMFADevice used the
	// current one), accepted within the clock-skew window.
	good, _ := totp.Code(seed, totp.Step(now)+1)
	// A wrong code: the right one with its last digit changed.
	wrong := good[:5] + string(rune('0'+(good[5]-'0'+1)%10))

	cases := []struct {
		name, user, pw, code string
		status               int
		errCode              string
		record               string // "Success", "Failure" or "" (none)
		hidden               bool   // the record hides the user name
		mfa                  string
	}{
		{name: "right password", user: "alice", pw: password, status: 200, record: "Success", mfa: "No"},
		{name: "wrong password", user: "alice", pw: "nope", status: 401, errCode: "SignInFailed", record: "Failure", mfa: "No"},
		{name: "unknown user", user: "Corr3ct-Horse", pw: password, status: 401, errCode: "SignInFailed", record: "Failure", hidden: true, mfa: "No"},
		{name: "MFA code missing", user: "mfa-user", pw: password, status: 401, errCode: "MFARequired"},
		{name: "MFA code wrong", user: "mfa-user", pw: password, code: wrong, status: 401, errCode: "MFAInvalid", record: "Failure", mfa: "Yes"},
		{name: "MFA code right", user: "mfa-user", pw: password, code: good, status: 200, record: "Success", mfa: "Yes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(consoleLogins(t, e))
			b := newBrowser(t, e, "127.0.0.2")
			resp, body := b.postJSON("/console/api/signin", map[string]string{"userName": tc.user, "password": tc.pw, "mfaCode": tc.code}, nil)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if tc.errCode != "" {
				if got := decode[apiErr](t, body); got.Code != tc.errCode {
					t.Fatalf("code %q, want %q (%s)", got.Code, tc.errCode, body)
				}
				if tc.errCode == "SignInFailed" && decode[apiErr](t, body).Message != "Your authentication information is incorrect. Please try again." {
					t.Errorf("message %s", body)
				}
			} else {
				si := decode[sessionInfo](t, body)
				if si.UserName != tc.user || si.PrincipalType != "IAMUser" || si.CSRFToken == "" || si.Version != testVer ||
					si.MFAAuthenticated != (tc.mfa == "Yes") || si.EndpointURL != "https://"+e.DNSName() {
					t.Errorf("session %+v", si)
				}
				// The cookie works: the session is there.
				b.csrf = si.CSRFToken
				if resp, body := b.do(http.MethodGet, "/console/api/session", nil, nil); resp.StatusCode != 200 {
					t.Errorf("GET session after sign-in: %d %s", resp.StatusCode, body)
				}
			}
			recs := consoleLogins(t, e)
			if tc.record == "" {
				if len(recs) != before {
					t.Fatalf("%d new ConsoleLogin records, want none", len(recs)-before)
				}
				return
			}
			if len(recs) != before+1 {
				t.Fatalf("%d new ConsoleLogin records, want 1", len(recs)-before)
			}
			r := recs[0]
			want := map[string]any{
				"eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin", "eventType": "AwsConsoleSignIn",
				"sourceIPAddress": "127.0.0.2", "userAgent": browserUA, "userIdentity.type": "IAMUser",
				"responseElements.ConsoleLogin": tc.record, "additionalEventData.MFAUsed": tc.mfa,
				"additionalEventData.LoginTo": "https://" + e.DNSName() + "/console/", "recipientAccountId": e.Server.AccountID,
			}
			if tc.record == "Failure" {
				want["errorMessage"] = "Failed authentication"
			}
			if tc.hidden {
				want["userIdentity.userName"] = "HIDDEN_DUE_TO_SECURITY_REASONS"
			} else {
				want["userIdentity.userName"] = tc.user
			}
			for k, v := range want {
				if got := field(r, k); got != v {
					t.Errorf("record %s = %v, want %v", k, got, v)
				}
			}
			if tc.record == "Success" {
				if ak, _ := field(r, "userIdentity.accessKeyId").(string); !strings.HasPrefix(ak, "ASIA") {
					t.Errorf("success record's accessKeyId %q, want the console session's ASIA… id", ak)
				}
			}
			if strings.Contains(mustJSON(t, r), password) {
				t.Errorf("the record holds the password: %v", r)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSignInThrottled: after sign_in_attempts failures, a user name is
// refused (429 Throttling) from any address, even with the right
// password, and so is an address for any user name; each refusal is a
// recorded failure.
func TestSignInThrottled(t *testing.T) {
	e := start(t, 2)
	loginUser(t, e, "bob", onlyWhoAmI)
	loginUser(t, e, "carol", onlyWhoAmI)
	attacker := newBrowser(t, e, "127.0.0.3")
	for i := range 2 {
		if resp, body := attacker.postJSON("/console/api/signin", map[string]string{"userName": "bob", "password": "wrong"}, nil); resp.StatusCode != 401 {
			t.Fatalf("attempt %d: %d %s", i, resp.StatusCode, body)
		}
	}
	before := len(consoleLogins(t, e))
	// bob from elsewhere, with his password: throttled by user name.
	resp, body := newBrowser(t, e, "127.0.0.4").postJSON("/console/api/signin", map[string]string{"userName": "bob", "password": password}, nil)
	if resp.StatusCode != http.StatusTooManyRequests || decode[apiErr](t, body).Code != "Throttling" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("bob after 2 failures: %d %s (Retry-After %q), want 429 Throttling", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
	// carol from the attacker's address: throttled by address.
	resp, body = attacker.postJSON("/console/api/signin", map[string]string{"userName": "carol", "password": password}, nil)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("carol from a throttled address: %d %s, want 429", resp.StatusCode, body)
	}
	// carol from a fresh address signs in.
	newBrowser(t, e, "127.0.0.5").signIn("carol", password, "")
	recs := consoleLogins(t, e)
	if len(recs) != before+3 {
		t.Fatalf("%d new records, want 3 (two throttled, one success)", len(recs)-before)
	}
	for i, want := range []struct{ ip, result, code string }{{"127.0.0.5", "Success", ""}, {"127.0.0.3", "Failure", "Throttling"}, {"127.0.0.4", "Failure", "Throttling"}} {
		r := recs[i]
		if field(r, "sourceIPAddress") != want.ip || field(r, "responseElements.ConsoleLogin") != want.result {
			t.Errorf("record %d: %s from %v, want %s from %s", i, field(r, "responseElements.ConsoleLogin"), field(r, "sourceIPAddress"), want.result, want.ip)
		}
		if code, _ := field(r, "errorCode").(string); code != want.code {
			t.Errorf("record %d errorCode %q, want %q", i, code, want.code)
		}
	}
}

// TestCookieAndHeaders: the cookie is __Host-, Secure, HttpOnly,
// SameSite=Strict, Path=/ and holds no credential in the clear; every
// console response has the strict CSP and the other security headers;
// API answers and index.html are never cached.
func TestCookieAndHeaders(t *testing.T) {
	e := start(t, 100)
	loginUser(t, e, "dave", onlyWhoAmI)
	b := newBrowser(t, e, "127.0.0.2")
	resp, body := b.postJSON("/console/api/signin", map[string]string{"userName": "dave", "password": password}, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("sign-in: %d %s", resp.StatusCode, body)
	}
	raw := resp.Header.Values("Set-Cookie")
	if len(raw) != 1 {
		t.Fatalf("Set-Cookie %q, want one", raw)
	}
	for _, attr := range []string{"__Host-postern-console=", "; Path=/", "; Secure", "; HttpOnly", "; SameSite=Strict", "; Max-Age=", "; Expires="} {
		if !strings.Contains(raw[0], attr) {
			t.Errorf("Set-Cookie %q lacks %q", raw[0], attr)
		}
	}
	if strings.Contains(strings.ToLower(raw[0]), "domain=") || strings.Contains(raw[0], "ASIA") {
		t.Errorf("Set-Cookie %q has a Domain or a credential in the clear", raw[0])
	}
	sessions := map[string]bool{}
	for _, p := range []string{"/console/", "/console/index.html", "/console/api/session", "/console/api/nothing", "/console/missing.js"} {
		resp, _ := b.do(http.MethodGet, p, nil, nil)
		sessions[p] = resp.StatusCode == 200
		h := resp.Header
		want := map[string]string{
			"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
			"X-Content-Type-Options":  "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
			"Cross-Origin-Opener-Policy": "same-origin",
		}
		if strings.HasPrefix(p, "/console/api/") || p == "/console/" || p == "/console/index.html" {
			want["Cache-Control"] = "no-store"
		}
		for k, v := range want {
			if got := h.Get(k); got != v {
				t.Errorf("GET %s: %s = %q, want %q", p, k, got, v)
			}
		}
	}
	if !sessions["/console/"] || !sessions["/console/api/session"] || sessions["/console/missing.js"] {
		t.Errorf("answers: %v", sessions)
	}
	resp, page := b.do(http.MethodGet, "/console/", nil, nil)
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !bytes.Contains(page, []byte("<")) {
		t.Errorf("GET /console/: %s %q", resp.Header.Get("Content-Type"), page)
	}
	// The assets index.html names (with their content hash) are cached
	// for a year; asked for without that hash, they are revalidated.
	refs := regexp.MustCompile(`(?:src|href)="([^"/]+\?v=[0-9a-f]+)"`).FindAllStringSubmatch(string(page), -1)
	if len(refs) == 0 {
		t.Fatalf("index.html names no asset:\n%s", page)
	}
	for _, m := range refs {
		resp, body := b.do(http.MethodGet, "/console/"+m[1], nil, nil)
		if resp.StatusCode != 200 || len(body) == 0 || resp.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" ||
			resp.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("GET %s: %d, Cache-Control %q", m[1], resp.StatusCode, resp.Header.Get("Cache-Control"))
		}
		if strings.HasPrefix(m[1], "app.js") && !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") {
			t.Errorf("app.js is served as %q", resp.Header.Get("Content-Type"))
		}
		name, _, _ := strings.Cut(m[1], "?")
		if resp, _ := b.do(http.MethodGet, "/console/"+name+"?v=0000000000000000", nil, nil); resp.Header.Get("Cache-Control") != "no-cache" {
			t.Errorf("GET %s with a stale hash: Cache-Control %q, want no-cache", name, resp.Header.Get("Cache-Control"))
		}
	}
}

// TestCSRF: a POST without the session's CSRF token, or from another
// origin (Origin or Sec-Fetch-Site), is refused with 403 and does
// nothing; sign-in from another origin is refused too.
func TestCSRF(t *testing.T) {
	e := start(t, 100)
	loginUser(t, e, "erin", allowAll)
	b := newBrowser(t, e, "127.0.0.2")
	good := b.signIn("erin", password, "")
	form := "Action=CreateUser&Version=2010-05-08&UserName="
	cases := []struct {
		name string
		hdr  map[string]string
		code string
	}{
		{name: "no CSRF header", hdr: map[string]string{console.CSRFHeader: ""}, code: "InvalidCSRFToken"},
		{name: "wrong CSRF token", hdr: map[string]string{console.CSRFHeader: good.CSRFToken[:len(good.CSRFToken)-2] + "xx"}, code: "InvalidCSRFToken"},
		{name: "cross-site Origin", hdr: map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": ""}, code: "CrossOriginRequestRefused"},
		{name: "cross-site Sec-Fetch-Site", hdr: map[string]string{"Sec-Fetch-Site": "cross-site"}, code: "CrossOriginRequestRefused"},
		{name: "same-site other origin", hdr: map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "https://other.localhost"}, code: "CrossOriginRequestRefused"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			name := "csrf-victim-" + string(rune('a'+i))
			hdr := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
			for k, v := range tc.hdr {
				hdr[k] = v
			}
			resp, body := b.do(http.MethodPost, "/console/api/call/iam", []byte(form+name), hdr)
			if resp.StatusCode != http.StatusForbidden || decode[apiErr](t, body).Code != tc.code {
				t.Fatalf("%d %s, want 403 %s", resp.StatusCode, body, tc.code)
			}
			if _, err := iam.NewFromConfig(e.AWS(e.Admin)).GetUser(context.Background(), &iam.GetUserInput{UserName: aws.String(name)}); err == nil {
				t.Fatalf("the refused request created user %s", name)
			}
		})
	}
	t.Run("same origin with token", func(t *testing.T) {
		resp, body := b.do(http.MethodPost, "/console/api/call/iam", []byte(form+"csrf-ok"), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
		if resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})
	t.Run("cross-site sign-in", func(t *testing.T) {
		resp, body := newBrowser(t, e, "127.0.0.2").postJSON("/console/api/signin", map[string]string{"userName": "erin", "password": password},
			map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("%d %s, want 403", resp.StatusCode, body)
		}
	})
}

// TestProxy: an API call through the console is the signed-in user's,
// recorded with the browser's address and the console's user agent; a
// call the user may not make gets AWS's refusal back as it is.
func TestProxy(t *testing.T) {
	e := start(t, 100)
	loginUser(t, e, "frank", onlyWhoAmI)
	b := newBrowser(t, e, "127.0.0.6")
	b.signIn("frank", password, "")

	resp, body := b.call("sts", "", "Action=GetCallerIdentity&Version=2011-06-15")
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte("<Arn>arn:aws:iam::"+e.Server.AccountID+":user/frank</Arn>")) ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/xml") {
		t.Fatalf("GetCallerIdentity: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	wantUA := "postern-console/" + testVer + " (" + browserUA + ")"
	cases := []struct {
		name, service, target, body string
		status                      int
		want                        string // in the body
		event                       string
	}{
		{name: "IAM refusal", service: "iam", body: "Action=ListUsers&Version=2010-05-08", status: 403,
			want: "User: arn:aws:iam::" + e.Server.AccountID + ":user/frank is not authorized to perform: iam:ListUsers", event: "ListUsers"},
		{name: "EC2 refusal", service: "ec2", body: "Action=DescribeVpcs&Version=2016-11-15", status: 403,
			want: "<Code>UnauthorizedOperation</Code>", event: "DescribeVpcs"},
		{name: "CloudTrail refusal (JSON)", service: "cloudtrail", target: "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents", body: "{}", status: 400,
			want: "AccessDeniedException", event: "LookupEvents"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := b.call(tc.service, tc.target, tc.body)
			if resp.StatusCode != tc.status || !bytes.Contains(body, []byte(tc.want)) {
				t.Fatalf("%d %s, want %d with %q", resp.StatusCode, body, tc.status, tc.want)
			}
			frank := "arn:aws:iam::" + e.Server.AccountID + ":user/frank"
			var r map[string]any
			for _, rec := range lookup(t, e, cttypes.LookupAttributeKeyEventName, tc.event) {
				if field(rec, "userIdentity.arn") == frank {
					r = rec
					break
				}
			}
			if r == nil {
				t.Fatalf("no %s record of frank", tc.event)
			}
			for k, v := range map[string]any{"sourceIPAddress": "127.0.0.6", "userAgent": wantUA, "userIdentity.arn": "arn:aws:iam::" + e.Server.AccountID + ":user/frank"} {
				if got := field(r, k); got != v {
					t.Errorf("%s record %s = %v, want %v", tc.event, k, got, v)
				}
			}
			if ec, _ := field(r, "errorCode").(string); ec == "" {
				t.Errorf("the refused call's record has no errorCode: %v", r)
			}
		})
	}
	t.Run("body too large", func(t *testing.T) {
		resp, body := b.call("iam", "", "Action=ListUsers&Version=2010-05-08&Marker="+strings.Repeat("x", 2<<20))
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("%d %.200s", resp.StatusCode, body)
		}
	})
	t.Run("unknown service", func(t *testing.T) {
		resp, body := b.call("s3", "", "Action=ListBuckets")
		if resp.StatusCode != 404 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})
	t.Run("not signed in", func(t *testing.T) {
		nb := newBrowser(t, e, "127.0.0.6")
		nb.csrf = "x"
		resp, body := nb.call("sts", "", "Action=GetCallerIdentity&Version=2011-06-15")
		if resp.StatusCode != 401 || decode[apiErr](t, body).Code != "NotSignedIn" {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})
}

// TestSwitchRole: switch role assumes the role through STS as the user
// (recorded), the calls after it are the role session's, switch back
// returns to the user; a role the user may not assume gets STS's refusal.
func TestSwitchRole(t *testing.T) {
	e := start(t, 100)
	ctx := context.Background()
	ic := iam.NewFromConfig(e.AWS(e.Admin))
	loginUser(t, e, "gina", onlyWhoAmI) // before the trust policy that names her
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + e.Server.AccountID + `:user/gina"},"Action":"sts:AssumeRole"}]}`
	if _, err := ic.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("ops"), AssumeRolePolicyDocument: aws.String(trust)}); err != nil {
		t.Fatal(err)
	}
	if _, err := ic.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("closed"),
		AssumeRolePolicyDocument: aws.String(strings.ReplaceAll(trust, "user/gina", "root"))}); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, e, "127.0.0.2")
	b.signIn("gina", password, "")
	roleARN := "arn:aws:iam::" + e.Server.AccountID + ":role/ops"

	resp, body := b.postJSON("/console/api/switch-role", map[string]string{"roleArn": roleARN}, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("switch-role: %d %s", resp.StatusCode, body)
	}
	si := decode[sessionInfo](t, body)
	wantARN := "arn:aws:sts::" + e.Server.AccountID + ":assumed-role/ops/gina"
	if si.Role == nil || si.Role.RoleARN != roleARN || si.Role.SessionName != "gina" || si.ARN != wantARN || si.PrincipalType != "AssumedRole" || si.UserName != "gina" {
		t.Fatalf("session after switch-role: %s", body)
	}
	if _, body := b.call("sts", "", "Action=GetCallerIdentity&Version=2011-06-15"); !bytes.Contains(body, []byte(wantARN)) {
		t.Fatalf("GetCallerIdentity as the role: %s", body)
	}
	if recs := lookup(t, e, cttypes.LookupAttributeKeyEventName, "AssumeRole"); len(recs) == 0 || field(recs[0], "userIdentity.arn") != "arn:aws:iam::"+e.Server.AccountID+":user/gina" {
		t.Errorf("AssumeRole records: %v", recs)
	}
	resp, body = b.postJSON("/console/api/switch-back", struct{}{}, nil)
	if resp.StatusCode != 200 || decode[sessionInfo](t, body).Role != nil {
		t.Fatalf("switch-back: %d %s", resp.StatusCode, body)
	}
	if _, body := b.call("sts", "", "Action=GetCallerIdentity&Version=2011-06-15"); !bytes.Contains(body, []byte(":user/gina</Arn>")) {
		t.Fatalf("GetCallerIdentity after switch-back: %s", body)
	}
	resp, body = b.postJSON("/console/api/switch-role", map[string]string{"roleArn": "arn:aws:iam::" + e.Server.AccountID + ":role/closed"}, nil)
	if resp.StatusCode != 403 || !bytes.Contains(body, []byte("<Code>AccessDenied</Code>")) || !bytes.Contains(body, []byte("sts:AssumeRole")) {
		t.Fatalf("switch to a closed role: %d %s, want STS's AccessDenied", resp.StatusCode, body)
	}

	// A role session that ends (here: deleted) sends the console back
	// to the user, saying so, and never acts as the user silently.
	if resp, body := b.postJSON("/console/api/switch-role", map[string]string{"roleArn": roleARN, "sessionName": "again"}, nil); resp.StatusCode != 200 {
		t.Fatalf("switch-role again: %d %s", resp.StatusCode, body)
	}
	if _, body := b.call("sts", "", "Action=GetCallerIdentity&Version=2011-06-15"); !bytes.Contains(body, []byte("assumed-role/ops/again<")) {
		t.Fatalf("GetCallerIdentity as the role: %s", body)
	}
	var roleKey string
	for _, r := range lookup(t, e, cttypes.LookupAttributeKeyEventName, "GetCallerIdentity") {
		if field(r, "userIdentity.arn") == "arn:aws:sts::"+e.Server.AccountID+":assumed-role/ops/again" {
			roleKey, _ = field(r, "userIdentity.accessKeyId").(string)
			break
		}
	}
	if !strings.HasPrefix(roleKey, "ASIA") {
		t.Fatalf("no GetCallerIdentity record of the role session")
	}
	if err := e.Server.Store.DeleteSession(ctx, roleKey); err != nil {
		t.Fatal(err)
	}
	resp, body = b.call("sts", "", "Action=GetCallerIdentity&Version=2011-06-15")
	if resp.StatusCode != 401 || decode[apiErr](t, body).Code != "RoleSessionExpired" {
		t.Fatalf("call after the role session ended: %d %s, want 401 RoleSessionExpired", resp.StatusCode, body)
	}
	resp, body = b.do(http.MethodGet, "/console/api/session", nil, nil)
	if si := decode[sessionInfo](t, body); resp.StatusCode != 200 || si.Role != nil || si.PrincipalType != "IAMUser" {
		t.Fatalf("session after the role ended: %d %s", resp.StatusCode, body)
	}
}

// TestSignOut: signing out deletes the session: the old cookie, kept and
// sent again, no longer works.
func TestSignOut(t *testing.T) {
	e := start(t, 100)
	loginUser(t, e, "hank", onlyWhoAmI)
	b := newBrowser(t, e, "127.0.0.2")
	b.signIn("hank", password, "")
	u, _ := url.Parse(e.URL)
	old := b.jar.Cookies(u)
	if len(old) != 1 {
		t.Fatalf("cookies %v", old)
	}
	resp, body := b.postJSON("/console/api/signout", struct{}{}, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("signout: %d %s", resp.StatusCode, body)
	}
	if c := resp.Header.Get("Set-Cookie"); !strings.Contains(c, "__Host-postern-console=;") || !strings.Contains(c, "Max-Age=0") {
		t.Errorf("signout's Set-Cookie %q does not clear the cookie", c)
	}
	// The old cookie, replayed.
	replay := newBrowser(t, e, "127.0.0.2")
	replay.jar.SetCookies(u, old)
	replay.csrf = b.csrf
	if resp, body := replay.do(http.MethodGet, "/console/api/session", nil, nil); resp.StatusCode != 401 || decode[apiErr](t, body).Code != "NotSignedIn" {
		t.Fatalf("session with the old cookie: %d %s", resp.StatusCode, body)
	}
	if resp, body := replay.call("sts", "", "Action=GetCallerIdentity&Version=2011-06-15"); resp.StatusCode != 401 {
		t.Fatalf("call with the old cookie: %d %s", resp.StatusCode, body)
	}
	// Signing in again in the same browser ends the earlier session too.
	b.signIn("hank", password, "")
	first := b.jar.Cookies(u)
	b.signIn("hank", password, "")
	stale := newBrowser(t, e, "127.0.0.2")
	stale.jar.SetCookies(u, first)
	if resp, body := stale.do(http.MethodGet, "/console/api/session", nil, nil); resp.StatusCode != 401 {
		t.Fatalf("the session before the second sign-in: %d %s", resp.StatusCode, body)
	}
	if resp, body := b.do(http.MethodGet, "/console/api/session", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("the second sign-in's session: %d %s", resp.StatusCode, body)
	}
}

// TestOneTimeLink: the first start prints a one-time link for the
// administrator; it signs in once (recorded), never twice, and a wrong
// token is a recorded failure.
func TestOneTimeLink(t *testing.T) {
	e := start(t, 100)
	link := e.Server.ConsoleLink()
	prefix := "https://" + e.DNSName() + "/console/#/welcome/"
	if !strings.HasPrefix(link, prefix) || len(link) < len(prefix)+40 {
		t.Fatalf("ConsoleLink %q, want %s<token>", link, prefix)
	}
	token := strings.TrimPrefix(link, prefix)
	var welcome bytes.Buffer
	addr, err := net.ResolveTCPAddr("tcp", e.Addr)
	if err != nil {
		t.Fatal(err)
	}
	e.Server.PrintWelcome(&welcome, addr)
	if !strings.Contains(welcome.String(), "\n  "+link+"\n") {
		t.Errorf("the welcome text does not print the link on a line of its own:\n%s", welcome.String())
	}
	// Only the token's hash is stored.
	v, err := e.Server.Store.GetSetting(context.Background(), "console_bootstrap_link")
	if err != nil || strings.Contains(v, token) {
		t.Fatalf("stored link %q (%v) holds the token", v, err)
	}
	b := newBrowser(t, e, "127.0.0.2")
	resp, body := b.postJSON("/console/api/signin-link", map[string]string{"token": token}, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("first use: %d %s", resp.StatusCode, body)
	}
	si := decode[sessionInfo](t, body)
	b.csrf = si.CSRFToken
	if si.UserName != e.Server.Config.AdminUser {
		t.Fatalf("signed in as %q, want %q", si.UserName, e.Server.Config.AdminUser)
	}
	// The administrator may act: list users through the proxy.
	if resp, body := b.call("iam", "", "Action=ListUsers&Version=2010-05-08"); resp.StatusCode != 200 {
		t.Fatalf("ListUsers as the administrator: %d %s", resp.StatusCode, body)
	}
	for _, tok := range []string{token, "not-the-token"} {
		resp, body := newBrowser(t, e, "127.0.0.2").postJSON("/console/api/signin-link", map[string]string{"token": tok}, nil)
		if resp.StatusCode != 401 || decode[apiErr](t, body).Code != "SignInFailed" {
			t.Fatalf("token %q again: %d %s, want 401 SignInFailed", tok, resp.StatusCode, body)
		}
	}
	recs := consoleLogins(t, e)
	if len(recs) != 3 {
		t.Fatalf("%d ConsoleLogin records, want 3", len(recs))
	}
	if field(recs[2], "responseElements.ConsoleLogin") != "Success" || field(recs[2], "userIdentity.userName") != e.Server.Config.AdminUser ||
		field(recs[0], "responseElements.ConsoleLogin") != "Failure" || field(recs[1], "responseElements.ConsoleLogin") != "Failure" {
		t.Errorf("records: %v", recs)
	}
	sum := sha256.Sum256([]byte(token))
	if strings.Contains(mustJSON(t, recs), token) || strings.Contains(mustJSON(t, recs), hex.EncodeToString(sum[:])) {
		t.Error("a record holds the token")
	}
	// A restart prints no new link.
	e.Stop()
	again := tunneltest.Start(t, tunneltest.Options{DataDir: e.Dir})
	if l := again.Server.ConsoleLink(); l != "" {
		t.Errorf("a restart made the link %q", l)
	}
}

// TestRootRedirect: a browser opening the server's address goes to the
// console; API GETs (presigned, or signed in the header) still reach
// the API.
func TestRootRedirect(t *testing.T) {
	e := start(t, 100)
	b := newBrowser(t, e, "127.0.0.2")
	resp, _ := b.do(http.MethodGet, "/", nil, map[string]string{"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/console/" {
		t.Fatalf("GET / from a browser: %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// A presigned GetCallerIdentity, opened by a browser.
	q := url.Values{"Action": {"GetCallerIdentity"}, "Version": {"2011-06-15"}}
	req, _ := http.NewRequest(http.MethodGet, e.URL+"/?"+q.Encode(), nil)
	signed, _, err := v4.NewSigner().PresignHTTP(context.Background(), e.Admin, req,
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "sts", e.Region, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(signed)
	resp, body := b.do(http.MethodGet, "/?"+u.RawQuery, nil, map[string]string{"Accept": "text/html"})
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte("GetCallerIdentityResponse")) {
		t.Fatalf("presigned GET: %d %s", resp.StatusCode, body)
	}
	// No Accept: text/html: the API answers (a missing signature).
	resp, _ = b.do(http.MethodGet, "/", nil, map[string]string{"Accept": "*/*"})
	if resp.StatusCode == http.StatusFound {
		t.Fatal("GET / without Accept: text/html was redirected")
	}
	resp, _ = b.do(http.MethodGet, "/", nil, map[string]string{"Accept": "text/html", "Authorization": "AWS4-HMAC-SHA256 Credential=x"})
	if resp.StatusCode == http.StatusFound {
		t.Fatal("GET / with an Authorization header was redirected")
	}
}

// TestSessionDeletedInStore: a console session that ends on the server
// (deleted, as an administrator or the sweep does) ends the cookie.
func TestSessionDeletedInStore(t *testing.T) {
	e := start(t, 100)
	loginUser(t, e, "ivy", onlyWhoAmI)
	b := newBrowser(t, e, "127.0.0.2")
	b.signIn("ivy", password, "")
	recs := consoleLogins(t, e)
	ak, _ := field(recs[0], "userIdentity.accessKeyId").(string)
	if err := e.Server.Store.DeleteSession(context.Background(), ak); err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	if resp, body := b.do(http.MethodGet, "/console/api/session", nil, nil); resp.StatusCode != 401 {
		t.Fatalf("session after it was deleted: %d %s", resp.StatusCode, body)
	}
}

// TestSessionExpiry: a console session past its expiration no longer
// signs anyone in (the cookie is dropped), while a live one made the same
// way does.
func TestSessionExpiry(t *testing.T) {
	e := start(t, 100)
	e.NewUser("jay", onlyWhoAmI)
	ctx := context.Background()
	u, err := e.Server.Store.GetUser(ctx, "jay")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		expires time.Duration // from now
		status  int
	}{
		{name: "live", expires: time.Hour, status: 200},
		{name: "expired", expires: -time.Second, status: 401},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			akid := fmt.Sprintf("ASIATESTEXPIRY%06d", i)
			token := fmt.Sprintf("token-%d-%d", i, time.Now().UnixNano())
			sealed, err := e.Server.Sealer.Seal([]byte("secret-"+akid), []byte(akid))
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			if err := e.Server.Store.CreateSession(ctx, store.Session{AccessKeyID: akid, SecretSealed: sealed, SessionTokenHash: identity.HashToken(token),
				SourceUserARN: u.ARN, UserID: u.UserID, CreateDate: now.Add(-2 * time.Hour), Expiration: now.Add(tc.expires), AuthTime: now.Add(-2 * time.Hour)}); err != nil {
				t.Fatal(err)
			}
			v, err := console.CookieFor(e.Server.Sealer, akid, token)
			if err != nil {
				t.Fatal(err)
			}
			b := newBrowser(t, e, "127.0.0.2")
			eu, _ := url.Parse(e.URL)
			b.jar.SetCookies(eu, []*http.Cookie{{Name: console.CookieName, Value: v, Path: "/", Secure: true, HttpOnly: true}})
			resp, body := b.do(http.MethodGet, "/console/api/session", nil, nil)
			if resp.StatusCode != tc.status {
				t.Fatalf("session: %d %s, want %d", resp.StatusCode, body, tc.status)
			}
			if tc.status == 401 {
				if decode[apiErr](t, body).Code != "NotSignedIn" || !strings.Contains(resp.Header.Get("Set-Cookie"), "Max-Age=0") {
					t.Errorf("expired session: %s, Set-Cookie %q: want NotSignedIn and the cookie dropped", body, resp.Header.Get("Set-Cookie"))
				}
				return
			}
			b.csrf = decode[sessionInfo](t, body).CSRFToken
			if resp, body := b.call("sts", "", "Action=GetCallerIdentity&Version=2011-06-15"); resp.StatusCode != 200 || !bytes.Contains(body, []byte(":user/jay<")) {
				t.Fatalf("call with the live session: %d %s", resp.StatusCode, body)
			}
		})
	}
}

// TestPasswordReset: a login profile that requires a new password asks
// for one (403 PasswordResetRequired), refuses one the password policy
// refuses (400 PasswordPolicyViolation, with AWS's reason) and signs in
// with a good one, which replaces the old password.
func TestPasswordReset(t *testing.T) {
	e := start(t, 100)
	e.NewUser("kim", onlyWhoAmI)
	if _, err := iam.NewFromConfig(e.AWS(e.Admin)).CreateLoginProfile(context.Background(), &iam.CreateLoginProfileInput{
		UserName: aws.String("kim"), Password: aws.String(password), PasswordResetRequired: true}); err != nil {
		t.Fatal(err)
	}
	const newPassword = "An0ther-Good-Passw0rd!"
	steps := []struct {
		name, pw, newPW string
		status          int
		code            string
	}{
		{name: "no new password", pw: password, status: 403, code: "PasswordResetRequired"},
		{name: "new password too short", pw: password, newPW: "a", status: 400, code: "PasswordPolicyViolation"},
		{name: "wrong old password", pw: "wrong", newPW: newPassword, status: 401, code: "SignInFailed"},
		{name: "good new password", pw: password, newPW: newPassword, status: 200},
		{name: "the old password no longer works", pw: password, status: 401, code: "SignInFailed"},
		{name: "the new one does", pw: newPassword, status: 200},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			b := newBrowser(t, e, "127.0.0.2")
			resp, body := b.postJSON("/console/api/signin", map[string]string{"userName": "kim", "password": s.pw, "newPassword": s.newPW}, nil)
			if resp.StatusCode != s.status {
				t.Fatalf("%d %s, want %d", resp.StatusCode, body, s.status)
			}
			if s.code != "" {
				ae := decode[apiErr](t, body)
				if ae.Code != s.code || ae.Message == "" {
					t.Fatalf("%s, want %s", body, s.code)
				}
				if s.code == "PasswordPolicyViolation" && strings.Contains(ae.Message, "iamapi") {
					t.Errorf("message %q shows an internal package name", ae.Message)
				}
				if want := "Password does not conform to the account password policy: "; s.code == "PasswordPolicyViolation" &&
					(!strings.HasPrefix(ae.Message, want) || !strings.Contains(ae.Message, "minimum length")) {
					t.Errorf("message %q, want %q and AWS's reason (minimum length)", ae.Message, want+"…")
				}
			}
		})
	}
}

// TestConsoleDisabled: with console.enabled false nothing is served
// under /console/ and a browser opening the address gets the API's
// answer, not a redirect.
func TestConsoleDisabled(t *testing.T) {
	off := false
	e := tunneltest.Start(t, tunneltest.Options{Config: func(c *config.Server) { c.Console.Enabled = &off }})
	if l := e.Server.ConsoleLink(); l != "" {
		t.Errorf("ConsoleLink %q without a console", l)
	}
	b := newBrowser(t, e, "127.0.0.2")
	if resp, _ := b.do(http.MethodGet, "/console/", nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /console/: %d, want 404", resp.StatusCode)
	}
	if resp, _ := b.postJSON("/console/api/signin", map[string]string{"userName": "admin", "password": "x"}, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("POST signin: %d, want 404", resp.StatusCode)
	}
	if resp, _ := b.do(http.MethodGet, "/", nil, map[string]string{"Accept": "text/html"}); resp.StatusCode == http.StatusFound {
		t.Error("GET / redirected without a console")
	}
}
