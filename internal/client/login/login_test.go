package login_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/postern/postern/internal/client/login"
	"github.com/postern/postern/internal/testutil/browser"
	"github.com/postern/postern/internal/testutil/oidcop"
)

var alice = oidcop.User{Subject: "sub-alice", Username: "alice", Password: "correct horse", Email: "alice@example.com"}

const clientID = "postern-cli"

// startOP starts the real OpenID provider with Postern's public native
// client (loopback redirects on any port, the device grant).
func startOP(t *testing.T, alg string) *oidcop.Provider {
	t.Helper()
	return oidcop.Start(t, oidcop.Options{
		Alg: alg,
		Clients: []oidcop.Client{
			{ID: clientID, Native: true, Device: true, RedirectURIs: []string{"http://127.0.0.1/callback"}},
		},
		Users: []oidcop.User{alice},
	})
}

func providerConfig(op *oidcop.Provider) login.ProviderConfig {
	return login.ProviderConfig{Issuer: op.Issuer, ClientID: clientID, HTTPClient: op.HTTPClient()}
}

func discover(t *testing.T, op *oidcop.Provider) *login.Provider {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := login.Discover(ctx, providerConfig(op))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// redirectAddr is the loopback address an authorization URL redirects to.
func redirectAddr(t *testing.T, authURL string) string {
	t.Helper()
	u, err := url.Parse(authURL)
	if err != nil {
		t.Fatal(err)
	}
	r, err := url.Parse(u.Query().Get("redirect_uri"))
	if err != nil || r.Hostname() != "127.0.0.1" || r.Port() == "" || r.Path != "/callback" {
		t.Fatalf("redirect_uri %q: want http://127.0.0.1:PORT/callback", u.Query().Get("redirect_uri"))
	}
	q := u.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("state") == "" || q.Get("nonce") == "" {
		t.Fatalf("authorization URL without PKCE, state or nonce: %s", authURL)
	}
	return r.Host
}

// assertClosed: nothing listens on addr any more.
func assertClosed(t *testing.T, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err == nil {
		c.Close()
		t.Errorf("the loopback listener %s still accepts connections after the sign-in", addr)
	}
}

// TestBrowserSignIn drives the authorization-code flow end to end: the
// program's loopback listener, the provider's own login page filled in
// and submitted as a person would, the code exchanged with PKCE, the ID
// token verified (both signing algorithms), a refresh token kept, and
// the listener closed after its one request.
func TestBrowserSignIn(t *testing.T) {
	for _, alg := range []string{"RS256", "ES256"} {
		t.Run(alg, func(t *testing.T) {
			op := startOP(t, alg)
			p := discover(t, op)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var addr string
			var printed strings.Builder
			tok, err := p.BrowserSignIn(ctx, &printed, func(authURL string) error {
				addr = redirectAddr(t, authURL)
				final, body := op.SignIn(t, authURL, alice)
				if final.Host != addr || !strings.Contains(body, "Signed in") {
					t.Errorf("the browser ended at %s: %q", final, body)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if tok.Subject != alice.Subject || tok.Email != alice.Email || tok.IDToken == "" || !tok.Expiry.After(time.Now()) {
				t.Errorf("tokens %+v", tok)
			}
			if tok.RefreshToken == "" {
				t.Error("no refresh token (offline_access was asked for)")
			}
			if !strings.Contains(printed.String(), "http") {
				t.Errorf("the authorization URL was not printed: %q", printed.String())
			}
			assertClosed(t, addr)

			// The refresh token gets a new, verified ID token.
			again, err := p.Refresh(ctx, tok.RefreshToken)
			if err != nil {
				t.Fatal(err)
			}
			if again.Subject != alice.Subject || again.IDToken == "" || again.RefreshToken == "" {
				t.Errorf("refreshed tokens %+v", again)
			}
		})
	}
}

// TestBrowserSignInChromium: the same flow in a real browser: headless
// Chromium opens the authorization URL, a person types the name and
// password into the provider's page and submits it, and the browser
// lands on the loopback listener's "Signed in" page.
func TestBrowserSignInChromium(t *testing.T) {
	op := startOP(t, "RS256")
	p := discover(t, op)
	b := browser.Start(t, browser.Options{TrustCert: op.CACert})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tok, err := p.BrowserSignIn(ctx, io.Discard, func(authURL string) error {
		b.Run("sign in",
			chromedp.Navigate(authURL),
			chromedp.WaitVisible("#username"),
			chromedp.SendKeys("#username", alice.Username),
			chromedp.SendKeys("#password", alice.Password),
			chromedp.Click(`button[type="submit"]`),
			chromedp.WaitVisible(`//p[contains(., "Signed in")]`),
		)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if tok.Subject != alice.Subject || tok.IDToken == "" {
		t.Errorf("tokens %+v", tok)
	}
}

// TestBrowserSignInStateMismatch: a redirect to the loopback listener
// with a state other than the one sent (another page sending the browser
// there with its own code) ends the sign-in with ErrStateMismatch, no
// code is exchanged, and the listener is closed.
func TestBrowserSignInStateMismatch(t *testing.T) {
	op := startOP(t, "RS256")
	p := discover(t, op)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var addr string
	var status int
	_, err := p.BrowserSignIn(ctx, io.Discard, func(authURL string) error {
		addr = redirectAddr(t, authURL)
		resp, err := http.Get("http://" + addr + "/callback?code=attackers-code&state=forged")
		if err != nil {
			t.Errorf("forged redirect: %v", err)
			return nil
		}
		resp.Body.Close()
		status = resp.StatusCode
		return nil
	})
	if !errors.Is(err, login.ErrStateMismatch) {
		t.Fatalf("BrowserSignIn after a forged redirect: %v, want ErrStateMismatch", err)
	}
	if status != http.StatusBadRequest {
		t.Errorf("the forged redirect got HTTP %d, want 400", status)
	}
	assertClosed(t, addr)
}

// TestBrowserSignInWaitsForContext: without a redirect the sign-in ends
// with the context, and the listener with it.
func TestBrowserSignInWaitsForContext(t *testing.T) {
	op := startOP(t, "RS256")
	p := discover(t, op)
	ctx, cancel := context.WithCancel(context.Background())
	var addr string
	_, err := p.BrowserSignIn(ctx, io.Discard, func(authURL string) error {
		addr = redirectAddr(t, authURL)
		cancel() // the person gave up
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("BrowserSignIn: %v, want context.Canceled", err)
	}
	assertClosed(t, addr)
}

// TestDeviceSignIn: the device flow prints the verification URI and the
// user code, the person enters the code on the provider's own page and
// signs in, and the polling gets a verified ID token.
func TestDeviceSignIn(t *testing.T) {
	op := startOP(t, "RS256")
	p := discover(t, op)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	codes, printed := readDeviceCode(t)
	type result struct {
		tok login.Tokens
		err error
	}
	done := make(chan result, 1)
	go func() {
		tok, err := p.DeviceSignIn(ctx, printed)
		printed.Close()
		done <- result{tok, err}
	}()
	var dc deviceCode
	select {
	case dc = <-codes:
	case r := <-done:
		t.Fatalf("DeviceSignIn ended before printing a code: %v", r.err)
	}
	if dc.uri != op.Issuer+"/device" {
		t.Errorf("verification URI %q, want %s/device", dc.uri, op.Issuer)
	}
	op.DeviceApprove(t, dc.code, alice)
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.tok.Subject != alice.Subject || r.tok.IDToken == "" {
		t.Errorf("tokens %+v", r.tok)
	}
}

// TestDeviceSignInRefusedCode: a device code the person never approves
// is not turned into tokens; the context bounds the polling.
func TestDeviceSignInUnapproved(t *testing.T) {
	op := startOP(t, "RS256")
	p := discover(t, op)
	codes, printed := readDeviceCode(t)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-codes // printed: the person walks away
		cancel()
	}()
	_, err := p.DeviceSignIn(ctx, printed)
	printed.Close()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("DeviceSignIn without approval: %v, want context.Canceled", err)
	}
}

type deviceCode struct{ uri, code string }

// readDeviceCode returns a writer for DeviceSignIn's messages and the
// verification URI and user code read from them, as a person reads them:
// the indented lines after "open this page" and "enter the code".
func readDeviceCode(t *testing.T) (<-chan deviceCode, *io.PipeWriter) {
	t.Helper()
	r, w := io.Pipe()
	out := make(chan deviceCode, 1)
	go func() {
		sc := bufio.NewScanner(r)
		var indented []string
		sent := false
		for sc.Scan() {
			if l := sc.Text(); strings.HasPrefix(l, "    ") && !sent {
				indented = append(indented, strings.TrimSpace(l))
				if len(indented) == 2 {
					out <- deviceCode{uri: indented[0], code: indented[1]}
					sent = true
				}
			}
		}
		io.Copy(io.Discard, r)
	}()
	t.Cleanup(func() { w.Close() })
	return out, w
}

// TestCacheFiles: the cache is a 0600 file in a 0700 folder (a folder
// made wider before is narrowed), written whole, read back, and removed
// by Remove.
func TestCacheFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), ".postern", "login")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	c := login.Cache{Dir: dir}
	exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	want := login.Entry{Issuer: "https://idp.example", ClientID: "c", RoleARN: "arn:aws:iam::123456789012:role/dev",
		AccessKeyID: "ASIAEXAMPLE", SecretAccessKey: "secret", SessionToken: "token", Expiration: exp, RefreshToken: "rt"}
	for _, profile := range []string{"dev", "team/prod west"} {
		t.Run(profile, func(t *testing.T) {
			if _, err := c.Load(profile); !errors.Is(err, login.ErrNotCached) {
				t.Fatalf("Load before Save: %v, want ErrNotCached", err)
			}
			if err := c.Save(profile, want); err != nil {
				t.Fatal(err)
			}
			path := c.Path(profile)
			if filepath.Dir(path) != dir {
				t.Fatalf("cache file %s is outside %s", path, dir)
			}
			for p, mode := range map[string]os.FileMode{dir: 0o700, path: 0o600} {
				fi, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode().Perm() != mode {
					t.Errorf("%s has mode %v, want %v", p, fi.Mode().Perm(), mode)
				}
			}
			got, err := c.Load(profile)
			if err != nil {
				t.Fatal(err)
			}
			want.Version = 1
			if got != want {
				t.Errorf("Load = %+v, want %+v", got, want)
			}
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if strings.HasSuffix(e.Name(), ".tmp") {
					t.Errorf("temporary file %s left behind", e.Name())
				}
			}
			if had, err := c.Remove(profile); err != nil || !had {
				t.Fatalf("Remove = %v, %v", had, err)
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Errorf("%s still there after Remove: %v", path, err)
			}
			if had, err := c.Remove(profile); err != nil || had {
				t.Errorf("second Remove = %v, %v, want false, nil", had, err)
			}
		})
	}
}

// TestCredentialsWithoutPerson: Credentials never signs in. It returns
// cached credentials while they are fresh, and ErrLoginRequired when
// there are none, when they expired without a refresh token, or when
// the profile now names another provider.
func TestCredentialsWithoutPerson(t *testing.T) {
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	base := login.Entry{Issuer: "https://idp.example", ClientID: "c", RoleARN: "arn:aws:iam::123456789012:role/dev",
		AccessKeyID: "ASIAEXAMPLE", SecretAccessKey: "s", SessionToken: "t"}
	tests := []struct {
		name      string
		entry     *login.Entry
		issuer    string
		wantLogin bool
	}{
		{"not signed in", nil, "https://idp.example", true},
		{"fresh", &login.Entry{Expiration: now.Add(time.Hour)}, "https://idp.example", false},
		{"inside the window, no refresh token: still valid", &login.Entry{Expiration: now.Add(time.Minute)}, "https://idp.example", false},
		{"expired, no refresh token", &login.Entry{Expiration: now.Add(-time.Minute)}, "https://idp.example", true},
		{"another provider", &login.Entry{Expiration: now.Add(time.Hour)}, "https://other.example", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &login.Session{Profile: "dev", Cache: login.Cache{Dir: t.TempDir()},
				Provider: login.ProviderConfig{Issuer: tc.issuer, ClientID: "c"}, Now: func() time.Time { return now }}
			if tc.entry != nil {
				e := base
				e.Expiration = tc.entry.Expiration
				if err := s.Cache.Save("dev", e); err != nil {
					t.Fatal(err)
				}
			}
			got, err := s.Credentials(context.Background())
			if tc.wantLogin {
				if !errors.Is(err, login.ErrLoginRequired) {
					t.Fatalf("Credentials = %+v, %v; want ErrLoginRequired", got, err)
				}
				return
			}
			if err != nil || got.AccessKeyID != base.AccessKeyID {
				t.Fatalf("Credentials = %+v, %v", got, err)
			}
		})
	}
}

