package iamapi

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/postern/postern/internal/api"
	"github.com/postern/postern/internal/identity"
	"github.com/postern/postern/internal/sealer"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/store/sqlstore"
)

const testAccount = "123456789012"

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is an in-process IAM/STS server over a real SQLite store, reached
// with the real AWS SDK for Go v2 clients.
type env struct {
	t     *testing.T
	store store.Store
	srv   *httptest.Server
	clock *clock
	admin aws.Config
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "t.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	key := make([]byte, sealer.KeySize)
	rand.Read(key)
	seal, err := sealer.New(key)
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Now().UTC()}
	authn, err := identity.NewAuthenticator(identity.AuthConfig{Store: st, Sealer: seal, AccountID: testAccount, Region: "us-east-1", Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	authz := identity.NewAuthorizer(st, clk.Now)
	cfg := Config{Store: st, Sealer: seal, Authorizer: authz, AccountID: testAccount, Now: clk.Now}
	iamSvc, err := NewIAM(cfg)
	if err != nil {
		t.Fatal(err)
	}
	stsSvc, err := NewSTS(cfg)
	if err != nil {
		t.Fatal(err)
	}
	d, err := api.New(api.Config{Authenticator: authn, Authorizer: authz, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Services: []*api.Service{iamSvc, stsSvc}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(d)
	t.Cleanup(srv.Close)
	res, err := Bootstrap(ctx, cfg, "admin")
	if err != nil || !res.Created {
		t.Fatalf("bootstrap: %+v %v", res, err)
	}
	again, err := Bootstrap(ctx, cfg, "admin")
	if err != nil || again.Created {
		t.Fatalf("second bootstrap: %+v %v", again, err)
	}
	e := &env{t: t, store: st, srv: srv, clock: clk}
	e.admin = e.config(res.AccessKeyID, res.SecretAccessKey, "")
	return e
}

func (e *env) config(akid, secret, token string) aws.Config {
	return aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider(akid, secret, token),
		HTTPClient:  e.srv.Client(),
		// The SDK signs with the real clock; the server's clock starts there.
		RetryMaxAttempts: 1,
	}
}

func (e *env) iam(cfg aws.Config) *iam.Client {
	return iam.NewFromConfig(cfg, func(o *iam.Options) { o.BaseEndpoint = aws.String(e.srv.URL) })
}

func (e *env) sts(cfg aws.Config) *sts.Client {
	return sts.NewFromConfig(cfg, func(o *sts.Options) { o.BaseEndpoint = aws.String(e.srv.URL) })
}

func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	if err != nil {
		return "non-API error: " + err.Error()
	}
	return ""
}
