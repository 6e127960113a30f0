package api_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/postern/postern/internal/server/api"
	"github.com/postern/postern/internal/server/audit"
	"github.com/postern/postern/internal/server/ctapi"
	"github.com/postern/postern/internal/server/ec2api"
	"github.com/postern/postern/internal/server/iamapi"
	"github.com/postern/postern/internal/server/identity"
	"github.com/postern/postern/internal/server/metrics"
	"github.com/postern/postern/internal/server/sealer"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/testutil/sqlitetest"
)

// The installation every edge under test is.
const edgeAccount, edgeRegion = "123456789012", "us-east-1"

// edge is a dispatcher on a real store, served over HTTP, with the
// bootstrap administrator's key.
type edge struct {
	url   string
	admin aws.Credentials
	st    store.Store
	d     *api.Dispatcher
}

// edgeOptions vary what startEdge builds; the zero value serves IAM, STS,
// EC2 and CloudTrail (JSON) on a new SQLite store, calls not recorded.
type edgeOptions struct {
	// store is the store served; nil for a new SQLite store (closed when
	// the test ends).
	store store.Store
	// maxBody is the dispatcher's body limit; 0 for its default.
	maxBody int64
	// audited records every call through an audit.Writer on the store.
	audited bool
	// services picks what is served from the parts startEdge built; nil
	// for IAM, STS, EC2 and CloudTrail.
	services func(p edgeParts) []*api.Service
	// metrics counts calls as the server does.
	metrics bool
}

// edgeParts are what startEdge built before the dispatcher.
type edgeParts struct {
	st                        store.Store
	audit                     *audit.Writer // nil unless audited
	iam, sts, ec2, cloudTrail *api.Service
}

func startEdge(t testing.TB, o edgeOptions) edge {
	t.Helper()
	ctx := context.Background()
	st := o.store
	if st == nil {
		st = sqlitetest.Open(t)
	}
	key := make([]byte, sealer.KeySize)
	rand.Read(key)
	seal, err := sealer.New(key)
	if err != nil {
		t.Fatal(err)
	}
	authn, err := identity.NewAuthenticator(identity.AuthConfig{Store: st, Sealer: seal, AccountID: edgeAccount, Region: edgeRegion})
	if err != nil {
		t.Fatal(err)
	}
	authz := identity.NewAuthorizer(st, nil)
	cfg := iamapi.Config{Store: st, Sealer: seal, Authorizer: authz, AccountID: edgeAccount}
	p := edgeParts{st: st, cloudTrail: ctapi.New(st)}
	if p.iam, err = iamapi.NewIAM(cfg); err != nil {
		t.Fatal(err)
	}
	if p.sts, err = iamapi.NewSTS(cfg); err != nil {
		t.Fatal(err)
	}
	if p.ec2, err = ec2api.NewEC2(ec2api.Config{Store: st, AccountID: edgeAccount, Region: edgeRegion, DNSName: "localhost"}); err != nil {
		t.Fatal(err)
	}
	dcfg := api.Config{Authenticator: authn, Authorizer: authz, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), MaxBody: o.maxBody}
	if o.audited {
		p.audit = audit.NewWriter(st, nil)
		dcfg.Audit, dcfg.AccountID, dcfg.Region = p.audit, edgeAccount, edgeRegion
	}
	if o.metrics {
		dcfg.Metrics = metrics.New()
	}
	dcfg.Services = []*api.Service{p.iam, p.sts, p.ec2, p.cloudTrail}
	if o.services != nil {
		dcfg.Services = o.services(p)
	}
	d, err := api.New(dcfg)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := iamapi.Bootstrap(ctx, cfg, "admin")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(d)
	t.Cleanup(srv.Close)
	return edge{url: srv.URL, admin: aws.Credentials{AccessKeyID: admin.AccessKeyID, SecretAccessKey: admin.SecretAccessKey}, st: st, d: d}
}

// send sends req and returns the answer with its whole body (closed).
func send(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("read the answer: %v", err)
	}
	return resp, body
}

// signed is a request signed with the administrator's key; see signedAs.
func (e edge) signed(t testing.TB, service, query, body, payloadHash string, header map[string]string) *http.Request {
	t.Helper()
	return e.signedAs(t, e.admin, service, query, body, payloadHash, header)
}

// signedAs is a POST signed with creds in the Authorization header over
// payloadHash ("" for the body's SHA-256); a form unless service is
// CloudTrail's, and header is set before signing.
func (e edge) signedAs(t testing.TB, creds aws.Credentials, service, query, body, payloadHash string, header map[string]string) *http.Request {
	t.Helper()
	u := e.url + "/"
	if query != "" {
		u += "?" + query
	}
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if service == ctapi.SigningName {
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if payloadHash == "" {
		sum := sha256.Sum256([]byte(body))
		payloadHash = hex.EncodeToString(sum[:])
	}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, payloadHash, service, edgeRegion, time.Now()); err != nil {
		t.Fatal(err)
	}
	return req
}