func TestSessionName(t *testing.T) {
	tests := []struct {
		tok  login.Tokens
		want string
	}{
		{login.Tokens{Username: "alice", Email: "a@x", Subject: "s"}, "alice"},
		{login.Tokens{Email: "alice@example.com", Subject: "s"}, "alice@example.com"},
		{login.Tokens{Subject: "auth0|12345"}, "auth0-12345"},
		{login.Tokens{Subject: "x"}, "postern-login"},
		{login.Tokens{Username: strings.Repeat("a", 80)}, strings.Repeat("a", 64)},
	}
	for _, tc := range tests {
		if got := login.SessionName(tc.tok); got != tc.want {
			t.Errorf("SessionName(%+v) = %q, want %q", tc.tok, got, tc.want)
		}
	}
}

// TestCacheLock: the profile's lock is held by one taker at a time; a
// second waits until its context ends, and gets the lock once the first
// lets go.
func TestCacheLock(t *testing.T) {
	c := login.Cache{Dir: filepath.Join(t.TempDir(), "login")}
	unlock, err := c.Lock(context.Background(), "dev")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := c.Lock(ctx, "dev"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second Lock while held: %v, want the context's deadline", err)
	}
	other, err := c.Lock(context.Background(), "prod")
	if err != nil {
		t.Fatalf("another profile's lock: %v", err)
	}
	other()
	unlock()
	again, err := c.Lock(context.Background(), "dev")
	if err != nil {
		t.Fatalf("Lock after unlock: %v", err)
	}
	again()
}

