package oidcop

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
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

	"golang.org/x/net/html"
)

// maxPage bounds every page and token response the browser reads.
const maxPage = 1 << 20

// Tokens is a token endpoint's answer.
type Tokens struct {
	IDToken      string `json:"id_token"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
}

// Discovery is the part of the provider's discovery document the helpers
// use.
type Discovery struct {
	Issuer                      string `json:"issuer"`
	AuthorizationEndpoint       string `json:"authorization_endpoint"`
	TokenEndpoint               string `json:"token_endpoint"`
	DeviceAuthorizationEndpoint string `json:"device_authorization_endpoint"`
	JWKSURI                     string `json:"jwks_uri"`
}

// Discover fetches /.well-known/openid-configuration.
func (p *Provider) Discover(ctx context.Context) (Discovery, error) {
	var d Discovery
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.Issuer+"/.well-known/openid-configuration", nil)
	if err != nil {
		return d, err
	}
	resp, err := p.HTTPClient().Do(req)
	if err != nil {
		return d, fmt.Errorf("discovery: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return d, fmt.Errorf("discovery: %s", resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxPage)).Decode(&d); err != nil {
		return d, fmt.Errorf("discovery: %w", err)
	}
	return d, nil
}

// IDToken signs user in through client clientID with the authorization-
// code flow and PKCE, as a person at a browser would, and returns the ID
// token the token endpoint issues. It fails the test on any error.
func (p *Provider) IDToken(t testing.TB, clientID string, user User) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tok, err := p.CodeFlow(ctx, clientID, user)
	if err != nil {
		t.Fatalf("oidcop: code flow for %s as %s: %v", clientID, user.Username, err)
	}
	return tok.IDToken
}

// CodeFlow runs the authorization-code flow with PKCE for client
// clientID (scopes openid, email, profile): GET the authorization
// endpoint, fill in and submit the provider's login page with user's name
// and password, follow the redirects to the redirect URI, and exchange
// the code (with the client's secret for a confidential client). A native
// client's redirect goes to a loopback server CodeFlow runs on a free
// port; for other clients the browser stops at the registered redirect
// URI (the first) and reads the code from it.
func (p *Provider) CodeFlow(ctx context.Context, clientID string, user User) (Tokens, error) {
	c, ok := p.clientSpec(clientID)
	if !ok {
		return Tokens{}, fmt.Errorf("no client %q in Options", clientID)
	}
	if len(c.RedirectURIs) == 0 {
		return Tokens{}, fmt.Errorf("client %q has no redirect URI", clientID)
	}
	d, err := p.Discover(ctx)
	if err != nil {
		return Tokens{}, err
	}
	registered, err := url.Parse(c.RedirectURIs[0])
	if err != nil {
		return Tokens{}, fmt.Errorf("redirect URI: %w", err)
	}
	redirectURI := c.RedirectURIs[0]
	type callback struct{ query url.Values }
	got := make(chan callback, 1)
	b := p.newBrowser()
	defer b.c.CloseIdleConnections()
	if c.Native {
		// The app's loopback server, on a port of its own (RFC 8252).
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return Tokens{}, err
		}
		srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != registered.Path {
				http.NotFound(w, r)
				return
			}
			select {
			case got <- callback{r.URL.Query()}:
			default:
			}
			io.WriteString(w, "Signed in. You can close this window.")
		})}
		go srv.Serve(ln)
		defer srv.Close()
		u := *registered
		u.Host = ln.Addr().String()
		redirectURI = u.String()
	} else {
		b.stopAt = redirectURI
	}

	verifier := randomString()
	challenge := sha256.Sum256([]byte(verifier))
	state, nonce := randomString(), randomString()
	q := url.Values{
		"client_id":             {clientID},
		"redirect_uri":          {redirectURI},
		"response_type":         {"code"},
		"scope":                 {"openid email profile"},
		"state":                 {state},
		"nonce":                 {nonce},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(challenge[:])},
		"code_challenge_method": {"S256"},
	}
	final, _, err := b.signIn(ctx, d.AuthorizationEndpoint+"?"+q.Encode(), user)
	if err != nil {
		return Tokens{}, err
	}
	var params url.Values
	if c.Native {
		select {
		case cb := <-got:
			params = cb.query
		default:
			return Tokens{}, fmt.Errorf("the loopback redirect URI was never called (browser ended at %s)", final)
		}
	} else {
		params = final.Query()
	}
	if e := params.Get("error"); e != "" {
		return Tokens{}, fmt.Errorf("authorization error %s: %s", e, params.Get("error_description"))
	}
	if params.Get("state") != state {
		return Tokens{}, fmt.Errorf("state %q, want %q", params.Get("state"), state)
	}
	code := params.Get("code")
	if code == "" {
		return Tokens{}, errors.New("no code in the redirect")
	}
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {redirectURI},
		"code_verifier": {verifier},
		"client_id":     {clientID},
	}
	return p.token(ctx, d.TokenEndpoint, c, form)
}

// token POSTs form to the token endpoint as client c.
func (p *Provider) token(ctx context.Context, endpoint string, c Client, form url.Values) (Tokens, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return Tokens{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if c.Secret != "" {
		req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
	}
	resp, err := p.HTTPClient().Do(req)
	if err != nil {
		return Tokens{}, fmt.Errorf("token endpoint: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPage))
	if err != nil {
		return Tokens{}, fmt.Errorf("token endpoint: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return Tokens{}, &TokenError{Status: resp.StatusCode, Body: string(body)}
	}
	var tok Tokens
	if err := json.Unmarshal(body, &tok); err != nil {
		return Tokens{}, fmt.Errorf("token endpoint: %w", err)
	}
	if tok.IDToken == "" {
		return Tokens{}, fmt.Errorf("token endpoint issued no id_token: %s", body)
	}
	return tok, nil
}

// TokenError is a token endpoint's refusal.
type TokenError struct {
	Status int
	Body   string // the OAuth error JSON
}

func (e *TokenError) Error() string {
	return fmt.Sprintf("token endpoint: HTTP %d: %s", e.Status, e.Body)
}

// SignIn is the browser's part of a code flow some other program started
// (postern login, say): it opens authURL, fills in and submits the
// provider's login page with user's name and password, and follows every
// redirect, to the program's loopback redirect URI too. It returns the
// URL and body of the last page. It fails the test if the provider shows
// no login page or refuses the sign-in.
func (p *Provider) SignIn(t testing.TB, authURL string, user User) (*url.URL, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := p.newBrowser()
	defer b.c.CloseIdleConnections()
	final, body, err := b.signIn(ctx, authURL, user)
	if err != nil {
		t.Fatalf("oidcop: sign-in as %s: %v", user.Username, err)
	}
	return final, body
}

// DeviceApprove is the person's part of a device flow: on the provider's
// own pages (its verification URI, Issuer+"/device") it enters userCode,
// signs in as user and allows the device. It fails the test if a step
// fails; TryDeviceApprove returns the error instead.
func (p *Provider) DeviceApprove(t testing.TB, userCode string, user User) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := p.TryDeviceApprove(ctx, userCode, user); err != nil {
		t.Fatalf("oidcop: device approval of %s as %s: %v", userCode, user.Username, err)
	}
}

// TryDeviceApprove is DeviceApprove returning its error.
func (p *Provider) TryDeviceApprove(ctx context.Context, userCode string, user User) error {
	b := p.newBrowser()
	defer b.c.CloseIdleConnections()
	page, err := b.get(ctx, p.Issuer+"/device")
	if err != nil {
		return err
	}
	f, ok := page.formWith("user_code")
	if !ok {
		return fmt.Errorf("no user-code form at %s: %s", page.url, page.text())
	}
	f.fields.Set("user_code", userCode)
	if page, err = b.submit(ctx, f); err != nil {
		return err
	}
	f, ok = page.formWith("password")
	if !ok {
		return fmt.Errorf("no login form after the user code: %s", page.text())
	}
	f.fields.Set("username", user.Username)
	f.fields.Set("password", user.Password)
	if page, err = b.submit(ctx, f); err != nil {
		return err
	}
	allow, ok := page.button("Allow")
	if !ok {
		return fmt.Errorf("no Allow button after signing in (refused?): %s", page.text())
	}
	if page, err = b.get(ctx, allow.String()); err != nil {
		return err
	}
	if !strings.Contains(page.body, "allowed") {
		return fmt.Errorf("device not allowed: %s", page.text())
	}
	return nil
}

// browser is a cookie-keeping user agent that trusts the provider.
type browser struct {
	c *http.Client
	// stopAt, when set, is a URL prefix the browser does not follow a
	// redirect to (a redirect URI nothing listens on).
	stopAt string
}

func (p *Provider) newBrowser() *browser {
	jar, _ := cookiejar.New(nil)
	pool := x509.NewCertPool()
	pool.AddCert(p.CACert)
	b := &browser{}
	b.c = &http.Client{
		Jar:     jar,
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 10 {
				return errors.New("stopped after 10 redirects")
			}
			if b.stopAt != "" && strings.HasPrefix(req.URL.String(), b.stopAt) {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
	return b
}

// signIn opens authURL, submits the login form and follows redirects.
func (b *browser) signIn(ctx context.Context, authURL string, user User) (*url.URL, string, error) {
	page, err := b.get(ctx, authURL)
	if err != nil {
		return nil, "", err
	}
	f, ok := page.formWith("password")
	if !ok {
		return nil, "", fmt.Errorf("no login page at %s: %s", page.url, page.text())
	}
	f.fields.Set("username", user.Username)
	f.fields.Set("password", user.Password)
	page, err = b.submit(ctx, f)
	if err != nil {
		return nil, "", err
	}
	if _, again := page.formWith("password"); again {
		return nil, "", fmt.Errorf("the provider refused the sign-in: %s", page.text())
	}
	return page.final, page.body, nil
}

// page is a fetched page.
type page struct {
	url   *url.URL // the page's URL
	final *url.URL // where the browser stopped: the page, or an unfollowed redirect's target
	body  string
	doc   *html.Node
}

func (b *browser) get(ctx context.Context, u string) (*page, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	return b.do(req)
}

func (b *browser) submit(ctx context.Context, f form) (*page, error) {
	var req *http.Request
	var err error
	if f.method == http.MethodPost {
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, f.action.String(), strings.NewReader(f.fields.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	} else {
		u := *f.action
		u.RawQuery = f.fields.Encode()
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	}
	if err != nil {
		return nil, err
	}
	return b.do(req)
}

func (b *browser) do(req *http.Request) (*page, error) {
	resp, err := b.c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxPage))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", req.Method, resp.Request.URL, err)
	}
	pg := &page{url: resp.Request.URL, final: resp.Request.URL, body: string(data)}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		loc, err := resp.Location()
		if err != nil {
			return nil, fmt.Errorf("redirect without Location from %s", resp.Request.URL)
		}
		pg.final = loc
		return pg, nil
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s: %s: %.300s", req.Method, resp.Request.URL, resp.Status, data)
	}
	if strings.Contains(resp.Header.Get("Content-Type"), "html") {
		pg.doc, err = html.Parse(strings.NewReader(pg.body))
		if err != nil {
			return nil, fmt.Errorf("page %s: %w", pg.url, err)
		}
	}
	return pg, nil
}

// form is an HTML form ready to submit.
type form struct {
	action *url.URL
	method string
	fields url.Values
}

// formWith returns the first form with a field named name, its fields
// holding the values the page gives them.
func (pg *page) formWith(name string) (form, bool) {
	if pg.doc == nil {
		return form{}, false
	}
	for n := range pg.doc.Descendants() {
		if n.Type != html.ElementNode || n.Data != "form" {
			continue
		}
		f := form{method: http.MethodGet, fields: url.Values{}}
		if strings.EqualFold(attr(n, "method"), "post") {
			f.method = http.MethodPost
		}
		action, err := pg.url.Parse(attr(n, "action"))
		if err != nil {
			continue
		}
		f.action = action
		has := false
		for in := range n.Descendants() {
			if in.Type != html.ElementNode || (in.Data != "input" && in.Data != "textarea" && in.Data != "select") {
				continue
			}
			if k := attr(in, "name"); k != "" {
				f.fields.Set(k, attr(in, "value"))
				has = has || k == name
			}
		}
		if has {
			return f, true
		}
	}
	return form{}, false
}

var onclickHref = regexp.MustCompile(`location\.href\s*=\s*'([^']*)'`)

