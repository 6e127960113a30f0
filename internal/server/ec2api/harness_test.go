package ec2api

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go"

	"github.com/postern/postern/internal/server/api"
	"github.com/postern/postern/internal/server/endpoints"
	"github.com/postern/postern/internal/server/identity"
	"github.com/postern/postern/internal/server/sealer"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/store/sqlstore"
	"github.com/postern/postern/internal/testutil/testclock"
	"github.com/postern/postern/internal/wire/awsid"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// Fixed identity of the test installation.
const (
	testAccount = "123456789012"
	testRegion  = "us-east-1"
	testDNSName = "eice.postern.test"
)

// startTime is the fixed clock of the service under test (the SigV4
// verifier uses the real clock, since the SDK signs with it).
var startTime = time.Date(2026, 11, 22, 11, 46, 33, 18_000_000, time.UTC)

// seqIDs makes deterministic ids: prefix-00000000000000001, …
type seqIDs struct {
	mu sync.Mutex // guards n
	n  int
}

func (s *seqIDs) Next(prefix string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	return fmt.Sprintf("%s-%017x", prefix, s.n)
}

// exchange is one recorded HTTP round trip.
type exchange struct {
	action string
	status int
	body   string
}

// recorder is an http.RoundTripper that keeps every response body (when
// keep is set), and hands net/http request bodies without io.WriterTo.
//
// Why the latter: the SDK's request body (smithy-go's closer) answers
// io.EOF from WriteTo once the SDK has closed it, which it does as soon as
// the response's headers are in; net/http reads the body once more after
// its Content-Length bytes, through WriteTo when there is one, and took
// that EOF for a write error and closed the connection under the response
// being read ("use of closed network connection": the in-process bench
// hit it, see benchClient and sdkreq.BodyWithoutWriteTo, which Postern's
// own clients add). With keep set the recorder sends a copy of the body,
// which never closes early; without it, every client of the harness, not
// only those that add the SDK option, must be safe too.
type recorder struct {
	next http.RoundTripper
	mu   sync.Mutex // guards log
	log  []exchange
	keep bool
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	action := ""
	if req.Body != nil && r.keep {
		raw, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(raw))
		if form, err := url.ParseQuery(string(raw)); err == nil {
			action = form.Get("Action")
		}
	}
	if _, wt := req.Body.(io.WriterTo); wt && !r.keep {
		req.Body = struct{ io.ReadCloser }{req.Body}
	}
	resp, err := r.next.RoundTrip(req)
	if err != nil || !r.keep {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	r.mu.Lock()
	r.log = append(r.log, exchange{action: action, status: resp.StatusCode, body: string(body)})
	r.mu.Unlock()
	return resp, nil
}

// last returns the last recorded exchange.
func (r *recorder) last(t testing.TB) exchange {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.log) == 0 {
		t.Fatal("no exchange recorded")
	}
	return r.log[len(r.log)-1]
}

// creds are an access key pair.
type creds struct{ akid, secret string }

// harness is an in-process Postern API server with the EC2 service, over
// the SQLite store, reached through TLS by the real AWS SDK client.
type harness struct {
	t      testing.TB
	st     store.Store
	sealer *sealer.Sealer
	clock  *testclock.Clock
	ids    *seqIDs
	url    string
	hc     *http.Client
	rec    *recorder
	admin  creds
	ec2    *ec2.Client // as admin
	hooks  *endpoints.Endpoints
	fake   bool   // the EC2 repositories are the in-memory stand-in
	caPEM  []byte // the TLS server's certificate, PEM
}

type harnessOption func(*Config)

// withQuotas sets the endpoint quotas.
func withQuotas(perVPC, perSubnet int) harnessOption {
	return func(c *Config) { c.EndpointsPerVPC, c.EndpointsPerSubnet = perVPC, perSubnet }
}