// TestLoginRoleChoice: the role is --role-arn, else the profile's only
// one, else the person's pick among several (asked before any sign-in);
// none, or several without a way to ask, is refused before the provider
// is contacted.
func TestLoginRoleChoice(t *testing.T) {
	const r1, r2 = "arn:aws:iam::123456789012:role/a", "arn:aws:iam::123456789012:role/b"
	errPicked := errors.New("picked")
	tests := []struct {
		name    string
		roles   []string
		flag    string
		choose  bool
		want    error  // sentinel, or nil with wantMsg
		wantMsg string // in the error
		asked   bool
	}{
		{name: "none", want: login.ErrNoRole},
		{name: "several, no chooser", roles: []string{r1, r2}, wantMsg: "--role-arn"},
		{name: "several, chooser", roles: []string{r1, r2}, choose: true, want: errPicked, asked: true},
		{name: "flag wins", roles: []string{r1, r2}, flag: r2, choose: true, wantMsg: "discover"},
		{name: "only one", roles: []string{r1}, choose: true, wantMsg: "discover"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Nothing listens on port 1: reaching discovery fails fast.
			s := &login.Session{Profile: "dev", Cache: login.Cache{Dir: t.TempDir()}, Roles: tc.roles,
				Provider: login.ProviderConfig{Issuer: "https://127.0.0.1:1", ClientID: "c"}}
			asked := false
			o := login.LoginOptions{RoleARN: tc.flag, Method: login.Device}
			if tc.choose {
				o.Choose = func(roles []string) (string, error) {
					asked = true
					if len(roles) != 2 {
						t.Errorf("asked among %v", roles)
					}
					return "", errPicked
				}
			}
			_, err := s.Login(context.Background(), o)
			if tc.want != nil && !errors.Is(err, tc.want) || tc.wantMsg != "" && (err == nil || !strings.Contains(err.Error(), tc.wantMsg)) {
				t.Errorf("Login: %v; want %v %q", err, tc.want, tc.wantMsg)
			}
			if asked != tc.asked {
				t.Errorf("asked = %v, want %v", asked, tc.asked)
			}
		})
	}
}