// button returns where clicking the button labelled label leads (a
// button whose onclick sets location.href).
func (pg *page) button(label string) (*url.URL, bool) {
	if pg.doc == nil {
		return nil, false
	}
	for n := range pg.doc.Descendants() {
		if n.Type != html.ElementNode || n.Data != "button" || strings.TrimSpace(textOf(n)) != label {
			continue
		}
		m := onclickHref.FindStringSubmatch(attr(n, "onclick"))
		if m == nil {
			continue
		}
		u, err := pg.url.Parse(m[1])
		if err != nil {
			return nil, false
		}
		return u, true
	}
	return nil, false
}

// text is the page's visible text, for error messages.
func (pg *page) text() string {
	if pg.doc == nil {
		return fmt.Sprintf("%.300s", pg.body)
	}
	return fmt.Sprintf("%.300s", strings.Join(strings.Fields(textOf(pg.doc)), " "))
}

func textOf(n *html.Node) string {
	var sb strings.Builder
	for d := range n.Descendants() {
		if d.Type == html.TextNode && (d.Parent == nil || (d.Parent.Data != "style" && d.Parent.Data != "script")) {
			sb.WriteString(d.Data)
			sb.WriteByte(' ')
		}
	}
	return sb.String()
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func randomString() string {
	var b [32]byte
	rand.Read(b[:]) // never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}