func newHarness(t testing.TB, opts ...harnessOption) *harness {
	t.Helper()
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	sql, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "postern.db"), logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sql.Close() })
	h := &harness{t: t, st: sql, clock: testclock.New(startTime), ids: &seqIDs{}}
	key := make([]byte, sealer.KeySize)
	rand.Read(key)
	if h.sealer, err = sealer.New(key); err != nil {
		t.Fatal(err)
	}
	h.admin = h.createUser("admin", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`)

	cfg := Config{Store: h.st, AccountID: testAccount, Region: testRegion, DNSName: testDNSName, Now: h.clock.Now, IDs: h.ids.Next}
	for _, o := range opts {
		o(&cfg)
	}
	svc, err := NewEC2(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if h.hooks, err = endpoints.New(endpoints.Config{Store: cfg.Store, Now: cfg.Now, IDs: cfg.IDs}); err != nil {
		t.Fatal(err)
	}
	authn, err := identity.NewAuthenticator(identity.AuthConfig{Store: h.st, Sealer: h.sealer, AccountID: testAccount, Region: testRegion})
	if err != nil {
		t.Fatal(err)
	}
	disp, err := api.New(api.Config{Authenticator: authn, Authorizer: identity.NewAuthorizer(h.st, nil), Logger: logger, Services: []*api.Service{svc}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /{$}", disp)
	mux.Handle("GET /{$}", disp)
	srv := httptest.NewTLSServer(mux)
	t.Cleanup(srv.Close)
	h.url = srv.URL
	h.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	base := srv.Client().Transport.(*http.Transport).Clone()
	base.MaxIdleConnsPerHost = 64
	h.rec = &recorder{next: base, keep: true}
	h.hc = &http.Client{Transport: h.rec}
	h.ec2 = h.client(h.admin)
	return h
}

// createUser makes an IAM user with an inline policy and an access key,
// directly in the store.
func (h *harness) createUser(name, policy string) creds {
	h.t.Helper()
	ctx := context.Background()
	u := store.User{UserID: awsid.Unique(awsid.PrefixUser), UserName: name, Path: "/",
		ARN: "arn:aws:iam::" + testAccount + ":user/" + name, CreateDate: time.Now().UTC()}
	if err := h.st.CreateUser(ctx, u); err != nil {
		h.t.Fatal(err)
	}
	h.putPolicy(name, "main", policy)
	c := creds{akid: awsid.AccessKeyID(awsid.PrefixAccessKey), secret: awsid.SecretAccessKey()}
	sealed, err := h.sealer.Seal([]byte(c.secret), []byte(c.akid))
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.st.CreateAccessKey(ctx, store.AccessKey{AccessKeyID: c.akid, UserName: name, SecretSealed: sealed, Status: store.KeyActive, CreateDate: time.Now().UTC()}); err != nil {
		h.t.Fatal(err)
	}
	return c
}

// putPolicy sets a user's inline policy.
func (h *harness) putPolicy(user, name, doc string) {
	h.t.Helper()
	p := store.InlinePolicy{Owner: store.PrincipalRef{Kind: store.KindUser, Name: user}, PolicyName: name, Document: doc}
	if err := h.st.PutInlinePolicy(context.Background(), p); err != nil {
		h.t.Fatal(err)
	}
}

// client returns an SDK EC2 client signing with c.
func (h *harness) client(c creds) *ec2.Client {
	cfg := aws.Config{
		Region:      testRegion,
		Credentials: credentials.NewStaticCredentialsProvider(c.akid, c.secret, ""),
		HTTPClient:  h.hc,
		Retryer:     func() aws.Retryer { return aws.NopRetryer{} },
	}
	return ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.BaseEndpoint = aws.String(h.url) })
}

// raw sends a signed Query request (for Postern's own actions, which the
// SDK does not have) and returns the status and body.
func (h *harness) raw(c creds, params url.Values) (int, string) {
	h.t.Helper()
	params.Set("Version", APIVersion)
	body := params.Encode()
	req, err := http.NewRequest(http.MethodPost, h.url+"/", strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	sum := sha256.Sum256([]byte(body))
	signer := v4.NewSigner()
	if err := signer.SignHTTP(context.Background(), aws.Credentials{AccessKeyID: c.akid, SecretAccessKey: c.secret},
		req, hex.EncodeToString(sum[:]), SigningName, testRegion, time.Now()); err != nil {
		h.t.Fatal(err)
	}
	resp, err := h.hc.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// rawOK sends a raw request that must succeed and decodes its XML into out.
func (h *harness) rawOK(c creds, params url.Values, out any) string {
	h.t.Helper()
	status, body := h.raw(c, params)
	if status != http.StatusOK {
		h.t.Fatalf("%s: HTTP %d\n%s", params.Get("Action"), status, body)
	}
	if out != nil {
		if err := xml.Unmarshal([]byte(body), out); err != nil {
			h.t.Fatalf("decode %s: %v\n%s", params.Get("Action"), err, body)
		}
	}
	return body
}

// apiCode returns the AWS error code of an SDK error ("" for nil).
func apiCode(err error) string {
	if err == nil {
		return ""
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return "not an API error: " + err.Error()
}

// wantCode fails unless err is an SDK APIError with code.
func wantCode(t testing.TB, err error, code string) {
	t.Helper()
	if got := apiCode(err); got != code {
		t.Fatalf("error code = %q, want %q (err: %v)", got, code, err)
	}
}

// rawCode extracts <Code> from an EC2 error body.
func rawCode(body string) string {
	var e struct {
		Errors struct {
			Error struct {
				Code string `xml:"Code"`
			} `xml:"Error"`
		} `xml:"Errors"`
	}
	if err := xml.Unmarshal([]byte(body), &e); err != nil {
		return ""
	}
	return e.Errors.Error.Code
}

var requestIDRe = regexp.MustCompile(`<(requestId|RequestID)>[^<]*</(requestId|RequestID)>`)

// golden compares the body of the last response with testdata/name.xml
// (request ids normalized); -update rewrites the file.
func (h *harness) golden(name string) {
	h.t.Helper()
	ex := h.rec.last(h.t)
	got := requestIDRe.ReplaceAllString(ex.body, "<$1>00000000-0000-0000-0000-000000000000</$2>")
	got = fmt.Sprintf("<!-- %s HTTP %d -->\n%s", ex.action, ex.status, got)
	path := filepath.Join("testdata", name+".xml")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			h.t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		h.t.Fatalf("golden file %s: %v (run with -update to create it)", path, err)
	}
	if string(want) != got {
		h.t.Errorf("response differs from %s (run with -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// snapshot renders every EC2 record of the store, to compare before and
// after a failed request.
func (h *harness) snapshot() string {
	h.t.Helper()
	ctx := context.Background()
	var b strings.Builder
	must := func(v any, err error) {
		if err != nil {
			h.t.Fatal(err)
		}
		fmt.Fprintf(&b, "%+v\n", v)
	}
	must(h.st.ListVpcs(ctx))
	must(h.st.ListSubnets(ctx, ""))
	must(h.st.ListSecurityGroups(ctx, ""))
	must(h.st.ListSecurityGroupRules(ctx, nil))
	must(h.st.ListInstances(ctx))
	must(h.st.ListEndpoints(ctx))
	tags, err := h.st.ListTags(ctx, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%+v\n", k, tags[k])
	}
	v, err := h.st.GetSetting(ctx, settingServiceLinkedRole)
	fmt.Fprintf(&b, "slr=%q %v\n", v, errors.Is(err, store.ErrNotFound))
	return b.String()
}

func xmlUnmarshal(s string, v any) error { return xml.Unmarshal([]byte(s), v) }