// TestLogoutRevokes: logout removes the cache file and revokes the
// refresh token at the provider (its revocation endpoint), which then
// refuses it.
func TestLogoutRevokes(t *testing.T) {
	op := startOP(t, "RS256")
	p := discover(t, op)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tok, err := p.BrowserSignIn(ctx, io.Discard, func(authURL string) error {
		op.SignIn(t, authURL, alice)
		return nil
	})
	if err != nil || tok.RefreshToken == "" {
		t.Fatalf("sign-in: %+v, %v", tok, err)
	}
	s := &login.Session{Profile: "dev", Cache: login.Cache{Dir: t.TempDir()}, Provider: providerConfig(op)}
	if err := s.Cache.Save("dev", login.Entry{Issuer: op.Issuer, ClientID: clientID, RefreshToken: tok.RefreshToken,
		AccessKeyID: "ASIAEXAMPLE", Expiration: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	had, err := s.Logout(ctx)
	if err != nil || !had {
		t.Fatalf("Logout = %v, %v", had, err)
	}
	if _, err := s.Cache.Load("dev"); !errors.Is(err, login.ErrNotCached) {
		t.Errorf("Load after Logout: %v, want ErrNotCached", err)
	}
	if _, err := p.Refresh(ctx, tok.RefreshToken); !errors.Is(err, login.ErrDenied) {
		t.Errorf("Refresh with the revoked token: %v, want ErrDenied", err)
	}
}
