package iamapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/postern/postern/internal/server/api"
	"github.com/postern/postern/internal/server/identity"
	"github.com/postern/postern/internal/server/policy"
	"github.com/postern/postern/internal/server/sealer"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/store/sqlstore"
	"github.com/postern/postern/internal/testutil/sqlitetest"
	"github.com/postern/postern/internal/testutil/testclock"
	"github.com/postern/postern/internal/wire/awsid"
)

// ---- harness ----

// testAccount is the account of every test server.
const testAccount = "123456789012"

// ctx is the context of every test request.
var ctx = context.Background()

// ids is an injectable Config.NewID: random ids, except for the fixed ones
// queued with next.
type ids struct {
	mu    sync.Mutex
	fixed []string
}

// NewID returns the next queued id, or a random one.
func (g *ids) NewID(prefix string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.fixed) > 0 {
		id := g.fixed[0]
		g.fixed = g.fixed[1:]
		return id
	}
	return awsid.Unique(prefix)
}

// next queues fixed ids for the next creates.
func (g *ids) next(id ...string) {
	g.mu.Lock()
	g.fixed = append(g.fixed, id...)
	g.mu.Unlock()
}

// recorder is an http.RoundTripper that keeps the last response body.
type recorder struct {
	base http.RoundTripper
	mu   sync.Mutex
	body []byte
	id   string
}

// RoundTrip forwards the request and records the response.
func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	r.mu.Lock()
	r.body, r.id = body, resp.Header.Get("x-amzn-RequestId")
	r.mu.Unlock()
	return resp, nil
}

// last returns the last response body and its request id.
func (r *recorder) last() (string, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return string(r.body), r.id
}

// env is an in-process IAM/STS server over a real SQLite store, reached
// with the real AWS SDK for Go v2 clients over TLS.
type env struct {
	t      *testing.T
	store  store.Store
	sealer *sealer.Sealer
	srv    *httptest.Server
	rec    *recorder
	clock  *testclock.Clock // the server's clock (authentication and the services)
	ids    *ids
	cfg    Config
	logs   *logBuffer // everything the server logged
	admin  aws.Config
}

// envOption adjusts a test environment.
type envOption func(*envSettings)

// envSettings are what envOptions set.
type envSettings struct {
	serviceNow func() time.Time // the services' clock, when not the authenticator's
	// serviceStore wraps the store the IAM and STS services use (the
	// authenticator and authorizer keep the plain one).
	serviceStore func(store.Store) store.Store
}

// withServiceClock gives the IAM and STS services their own clock (the
// authenticator keeps the real one, which the SDK signs with).
func withServiceClock(now func() time.Time) envOption {
	return func(s *envSettings) { s.serviceNow = now }
}

// newStore opens a SQLite store in a temporary directory, closed when the
// test ends, and a sealer with a random key.
func newStore(t *testing.T) (*sqlstore.Store, *sealer.Sealer) {
	t.Helper()
	st := sqlitetest.Open(t)
	key := make([]byte, sealer.KeySize)
	rand.Read(key)
	seal, err := sealer.New(key)
	if err != nil {
		t.Fatal(err)
	}
	return st, seal
}

// newEnv starts a server with a bootstrapped administrator.
func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	var set envSettings
	for _, o := range opts {
		o(&set)
	}
	st, seal := newStore(t)
	clk := testclock.New(time.Now().UTC())
	authn, err := identity.NewAuthenticator(identity.AuthConfig{Store: st, Sealer: seal, AccountID: testAccount, Region: "us-east-1", Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	authz := identity.NewAuthorizer(st, clk.Now)
	gen := &ids{}
	cfg := Config{Store: st, Sealer: seal, Authorizer: authz, AccountID: testAccount, Now: clk.Now, NewID: gen.NewID}
	if set.serviceNow != nil {
		cfg.Now = set.serviceNow
	}
	if set.serviceStore != nil {
		cfg.Store = set.serviceStore(st)
	}
	iamSvc, err := NewIAM(cfg)
	if err != nil {
		t.Fatal(err)
	}
	stsSvc, err := NewSTS(cfg)
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	var logOut io.Writer = logs
	if testing.Verbose() {
		logOut = io.MultiWriter(logs, testWriter{t})
	}
	logger := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: slog.LevelDebug}))
	d, err := api.New(api.Config{Authenticator: authn, Authorizer: authz, Logger: logger, Services: []*api.Service{iamSvc, stsSvc}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(d)
	t.Cleanup(srv.Close)
	res, err := Bootstrap(ctx, cfg, "admin")
	if err != nil || !res.Created || res.SecretAccessKey == "" {
		t.Fatalf("bootstrap: %+v %v", res, err)
	}
	e := &env{t: t, store: st, sealer: seal, srv: srv, clock: clk, ids: gen, cfg: cfg, logs: logs,
		rec: &recorder{base: srv.Client().Transport}}
	e.admin = e.config(res.AccessKeyID, res.SecretAccessKey, "")
	return e
}

// testWriter sends log lines to t.Log (with -v).
type testWriter struct{ t *testing.T }

// logBuffer keeps every log line of a test server.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String returns everything logged.
func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Write logs one line.
func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// config is an SDK configuration for the given credentials.
func (e *env) config(akid, secret, token string) aws.Config {
	return aws.Config{
		Region:           "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider(akid, secret, token),
		HTTPClient:       &http.Client{Transport: e.rec},
		RetryMaxAttempts: 1,
	}
}

// iam returns an IAM client.
func (e *env) iam(cfg aws.Config) *iam.Client {
	return iam.NewFromConfig(cfg, func(o *iam.Options) { o.BaseEndpoint = aws.String(e.srv.URL) })
}

// sts returns an STS client.
func (e *env) sts(cfg aws.Config) *sts.Client {
	return sts.NewFromConfig(cfg, func(o *sts.Options) { o.BaseEndpoint = aws.String(e.srv.URL) })
}

// user creates a user with an inline policy (when doc is not "") and an
// access key, and returns the SDK configuration of that key.
func (e *env) user(name, doc string) aws.Config {
	e.t.Helper()
	a := e.iam(e.admin)
	must(a.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(name)}))(e.t)
	if doc != "" {
		must(a.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String(name), PolicyName: aws.String("p"), PolicyDocument: aws.String(doc)}))(e.t)
	}
	k := must(a.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(name)}))(e.t)
	return e.config(*k.AccessKey.AccessKeyId, *k.AccessKey.SecretAccessKey, "")
}

// must fails the test when a call returned an error: must(c.Op(…))(t).
func must[T any](v T, err error) func(t *testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return v
	}
}

// apiError returns the AWS code, HTTP status and message of an SDK error.
func apiError(err error) (code string, status int, msg string) {
	if err == nil {
		return "", 0, ""
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return "non-API error: " + err.Error(), 0, ""
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	return ae.ErrorCode(), status, ae.ErrorMessage()
}

// wantErr checks an SDK error's code, status and (part of its) message.
func wantErr(t *testing.T, err error, code string, status int, msgPart string) {
	t.Helper()
	c, s, m := apiError(err)
	if c != code || s != status || !strings.Contains(m, msgPart) {
		t.Fatalf("got %s (%d) %q, want %s (%d) containing %q", c, s, m, code, status, msgPart)
	}
}

// doc builds a policy document from statements.
func doc(statements ...string) string {
	return `{"Version":"2012-10-17","Statement":[` + strings.Join(statements, ",") + `]}`
}

// allow is an Allow statement.
func allow(action, resource string) string {
	return `{"Effect":"Allow","Action":"` + action + `","Resource":"` + resource + `"}`
}

// trustOf is a trust policy allowing sts:AssumeRole to an AWS principal.
func trustOf(principal string) string {
	return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + principal + `"},"Action":"sts:AssumeRole"}]}`
}

const (
	userARN   = "arn:aws:iam::" + testAccount + ":user/"
	roleARNOf = "arn:aws:iam::" + testAccount + ":role/"
)

// snapshot describes everything the IAM store holds, for checks that a
// failed request changed nothing.
func (e *env) snapshot() string {
	e.t.Helper()
	var b strings.Builder
	check := func(err error) {
		if err != nil {
			e.t.Fatalf("snapshot: %v", err)
		}
	}
	owner := func(kind store.PrincipalKind, name string) {
		ref := store.PrincipalRef{Kind: kind, Name: name}
		inline, err := e.store.ListInlinePolicies(ctx, ref)
		check(err)
		for _, p := range inline {
			fmt.Fprintf(&b, " inline:%s=%q", p.PolicyName, p.Document)
		}
		attached, err := e.store.ListAttachedPolicies(ctx, ref)
		check(err)
		for _, p := range attached {
			fmt.Fprintf(&b, " attached:%s", p.ARN)
		}
		b.WriteString("\n")
	}
	users, err := e.store.ListUsers(ctx, "/")
	check(err)
	for _, u := range users {
		fmt.Fprintf(&b, "user %s %s %s %v", u.UserName, u.UserID, u.ARN, u.Tags)
		keys, err := e.store.ListAccessKeys(ctx, u.UserName)
		check(err)
		for _, k := range keys {
			fmt.Fprintf(&b, " key:%s:%s", k.AccessKeyID, k.Status)
		}
		groups, err := e.store.ListGroupsForUser(ctx, u.UserName)
		check(err)
		for _, g := range groups {
			fmt.Fprintf(&b, " in:%s", g.GroupName)
		}
		owner(store.KindUser, u.UserName)
	}
	groups, err := e.store.ListGroups(ctx, "/")
	check(err)
	for _, g := range groups {
		fmt.Fprintf(&b, "group %s %s", g.GroupName, g.ARN)
		owner(store.KindGroup, g.GroupName)
	}
	roles, err := e.store.ListRoles(ctx, "/")
	check(err)
	for _, r := range roles {
		fmt.Fprintf(&b, "role %s %s %q %d %v", r.RoleName, r.ARN, r.AssumeRolePolicyDocument, r.MaxSessionDuration, r.Tags)
		owner(store.KindRole, r.RoleName)
	}
	policies, err := e.store.ListManagedPolicies(ctx, "/")
	check(err)
	for _, p := range policies {
		fmt.Fprintf(&b, "policy %s %d %q\n", p.ARN, p.AttachmentCount, p.Document)
	}
	return b.String()
}

// ---- the foundation issue's scenario ----

// TestSelfOnlyPolicy: alice may only GetUser herself; everything else is
// AccessDenied; a group Deny beats her Allow; an inactive or deleted key
// stops working.
func TestSelfOnlyPolicy(t *testing.T) {
	e := newEnv(t)
	admin := e.iam(e.admin)
	must(admin.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("alice"), Tags: []iamtypes.Tag{{Key: aws.String("team"), Value: aws.String("ops")}}}))(t)
	must(admin.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("bob")}))(t)
	self := doc(allow("iam:GetUser", userARN+"${aws:username}"))
	must(admin.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("self"), PolicyDocument: aws.String(self)}))(t)
	key := must(admin.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("alice")}))(t)
	alice := e.iam(e.config(*key.AccessKey.AccessKeyId, *key.AccessKey.SecretAccessKey, ""))

	for _, in := range []*iam.GetUserInput{{UserName: aws.String("alice")}, {UserName: aws.String("ALICE")}, {}} {
		got := must(alice.GetUser(ctx, in))(t)
		if *got.User.UserName != "alice" || *got.User.Arn != userARN+"alice" || len(got.User.Tags) != 1 || got.User.CreateDate == nil {
			t.Fatalf("GetUser %v: %+v", in.UserName, got.User)
		}
	}
	denied := []struct {
		name     string
		call     func() error
		resource string
	}{
		{"GetUser bob", func() error { _, err := alice.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("bob")}); return err }, userARN + "bob"},
		{"GetUser nobody", func() error {
			_, err := alice.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("nobody")})
			return err
		}, userARN + "nobody"},
		{"ListUsers", func() error { _, err := alice.ListUsers(ctx, &iam.ListUsersInput{}); return err }, userARN},
		{"CreateUser", func() error {
			_, err := alice.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("eve")})
			return err
		}, userARN + "eve"},
		{"DeleteUser", func() error {
			_, err := alice.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String("bob")})
			return err
		}, userARN + "bob"},
		{"CreateAccessKey bob", func() error {
			_, err := alice.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("bob")})
			return err
		}, userARN + "bob"},
		{"CreateAccessKey self", func() error { _, err := alice.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{}); return err }, userARN + "alice"},
		{"PutUserPolicy self", func() error {
			_, err := alice.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("more"), PolicyDocument: aws.String(doc(allow("*", "*")))})
			return err
		}, userARN + "alice"},
		{"ListRoles", func() error { _, err := alice.ListRoles(ctx, &iam.ListRolesInput{}); return err }, roleARNOf},
	}
	for _, d := range denied {
		t.Run(d.name, func(t *testing.T) {
			wantErr(t, d.call(), "AccessDenied", http.StatusForbidden, "User: "+userARN+"alice is not authorized to perform: iam:")
			if _, _, msg := apiError(d.call()); !strings.Contains(msg, "on resource: "+d.resource+" because no identity-based policy allows") {
				t.Fatalf("message %q does not name %s", msg, d.resource)
			}
		})
	}

	// An explicit Deny in a group policy beats the Allow.
	must(admin.CreateGroup(ctx, &iam.CreateGroupInput{GroupName: aws.String("locked")}))(t)
	must(admin.AddUserToGroup(ctx, &iam.AddUserToGroupInput{GroupName: aws.String("locked"), UserName: aws.String("alice")}))(t)
	must(admin.PutGroupPolicy(ctx, &iam.PutGroupPolicyInput{GroupName: aws.String("locked"), PolicyName: aws.String("deny"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"iam:*","Resource":"*"}]}`)}))(t)
	_, err := alice.GetUser(ctx, &iam.GetUserInput{})
	wantErr(t, err, "AccessDenied", http.StatusForbidden, "with an explicit deny in an identity-based policy")
	must(admin.RemoveUserFromGroup(ctx, &iam.RemoveUserFromGroupInput{GroupName: aws.String("locked"), UserName: aws.String("alice")}))(t)
	must(alice.GetUser(ctx, &iam.GetUserInput{}))(t)

	// Deactivated and deleted keys stop working.
	must(admin.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: key.AccessKey.AccessKeyId, Status: iamtypes.StatusTypeInactive}))(t)
	_, err = alice.GetUser(ctx, &iam.GetUserInput{})
	wantErr(t, err, "InvalidClientTokenId", http.StatusForbidden, "security token")
	keys := must(admin.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("alice")}))(t)
	if len(keys.AccessKeyMetadata) != 1 || keys.AccessKeyMetadata[0].Status != iamtypes.StatusTypeInactive {
		t.Fatalf("keys after deactivation: %+v", keys.AccessKeyMetadata)
	}
	must(admin.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: key.AccessKey.AccessKeyId, Status: iamtypes.StatusTypeActive}))(t)
	must(alice.GetUser(ctx, &iam.GetUserInput{}))(t)
	must(admin.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: key.AccessKey.AccessKeyId}))(t)
	_, err = alice.GetUser(ctx, &iam.GetUserInput{})
	wantErr(t, err, "InvalidClientTokenId", http.StatusForbidden, "")
}

// ---- STS ----

// TestAssumeRole covers role sessions: trust by ARN and by account, the
// identity allow, explicit denies, the session's permissions, tokens,
// durations and expiry.
func TestAssumeRole(t *testing.T) {
	e := newEnv(t)
	// The server clock starts 10 minutes behind the SDK's, so that it can
	// move past a 15-minute session's end while staying within the
	// 15-minute signing skew.
	e.clock.Advance(-10 * time.Minute)
	admin := e.iam(e.admin)
	opsARN := roleARNOf + "ops"
	assume := doc(allow("sts:AssumeRole", opsARN))
	alice := e.user("alice", assume)
	carol := e.user("carol", assume) // allowed by her identity policy, not by the trust
	dave := e.user("dave", "")       // named by the trust, no identity policy
	erin := e.user("erin", doc(allow("sts:AssumeRole", opsARN), `{"Effect":"Deny","Action":"sts:AssumeRole","Resource":"*"}`))

	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["` + userARN + `alice","` + userARN + `dave","` + userARN + `erin"]},"Action":"sts:AssumeRole"}]}`
	role := must(admin.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("ops"), AssumeRolePolicyDocument: aws.String(trust)}))(t)
	if *role.Role.Arn != opsARN || !strings.HasPrefix(*role.Role.RoleId, "AROA") {
		t.Fatalf("role %+v", role.Role)
	}
	must(admin.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("ops"), PolicyName: aws.String("list"),
		PolicyDocument: aws.String(doc(allow("iam:ListUsers", "*")))}))(t)

	before := e.clock.Now()
	out := must(e.sts(alice).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(opsARN), RoleSessionName: aws.String("night-shift"), DurationSeconds: aws.Int32(900)}))(t)
	c := out.Credentials
	sessionARN := "arn:aws:sts::" + testAccount + ":assumed-role/ops/night-shift"
	if !strings.HasPrefix(*c.AccessKeyId, "ASIA") || len(*c.SecretAccessKey) != 40 || *c.SessionToken == "" ||
		*out.AssumedRoleUser.Arn != sessionARN || *out.AssumedRoleUser.AssumedRoleId != *role.Role.RoleId+":night-shift" {
		t.Fatalf("assume output %+v %+v", c, out.AssumedRoleUser)
	}
	if want := before.Add(900 * time.Second).Truncate(time.Second); !c.Expiration.Equal(want) {
		t.Fatalf("expiration %v, want %v", c.Expiration, want)
	}
	// The stored session: sealed secret, token hash, who and from where.
	s, err := e.store.GetSession(ctx, *c.AccessKeyId)
	if err != nil {
		t.Fatal(err)
	}
	secret, err := e.sealer.Open(s.SecretSealed, []byte(*c.AccessKeyId))
	if err != nil || string(secret) != *c.SecretAccessKey || !bytes.Equal(s.SessionTokenHash, identity.HashToken(*c.SessionToken)) ||
		s.SourceUserARN != userARN+"alice" || s.RoleID != *role.Role.RoleId || s.SessionName != "night-shift" || s.SourceIP == "" {
		t.Fatalf("stored session %+v (secret ok: %v)", s, err == nil && string(secret) == *c.SecretAccessKey)
	}

	session := e.config(*c.AccessKeyId, *c.SecretAccessKey, *c.SessionToken)
	who := must(e.sts(session).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}))(t)
	if *who.Arn != sessionARN || *who.UserId != *out.AssumedRoleUser.AssumedRoleId || *who.Account != testAccount {
		t.Errorf("caller identity %+v", who)
	}
	must(e.iam(session).ListUsers(ctx, &iam.ListUsersInput{}))(t)
	_, err = e.iam(session).CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("x")})
	wantErr(t, err, "AccessDenied", http.StatusForbidden, "User: "+sessionARN+" is not authorized to perform: iam:CreateUser")
	_, err = e.iam(session).GetUser(ctx, &iam.GetUserInput{})
	wantErr(t, err, "ValidationError", http.StatusBadRequest, "Must specify userName when calling with non-User credentials")
	_, err = e.sts(e.config(*c.AccessKeyId, *c.SecretAccessKey, "wrong")).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	wantErr(t, err, "InvalidClientTokenId", http.StatusForbidden, "")
	_, err = e.sts(e.config(*c.AccessKeyId, *c.SecretAccessKey, "")).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	wantErr(t, err, "InvalidClientTokenId", http.StatusForbidden, "")

	sessions := []struct {
		name    string
		caller  aws.Config
		in      sts.AssumeRoleInput
		code    string
		status  int
		message string
	}{
		{"trust names dave: no identity policy needed", dave, sts.AssumeRoleInput{RoleArn: aws.String(opsARN), RoleSessionName: aws.String("d1")}, "", 0, ""},
		{"carol outside the trust", carol, sts.AssumeRoleInput{RoleArn: aws.String(opsARN), RoleSessionName: aws.String("sneaky")},
			"AccessDenied", 403, "User: " + userARN + "carol is not authorized to perform: sts:AssumeRole on resource: " + opsARN},
		{"erin's identity Deny beats the trust", erin, sts.AssumeRoleInput{RoleArn: aws.String(opsARN), RoleSessionName: aws.String("e1")},
			"AccessDenied", 403, "explicit deny"},
		{"unknown role", alice, sts.AssumeRoleInput{RoleArn: aws.String(opsARN + "x"), RoleSessionName: aws.String("s2")}, "AccessDenied", 403, opsARN + "x"},
		{"role of another account", alice, sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::210987654321:role/ops"), RoleSessionName: aws.String("s2")}, "AccessDenied", 403, ""},
		{"wrong path", alice, sts.AssumeRoleInput{RoleArn: aws.String(roleARNOf + "team/ops"), RoleSessionName: aws.String("s2")}, "AccessDenied", 403, ""},
		{"not a role ARN", alice, sts.AssumeRoleInput{RoleArn: aws.String(userARN + "alice"), RoleSessionName: aws.String("s2")}, "ValidationError", 400, "not a valid role ARN"},
		{"one-letter session name", alice, sts.AssumeRoleInput{RoleArn: aws.String(opsARN), RoleSessionName: aws.String("s")}, "ValidationError", 400, "roleSessionName"},
		{"session name with a space", alice, sts.AssumeRoleInput{RoleArn: aws.String(opsARN), RoleSessionName: aws.String("a b")}, "ValidationError", 400, "roleSessionName"},
		{"too short", alice, sts.AssumeRoleInput{RoleArn: aws.String(opsARN), RoleSessionName: aws.String("s2"), DurationSeconds: aws.Int32(899)}, "ValidationError", 400, "greater than or equal to 900"},
		{"beyond the role's maximum", alice, sts.AssumeRoleInput{RoleArn: aws.String(opsARN), RoleSessionName: aws.String("s2"), DurationSeconds: aws.Int32(3601)},
			"ValidationError", 400, "exceeds the MaxSessionDuration set for this role"},
		{"session policy", alice, sts.AssumeRoleInput{RoleArn: aws.String(opsARN), RoleSessionName: aws.String("s2"), Policy: aws.String(doc(allow("*", "*")))},
			"ValidationError", 400, "does not support session policies (Policy)"},
		{"empty RoleArn", alice, sts.AssumeRoleInput{RoleArn: aws.String(""), RoleSessionName: aws.String("s2")}, "ValidationError", 400, "Value null at 'roleArn'"},
	}
	for _, tc := range sessions {
		t.Run(tc.name, func(t *testing.T) {
			before := e.snapshot()
			_, err := e.sts(tc.caller).AssumeRole(ctx, &tc.in)
			if tc.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantErr(t, err, tc.code, tc.status, tc.message)
			if after := e.snapshot(); after != before {
				t.Fatalf("store changed:\n%s\n%s", before, after)
			}
		})
	}

	// Role chaining: a session may assume a role that trusts its role,
	// for at most an hour.
	must(admin.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("next"), MaxSessionDuration: aws.Int32(7200),
		AssumeRolePolicyDocument: aws.String(trustOf(opsARN))}))(t)
	must(admin.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("ops"), PolicyName: aws.String("chain"),
		PolicyDocument: aws.String(doc(allow("sts:AssumeRole", roleARNOf+"next")))}))(t)
	_, err = e.sts(session).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(roleARNOf + "next"), RoleSessionName: aws.String("c1"), DurationSeconds: aws.Int32(3700)})
	wantErr(t, err, "ValidationError", 400, "1 hour session limit for roles assumed by role chaining")
	chained := must(e.sts(session).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(roleARNOf + "next"), RoleSessionName: aws.String("c1")}))(t)
	if *chained.AssumedRoleUser.Arn != "arn:aws:sts::"+testAccount+":assumed-role/next/c1" {
		t.Fatalf("chained %+v", chained.AssumedRoleUser)
	}

	// Secrets and tokens are never logged; the new credentials are.
	logs := e.logs.String()
	for _, secret := range []string{*c.SecretAccessKey, *c.SessionToken, *chained.Credentials.SecretAccessKey, *chained.Credentials.SessionToken} {
		if strings.Contains(logs, secret) {
			t.Fatalf("a secret was logged:\n%s", logs)
		}
	}
	if !strings.Contains(logs, "role assumed") || !strings.Contains(logs, *c.AccessKeyId) {
		t.Fatalf("no audit line for the session:\n%s", logs)
	}

	// The session ends at its expiration.
	e.clock.Advance(16 * time.Minute)
	_, err = e.sts(session).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	wantErr(t, err, "ExpiredToken", http.StatusBadRequest, "expired")
}

// TestAssumeRoleAccountTrust: a trust policy that names the account (its
// id or :root) needs the caller's identity policy to allow sts:AssumeRole;
// conditions on sts:ExternalId apply.
func TestAssumeRoleAccountTrust(t *testing.T) {
	e := newEnv(t)
	admin := e.iam(e.admin)
	for _, tc := range []struct{ role, principal string }{{"by-id", testAccount}, {"by-root", "arn:aws:iam::" + testAccount + ":root"}} {
		must(admin.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(tc.role), AssumeRolePolicyDocument: aws.String(trustOf(tc.principal))}))(t)
	}
	must(admin.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("external"), AssumeRolePolicyDocument: aws.String(
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + testAccount + `"},"Action":"sts:AssumeRole",
		  "Condition":{"StringEquals":{"sts:ExternalId":"s3cret-id"}}}]}`)}))(t)
	allowed := e.user("allowed", doc(allow("sts:AssumeRole", roleARNOf+"*")))
	plain := e.user("plain", doc(allow("iam:GetUser", "*")))
	// "mixed" names plain, but only with an external id; otherwise it
	// trusts the account, which needs the identity's allow.
	must(admin.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("mixed"), AssumeRolePolicyDocument: aws.String(
		`{"Version":"2012-10-17","Statement":[
		  {"Effect":"Allow","Principal":{"AWS":"` + userARN + `plain"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"named-id"}}},
		  {"Effect":"Allow","Principal":{"AWS":"` + testAccount + `"},"Action":"sts:AssumeRole"}]}`)}))(t)
	tests := []struct {
		name   string
		caller aws.Config
		role   string
		extID  *string
		code   string
	}{
		{"identity allow + account id", allowed, "by-id", nil, ""},
		{"identity allow + root", allowed, "by-root", nil, ""},
		{"no identity allow + account id", plain, "by-id", nil, "AccessDenied"},
		{"no identity allow + root", plain, "by-root", nil, "AccessDenied"},
		{"external id matches", allowed, "external", aws.String("s3cret-id"), ""},
		{"external id wrong", allowed, "external", aws.String("guess-id"), "AccessDenied"},
		{"external id missing", allowed, "external", nil, "AccessDenied"},
		{"admin via AdministratorAccess", e.admin, "by-root", nil, ""},
		{"named only under a condition that fails", plain, "mixed", nil, "AccessDenied"},
		{"named under a condition that holds", plain, "mixed", aws.String("named-id"), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := e.sts(tc.caller).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(roleARNOf + tc.role), RoleSessionName: aws.String("s-1"), ExternalId: tc.extID})
			if tc.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				if want := e.clock.Now().Add(time.Hour); out.Credentials.Expiration.Sub(want).Abs() > 2*time.Second {
					t.Fatalf("default duration: expiration %v, want about %v", out.Credentials.Expiration, want)
				}
				return
			}
			wantErr(t, err, tc.code, http.StatusForbidden, "sts:AssumeRole")
		})
	}
}

// TestSessionCap: Config.MaxSessionDuration caps what AssumeRole issues.
func TestSessionCap(t *testing.T) {
	e := newEnv(t)
	cfg := e.cfg
	cfg.MaxSessionDuration = 30 * time.Minute
	h := &handler{cfg: cfg}
	role := store.Role{MaxSessionDuration: 43200}
	c := &api.Call{Principal: &identity.Principal{Type: identity.TypeIAMUser}}
	if d, err := h.sessionSeconds(c, role, 3600, false); err != nil || d != 1800 {
		t.Fatalf("default under a 30-minute cap: %d %v", d, err)
	}
	if _, err := h.sessionSeconds(c, role, 3600, true); err == nil || !strings.Contains(err.Error(), "maximum session duration of 1800 seconds") {
		t.Fatalf("explicit hour under a 30-minute cap: %v", err)
	}
	if d, err := h.sessionSeconds(c, role, 1200, true); err != nil || d != 1200 {
		t.Fatalf("20 minutes: %d %v", d, err)
	}
}

// ---- errors ----

// TestErrors checks IAM's error codes, statuses and messages, and that a
// failed request leaves the store as it was.
func TestErrors(t *testing.T) {
	e := newEnv(t)
	admin := e.iam(e.admin)
	must(admin.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("dave")}))(t)
	must(admin.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("dave")}))(t)
	must(admin.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("dave")}))(t)
	must(admin.CreateGroup(ctx, &iam.CreateGroupInput{GroupName: aws.String("g")}))(t)
	must(admin.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("r"), AssumeRolePolicyDocument: aws.String(trustOf(testAccount))}))(t)
	s3 := doc(allow("s3:*", "*"))
	pol := must(admin.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("p"), PolicyDocument: aws.String(s3)}))(t)
	must(admin.AttachUserPolicy(ctx, &iam.AttachUserPolicyInput{UserName: aws.String("dave"), PolicyArn: pol.Policy.Arn}))(t)
	must(admin.PutGroupPolicy(ctx, &iam.PutGroupPolicyInput{GroupName: aws.String("g"), PolicyName: aws.String("big"), PolicyDocument: aws.String(
		doc(allow("s3:GetObject", "arn:aws:s3:::"+strings.Repeat("b", 4900))))}))(t)

	badDoc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"StringEqualz":{"aws:username":"x"}}}]}`
	_, perr := policy.Parse(badDoc, policy.IdentityPolicy)
	var pe *policy.ParseError
	if !errors.As(perr, &pe) {
		t.Fatalf("the parser accepts %s: %v", badDoc, perr)
	}
	long := func(n int) *string { return aws.String(strings.Repeat("a", n)) }
	tests := []struct {
		name    string
		call    func() error
		code    string
		status  int
		message string
	}{
		{"duplicate user (case-insensitive)", func() error {
			_, err := admin.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("DAVE")})
			return err
		}, "EntityAlreadyExists", 409, "User with name DAVE already exists."},
		{"duplicate group", func() error {
			_, err := admin.CreateGroup(ctx, &iam.CreateGroupInput{GroupName: aws.String("G")})
			return err
		}, "EntityAlreadyExists", 409, "Group with name G already exists."},
		{"duplicate role", func() error {
			_, err := admin.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("r"), AssumeRolePolicyDocument: aws.String(trustOf(testAccount))})
			return err
		}, "EntityAlreadyExists", 409, "Role with name r already exists."},
		{"duplicate policy", func() error {
			_, err := admin.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("p"), PolicyDocument: aws.String(s3)})
			return err
		}, "EntityAlreadyExists", 409, "A policy called p already exists."},
		{"user name with a space", func() error {
			_, err := admin.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("no spaces")})
			return err
		}, "ValidationError", 400, `Member must satisfy regular expression pattern: [\w+=,.@-]+`},
		{"user name of 65", func() error { _, err := admin.CreateUser(ctx, &iam.CreateUserInput{UserName: long(65)}); return err },
			"ValidationError", 400, "at 'userName' failed to satisfy constraint: Member must have length less than or equal to 64"},
		{"group name of 129", func() error {
			_, err := admin.CreateGroup(ctx, &iam.CreateGroupInput{GroupName: long(129)})
			return err
		},
			"ValidationError", 400, "less than or equal to 128"},
		{"role name of 65", func() error {
			_, err := admin.CreateRole(ctx, &iam.CreateRoleInput{RoleName: long(65), AssumeRolePolicyDocument: aws.String(trustOf(testAccount))})
			return err
		}, "ValidationError", 400, "less than or equal to 64"},
		{"policy name of 129", func() error {
			_, err := admin.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: long(129), PolicyDocument: aws.String(s3)})
			return err
		}, "ValidationError", 400, "at 'policyName'"},
		{"path without slashes", func() error {
			_, err := admin.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("x"), Path: aws.String("nopath")})
			return err
		}, "ValidationError", 400, "The specified value for path is invalid."},
		{"path //", func() error {
			_, err := admin.CreateGroup(ctx, &iam.CreateGroupInput{GroupName: aws.String("x"), Path: aws.String("//")})
			return err
		}, "ValidationError", 400, "path"},
		{"path of 513", func() error {
			_, err := admin.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("x"), Path: aws.String("/" + strings.Repeat("a", 511) + "/"), AssumeRolePolicyDocument: aws.String(trustOf(testAccount))})
			return err
		}, "ValidationError", 400, "less than or equal to 512"},
		{"missing user name", func() error {
			_, err := admin.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("")})
			return err
		},
			"ValidationError", 400, "1 validation error detected: Value null at 'userName' failed to satisfy constraint: Member must not be null"},
		{"missing policy document", func() error {
			_, err := admin.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("dave"), PolicyName: aws.String("x"), PolicyDocument: aws.String("")})
			return err
		}, "ValidationError", 400, "Value null at 'policyDocument'"},
		{"duplicate tag keys", func() error {
			_, err := admin.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("t"), Tags: []iamtypes.Tag{{Key: aws.String("k"), Value: aws.String("1")}, {Key: aws.String("K"), Value: aws.String("2")}}})
			return err
		}, "InvalidInput", 400, "Duplicate tag keys found."},
		{"tag key of 129", func() error {
			_, err := admin.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("t"), Tags: []iamtypes.Tag{{Key: long(129), Value: aws.String("1")}}})
			return err
		}, "ValidationError", 400, "tags.1.member.key"},
		{"third access key", func() error {
			_, err := admin.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("dave")})
			return err
		}, "LimitExceeded", 409, "Cannot exceed quota for AccessKeysPerUser: 2"},
		{"group inline quota", func() error {
			_, err := admin.PutGroupPolicy(ctx, &iam.PutGroupPolicyInput{GroupName: aws.String("g"), PolicyName: aws.String("more"),
				PolicyDocument: aws.String(doc(allow("s3:GetObject", "arn:aws:s3:::"+strings.Repeat("c", 300))))})
			return err
		}, "LimitExceeded", 409, "Maximum policy size of 5120 bytes exceeded for group g"},
		{"user inline quota", func() error {
			_, err := admin.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("dave"), PolicyName: aws.String("big"),
				PolicyDocument: aws.String(doc(allow("s3:GetObject", "arn:aws:s3:::"+strings.Repeat("c", 2000))))})
			return err
		}, "LimitExceeded", 409, "Maximum policy size of 2048 bytes exceeded for user dave"},
		{"managed policy quota", func() error {
			_, err := admin.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("huge"),
				PolicyDocument: aws.String(doc(allow("s3:GetObject", "arn:aws:s3:::"+strings.Repeat("c", 6100))))})
			return err
		}, "LimitExceeded", 409, "Cannot exceed quota for PolicySize: 6144"},
		{"malformed policy: parser's message", func() error {
			_, err := admin.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("dave"), PolicyName: aws.String("bad"), PolicyDocument: aws.String(badDoc)})
			return err
		}, "MalformedPolicyDocument", 400, pe.Msg},
		{"malformed policy: not JSON", func() error {
			_, err := admin.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("r"), PolicyName: aws.String("bad"), PolicyDocument: aws.String("{")})
			return err
		}, "MalformedPolicyDocument", 400, ""},
		{"identity policy with a principal", func() error {
			_, err := admin.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("q"), PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}]}`)})
			return err
		}, "MalformedPolicyDocument", 400, ""},
		{"trust policy without a principal", func() error {
			_, err := admin.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("r2"), AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole"}]}`)})
			return err
		}, "MalformedPolicyDocument", 400, ""},
		{"trust policy with a resource", func() error {
			_, err := admin.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("r2"), AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + testAccount + `"},"Action":"sts:AssumeRole","Resource":"*"}]}`)})
			return err
		}, "MalformedPolicyDocument", 400, "Has prohibited field Resource"},
		{"trust policy with an IAM action", func() error {
			_, err := admin.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String("r"), PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + testAccount + `"},"Action":"iam:GetUser"}]}`)})
			return err
		}, "MalformedPolicyDocument", 400, "AssumeRole policy may only specify STS AssumeRole actions."},
		{"session duration below 3600", func() error {
			_, err := admin.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("r3"), MaxSessionDuration: aws.Int32(60), AssumeRolePolicyDocument: aws.String(trustOf(testAccount))})
			return err
		}, "ValidationError", 400, "maxSessionDuration"},
		{"delete user with keys", func() error {
			_, err := admin.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String("dave")})
			return err
		},
			"DeleteConflict", 409, "Cannot delete entity, must delete access keys first."},
		{"delete attached policy", func() error {
			_, err := admin.DeletePolicy(ctx, &iam.DeletePolicyInput{PolicyArn: pol.Policy.Arn})
			return err
		},
			"DeleteConflict", 409, "Cannot delete a policy attached to entities."},
		{"delete group with a policy", func() error {
			_, err := admin.DeleteGroup(ctx, &iam.DeleteGroupInput{GroupName: aws.String("g")})
			return err
		},
			"DeleteConflict", 409, "Cannot delete entity, must delete policies first."},
		{"get unknown user", func() error {
			_, err := admin.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("nobody")})
			return err
		},
			"NoSuchEntity", 404, "The user with name nobody cannot be found."},
		{"unknown group", func() error {
			_, err := admin.GetGroup(ctx, &iam.GetGroupInput{GroupName: aws.String("nobody")})
			return err
		},
			"NoSuchEntity", 404, "The group with name nobody cannot be found."},
		{"unknown role", func() error {
			_, err := admin.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: aws.String("nobody")})
			return err
		},
			"NoSuchEntity", 404, "The role with name nobody cannot be found."},
		{"unknown inline policy", func() error {
			_, err := admin.GetUserPolicy(ctx, &iam.GetUserPolicyInput{UserName: aws.String("dave"), PolicyName: aws.String("none")})
			return err
		}, "NoSuchEntity", 404, "The user policy with name none cannot be found."},
		{"attach unknown policy", func() error {
			_, err := admin.AttachUserPolicy(ctx, &iam.AttachUserPolicyInput{UserName: aws.String("dave"), PolicyArn: aws.String("arn:aws:iam::" + testAccount + ":policy/none")})
			return err
		}, "NoSuchEntity", 404, "does not exist or is not attachable"},
		{"attach to unknown user", func() error {
			_, err := admin.AttachUserPolicy(ctx, &iam.AttachUserPolicyInput{UserName: aws.String("nobody"), PolicyArn: pol.Policy.Arn})
			return err
		}, "NoSuchEntity", 404, "The user with name nobody cannot be found."},
		{"detach not attached", func() error {
			_, err := admin.DetachUserPolicy(ctx, &iam.DetachUserPolicyInput{UserName: aws.String("dave"), PolicyArn: aws.String(AdministratorAccessARN)})
			return err
		}, "NoSuchEntity", 404, "was not found"},
		{"policy version 2", func() error {
			_, err := admin.GetPolicyVersion(ctx, &iam.GetPolicyVersionInput{PolicyArn: pol.Policy.Arn, VersionId: aws.String("v2")})
			return err
		}, "NoSuchEntity", 404, "version v2 does not exist"},
		{"malformed policy ARN", func() error {
			_, err := admin.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: aws.String("arn:aws:iam::123:nothing/else")})
			return err
		}, "InvalidInput", 400, "ARN arn:aws:iam::123:nothing/else is not valid."},
		{"delete an AWS managed policy", func() error {
			_, err := admin.DeletePolicy(ctx, &iam.DeletePolicyInput{PolicyArn: aws.String(AdministratorAccessARN)})
			return err
		}, "InvalidInput", 400, "AWS managed policy"},
		{"bad access key status", func() error {
			_, err := admin.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{AccessKeyId: aws.String("AKIAXXXXXXXXXXXXXXXX"), Status: "Sleeping"})
			return err
		}, "ValidationError", 400, "Member must satisfy enum value set: [Active, Inactive]"},
		{"unknown access key", func() error {
			_, err := admin.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{AccessKeyId: aws.String("AKIAXXXXXXXXXXXXXXXX")})
			return err
		}, "NoSuchEntity", 404, "The Access Key with id AKIAXXXXXXXXXXXXXXXX cannot be found."},
		{"another user's access key", func() error {
			keys := must(admin.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("dave")}))(t)
			_, err := admin.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{AccessKeyId: keys.AccessKeyMetadata[0].AccessKeyId, Status: iamtypes.StatusTypeInactive})
			return err
		}, "NoSuchEntity", 404, "cannot be found"},
		{"MaxItems 0", func() error { _, err := admin.ListUsers(ctx, &iam.ListUsersInput{MaxItems: aws.Int32(0)}); return err },
			"ValidationError", 400, "at 'maxItems' failed to satisfy constraint: Member must have value greater than or equal to 1"},
		{"bad marker", func() error {
			_, err := admin.ListUsers(ctx, &iam.ListUsersInput{Marker: aws.String("zzz")})
			return err
		},
			"ValidationError", 400, "Marker"},
		{"bad scope", func() error {
			_, err := admin.ListPolicies(ctx, &iam.ListPoliciesInput{Scope: "Everything"})
			return err
		},
			"ValidationError", 400, "enum value set: [All, AWS, Local]"},
		{"simulate without actions", func() error {
			_, err := admin.SimulatePrincipalPolicy(ctx, &iam.SimulatePrincipalPolicyInput{PolicySourceArn: aws.String(userARN + "dave"), ActionNames: []string{}})
			return err
		}, "ValidationError", 400, "actionNames"},
		{"simulate an unknown user", func() error {
			_, err := admin.SimulatePrincipalPolicy(ctx, &iam.SimulatePrincipalPolicyInput{PolicySourceArn: aws.String(userARN + "nobody"), ActionNames: []string{"s3:GetObject"}})
			return err
		}, "NoSuchEntity", 404, ""},
		{"simulate a bad input policy", func() error {
			_, err := admin.SimulatePrincipalPolicy(ctx, &iam.SimulatePrincipalPolicyInput{PolicySourceArn: aws.String(userARN + "dave"), ActionNames: []string{"s3:GetObject"}, PolicyInputList: []string{badDoc}})
			return err
		}, "MalformedPolicyDocument", 400, pe.Msg},
		{"unknown action", func() error {
			_, err := admin.GetAccountSummary(ctx, &iam.GetAccountSummaryInput{})
			return err
		}, "InvalidAction", 400, "GetAccountSummary"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := e.snapshot()
			wantErr(t, tc.call(), tc.code, tc.status, tc.message)
			if after := e.snapshot(); after != before {
				t.Fatalf("store changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// TestDeleteConflict walks each dependency that blocks a delete, removing
// them one by one.
func TestDeleteConflict(t *testing.T) {
	e := newEnv(t)
	a := e.iam(e.admin)
	must(a.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("u")}))(t)
	must(a.CreateGroup(ctx, &iam.CreateGroupInput{GroupName: aws.String("g")}))(t)
	must(a.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("r"), AssumeRolePolicyDocument: aws.String(trustOf(testAccount))}))(t)
	key := must(a.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("u")}))(t)
	p := doc(allow("s3:*", "*"))
	pol := must(a.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("m"), PolicyDocument: aws.String(p)}))(t)
	for _, in := range []*iam.PutUserPolicyInput{{UserName: aws.String("u"), PolicyName: aws.String("i"), PolicyDocument: aws.String(p)}} {
		must(a.PutUserPolicy(ctx, in))(t)
	}
	must(a.AttachUserPolicy(ctx, &iam.AttachUserPolicyInput{UserName: aws.String("u"), PolicyArn: pol.Policy.Arn}))(t)
	must(a.AddUserToGroup(ctx, &iam.AddUserToGroupInput{GroupName: aws.String("g"), UserName: aws.String("u")}))(t)
	must(a.AttachGroupPolicy(ctx, &iam.AttachGroupPolicyInput{GroupName: aws.String("g"), PolicyArn: pol.Policy.Arn}))(t)
	must(a.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("r"), PolicyName: aws.String("i"), PolicyDocument: aws.String(p)}))(t)
	must(a.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String("r"), PolicyArn: pol.Policy.Arn}))(t)

	delUser := func() error { _, err := a.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String("u")}); return err }
	delGroup := func() error {
		_, err := a.DeleteGroup(ctx, &iam.DeleteGroupInput{GroupName: aws.String("g")})
		return err
	}
	delRole := func() error { _, err := a.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: aws.String("r")}); return err }
	delPolicy := func() error {
		_, err := a.DeletePolicy(ctx, &iam.DeletePolicyInput{PolicyArn: pol.Policy.Arn})
		return err
	}
	steps := []struct {
		del    func() error
		reason string
		fix    func() error
	}{
		{delUser, "must delete access keys first", func() error {
			_, err := a.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String("u"), AccessKeyId: key.AccessKey.AccessKeyId})
			return err
		}},
		{delUser, "must delete policies first", func() error {
			_, err := a.DeleteUserPolicy(ctx, &iam.DeleteUserPolicyInput{UserName: aws.String("u"), PolicyName: aws.String("i")})
			return err
		}},
		{delUser, "must detach all policies first", func() error {
			_, err := a.DetachUserPolicy(ctx, &iam.DetachUserPolicyInput{UserName: aws.String("u"), PolicyArn: pol.Policy.Arn})
			return err
		}},
		{delGroup, "must remove users from group first", nil},
		{delUser, "must remove users from group first", func() error {
			_, err := a.RemoveUserFromGroup(ctx, &iam.RemoveUserFromGroupInput{GroupName: aws.String("g"), UserName: aws.String("u")})
			return err
		}},
		{delGroup, "must detach all policies first", func() error {
			_, err := a.DetachGroupPolicy(ctx, &iam.DetachGroupPolicyInput{GroupName: aws.String("g"), PolicyArn: pol.Policy.Arn})
			return err
		}},
		{delRole, "must delete policies first", func() error {
			_, err := a.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String("r"), PolicyName: aws.String("i")})
			return err
		}},
		{delRole, "must detach all policies first", nil},
		{delPolicy, "", func() error {
			_, err := a.DetachRolePolicy(ctx, &iam.DetachRolePolicyInput{RoleName: aws.String("r"), PolicyArn: pol.Policy.Arn})
			return err
		}},
	}
	for i, s := range steps {
		before := e.snapshot()
		err := s.del()
		want := "Cannot delete entity, " + s.reason + "."
		if s.reason == "" {
			want = "Cannot delete a policy attached to entities."
		}
		wantErr(t, err, "DeleteConflict", http.StatusConflict, want)
		if after := e.snapshot(); after != before {
			t.Fatalf("step %d: store changed", i)
		}
		if s.fix != nil {
			if err := s.fix(); err != nil {
				t.Fatalf("step %d fix: %v", i, err)
			}
		}
	}
	for i, del := range []func() error{delUser, delGroup, delRole, delPolicy} {
		if err := del(); err != nil {
			t.Fatalf("final delete %d: %v", i, err)
		}
	}
	if _, err := a.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("u")}); err == nil {
		t.Fatal("user still there")
	}
}

// ---- every action ----

// TestUsersAndKeys runs the user and access key actions and checks their
// fields.
func TestUsersAndKeys(t *testing.T) {
	e := newEnv(t)
	a := e.iam(e.admin)
	start := e.clock.Now().Truncate(time.Second)
	u := must(a.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("Ann"), Path: aws.String("/team/a/"),
		Tags: []iamtypes.Tag{{Key: aws.String("team"), Value: aws.String("a b: c/d")}, {Key: aws.String("cost-center"), Value: aws.String("")}}}))(t).User
	if *u.UserName != "Ann" || *u.Path != "/team/a/" || *u.Arn != userARN+"team/a/Ann" || !strings.HasPrefix(*u.UserId, "AIDA") || len(*u.UserId) != 21 ||
		u.CreateDate.Before(start) || len(u.Tags) != 2 || *u.Tags[0].Value != "a b: c/d" || *u.Tags[1].Key != "cost-center" {
		t.Fatalf("created %+v", u)
	}
	got := must(a.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("ann")}))(t).User
	if *got.UserId != *u.UserId || *got.Arn != *u.Arn || !got.CreateDate.Equal(*u.CreateDate) || len(got.Tags) != 2 {
		t.Fatalf("got %+v", got)
	}
	me := must(a.GetUser(ctx, &iam.GetUserInput{}))(t).User
	if *me.UserName != "admin" || *me.Arn != userARN+"admin" {
		t.Fatalf("GetUser without a name: %+v", me)
	}
	list := must(a.ListUsers(ctx, &iam.ListUsersInput{PathPrefix: aws.String("/team")}))(t)
	if len(list.Users) != 1 || *list.Users[0].UserName != "Ann" || list.IsTruncated || list.Marker != nil {
		t.Fatalf("list under /team %+v", list)
	}

	k1 := must(a.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("ann")}))(t).AccessKey
	if *k1.UserName != "Ann" || !strings.HasPrefix(*k1.AccessKeyId, "AKIA") || len(*k1.AccessKeyId) != 20 || len(*k1.SecretAccessKey) != 40 ||
		k1.Status != iamtypes.StatusTypeActive || k1.CreateDate == nil {
		t.Fatalf("key %+v", k1)
	}
	if body, _ := e.rec.last(); !strings.Contains(body, *k1.SecretAccessKey) {
		t.Fatal("CreateAccessKey response lacks the secret")
	}
	keys := must(a.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("Ann")}))(t)
	if len(keys.AccessKeyMetadata) != 1 || *keys.AccessKeyMetadata[0].AccessKeyId != *k1.AccessKeyId || keys.IsTruncated {
		t.Fatalf("keys %+v", keys)
	}
	if body, _ := e.rec.last(); strings.Contains(body, *k1.SecretAccessKey) || strings.Contains(body, "SecretAccessKey") {
		t.Fatal("ListAccessKeys shows a secret")
	}
	// The key works and is the user's.
	ann := e.sts(e.config(*k1.AccessKeyId, *k1.SecretAccessKey, ""))
	who := must(ann.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}))(t)
	if *who.Arn != userARN+"team/a/Ann" || *who.UserId != *u.UserId || *who.Account != testAccount {
		t.Fatalf("caller %+v", who)
	}
	// The secret is stored sealed.
	stored, err := e.store.GetAccessKey(ctx, *k1.AccessKeyId)
	if err != nil || bytes.Contains(stored.SecretSealed, []byte(*k1.SecretAccessKey)) {
		t.Fatalf("stored key %v", err)
	}
	must(a.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("Ann"), AccessKeyId: k1.AccessKeyId, Status: iamtypes.StatusTypeInactive}))(t)
	if k, _ := e.store.GetAccessKey(ctx, *k1.AccessKeyId); k.Status != store.KeyInactive {
		t.Fatalf("status %s", k.Status)
	}
	must(a.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String("Ann"), AccessKeyId: k1.AccessKeyId}))(t)
	must(a.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String("ann")}))(t)
	if _, err := a.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("Ann")}); err == nil {
		t.Fatal("deleted user still there")
	}
	// The admin manages its own keys without naming itself.
	k2 := must(a.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{}))(t).AccessKey
	if *k2.UserName != "admin" {
		t.Fatalf("own key %+v", k2)
	}
	if keys := must(a.ListAccessKeys(ctx, &iam.ListAccessKeysInput{}))(t); len(keys.AccessKeyMetadata) != 2 {
		t.Fatalf("admin keys %+v", keys.AccessKeyMetadata)
	}
	must(a.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{AccessKeyId: k2.AccessKeyId}))(t)
	if logs := e.logs.String(); strings.Contains(logs, *k1.SecretAccessKey) || strings.Contains(logs, *k2.SecretAccessKey) {
		t.Fatalf("a secret was logged:\n%s", logs)
	}
}

// TestPagination pages ListUsers with MaxItems=1, by hand and with the
// SDK's paginator.
func TestPagination(t *testing.T) {
	e := newEnv(t)
	a := e.iam(e.admin)
	for _, n := range []string{"u3", "u1", "u2"} {
		must(a.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(n), Path: aws.String("/team/")}))(t)
	}
	var names []string
	var marker *string
	for i := 0; ; i++ {
		out := must(a.ListUsers(ctx, &iam.ListUsersInput{PathPrefix: aws.String("/team/"), MaxItems: aws.Int32(1), Marker: marker}))(t)
		if len(out.Users) != 1 {
			t.Fatalf("page %d: %+v", i, out.Users)
		}
		names = append(names, *out.Users[0].UserName)
		if !out.IsTruncated {
			if out.Marker != nil {
				t.Fatalf("last page with a marker %q", *out.Marker)
			}
			break
		}
		marker = out.Marker
	}
	if strings.Join(names, ",") != "u1,u2,u3" {
		t.Fatalf("paged %v", names)
	}
	names = nil
	p := iam.NewListUsersPaginator(a, &iam.ListUsersInput{MaxItems: aws.Int32(1)})
	for p.HasMorePages() {
		for _, u := range must(p.NextPage(ctx))(t).Users {
			names = append(names, *u.UserName)
		}
	}
	if strings.Join(names, ",") != "admin,u1,u2,u3" {
		t.Fatalf("paginator %v", names)
	}
	all := must(a.ListUsers(ctx, &iam.ListUsersInput{MaxItems: aws.Int32(1000)}))(t)
	if len(all.Users) != 4 || all.IsTruncated {
		t.Fatalf("all %+v", all)
	}
}

// TestGroupsAndInlinePolicies runs the group actions and the inline policy
// actions of users, groups and roles.
func TestGroupsAndInlinePolicies(t *testing.T) {
	e := newEnv(t)
	a := e.iam(e.admin)
	must(a.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("u1")}))(t)
	must(a.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("u2")}))(t)
	g := must(a.CreateGroup(ctx, &iam.CreateGroupInput{GroupName: aws.String("devs"), Path: aws.String("/eng/")}))(t).Group
	if *g.GroupName != "devs" || *g.Path != "/eng/" || *g.Arn != "arn:aws:iam::"+testAccount+":group/eng/devs" || !strings.HasPrefix(*g.GroupId, "AGPA") || g.CreateDate == nil {
		t.Fatalf("group %+v", g)
	}
	must(a.AddUserToGroup(ctx, &iam.AddUserToGroupInput{GroupName: aws.String("devs"), UserName: aws.String("u2")}))(t)
	must(a.AddUserToGroup(ctx, &iam.AddUserToGroupInput{GroupName: aws.String("DEVS"), UserName: aws.String("u1")}))(t)
	must(a.AddUserToGroup(ctx, &iam.AddUserToGroupInput{GroupName: aws.String("devs"), UserName: aws.String("u1")}))(t) // idempotent
	got := must(a.GetGroup(ctx, &iam.GetGroupInput{GroupName: aws.String("devs")}))(t)
	if *got.Group.GroupId != *g.GroupId || len(got.Users) != 2 || *got.Users[0].UserName != "u1" || *got.Users[1].UserName != "u2" || got.IsTruncated {
		t.Fatalf("get group %+v", got)
	}
	page := must(a.GetGroup(ctx, &iam.GetGroupInput{GroupName: aws.String("devs"), MaxItems: aws.Int32(1)}))(t)
	if len(page.Users) != 1 || !page.IsTruncated || *page.Marker == "" {
		t.Fatalf("group page %+v", page)
	}
	gfu := must(a.ListGroupsForUser(ctx, &iam.ListGroupsForUserInput{UserName: aws.String("u2")}))(t)
	if len(gfu.Groups) != 1 || *gfu.Groups[0].Arn != *g.Arn {
		t.Fatalf("groups for user %+v", gfu)
	}
	lg := must(a.ListGroups(ctx, &iam.ListGroupsInput{PathPrefix: aws.String("/eng/")}))(t)
	if len(lg.Groups) != 1 || *lg.Groups[0].GroupName != "devs" {
		t.Fatalf("groups %+v", lg)
	}
	if lg := must(a.ListGroups(ctx, &iam.ListGroupsInput{PathPrefix: aws.String("/ops/")}))(t); len(lg.Groups) != 0 {
		t.Fatalf("groups under /ops/ %+v", lg)
	}
	_, err := a.RemoveUserFromGroup(ctx, &iam.RemoveUserFromGroupInput{GroupName: aws.String("devs"), UserName: aws.String("admin")})
	wantErr(t, err, "NoSuchEntity", 404, "")
	must(a.RemoveUserFromGroup(ctx, &iam.RemoveUserFromGroupInput{GroupName: aws.String("devs"), UserName: aws.String("u2")}))(t)

	must(a.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("r"), AssumeRolePolicyDocument: aws.String(trustOf(testAccount))}))(t)
	// A document with white space, a "+" and non-ASCII text comes back
	// URL-encoded (%20 for a space) and decodes to what was put.
	pdoc := "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"ec2:Describe*\", \"Resource\": \"*\",\n    \"Condition\": {\"StringEquals\": {\"aws:PrincipalTag/name\": \"Ünïcode+plus & <more>\"}}}]\n}"
	kinds := []struct {
		kind string
		put  func(name string) error
		get  func(name string) (owner, policyName, document string, err error)
		list func() ([]string, error)
		del  func(name string) error
	}{
		{"user",
			func(n string) error {
				_, err := a.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("u1"), PolicyName: aws.String(n), PolicyDocument: aws.String(pdoc)})
				return err
			},
			func(n string) (string, string, string, error) {
				out, err := a.GetUserPolicy(ctx, &iam.GetUserPolicyInput{UserName: aws.String("U1"), PolicyName: aws.String(n)})
				if err != nil {
					return "", "", "", err
				}
				return *out.UserName, *out.PolicyName, *out.PolicyDocument, nil
			},
			func() ([]string, error) {
				out, err := a.ListUserPolicies(ctx, &iam.ListUserPoliciesInput{UserName: aws.String("u1")})
				if err != nil {
					return nil, err
				}
				return out.PolicyNames, nil
			},
			func(n string) error {
				_, err := a.DeleteUserPolicy(ctx, &iam.DeleteUserPolicyInput{UserName: aws.String("u1"), PolicyName: aws.String(n)})
				return err
			}},
		{"group",
			func(n string) error {
				_, err := a.PutGroupPolicy(ctx, &iam.PutGroupPolicyInput{GroupName: aws.String("devs"), PolicyName: aws.String(n), PolicyDocument: aws.String(pdoc)})
				return err
			},
			func(n string) (string, string, string, error) {
				out, err := a.GetGroupPolicy(ctx, &iam.GetGroupPolicyInput{GroupName: aws.String("Devs"), PolicyName: aws.String(n)})
				if err != nil {
					return "", "", "", err
				}
				return *out.GroupName, *out.PolicyName, *out.PolicyDocument, nil
			},
			func() ([]string, error) {
				out, err := a.ListGroupPolicies(ctx, &iam.ListGroupPoliciesInput{GroupName: aws.String("devs")})
				if err != nil {
					return nil, err
				}
				return out.PolicyNames, nil
			},
			func(n string) error {
				_, err := a.DeleteGroupPolicy(ctx, &iam.DeleteGroupPolicyInput{GroupName: aws.String("devs"), PolicyName: aws.String(n)})
				return err
			}},
		{"role",
			func(n string) error {
				_, err := a.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("r"), PolicyName: aws.String(n), PolicyDocument: aws.String(pdoc)})
				return err
			},
			func(n string) (string, string, string, error) {
				out, err := a.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String("R"), PolicyName: aws.String(n)})
				if err != nil {
					return "", "", "", err
				}
				return *out.RoleName, *out.PolicyName, *out.PolicyDocument, nil
			},
			func() ([]string, error) {
				out, err := a.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: aws.String("r")})
				if err != nil {
					return nil, err
				}
				return out.PolicyNames, nil
			},
			func(n string) error {
				_, err := a.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String("r"), PolicyName: aws.String(n)})
				return err
			}},
	}
	wantOwner := map[string]string{"user": "u1", "group": "devs", "role": "r"}
	for _, k := range kinds {
		t.Run(k.kind, func(t *testing.T) {
			for _, n := range []string{"b", "a"} {
				if err := k.put(n); err != nil {
					t.Fatal(err)
				}
			}
			if err := k.put("a"); err != nil { // a put replaces
				t.Fatal(err)
			}
			owner, pn, enc, err := k.get("a")
			if err != nil {
				t.Fatal(err)
			}
			dec, derr := url.PathUnescape(enc)
			if owner != wantOwner[k.kind] || pn != "a" || derr != nil || dec != pdoc || strings.Contains(enc, "+") || !strings.Contains(enc, "%20") {
				t.Fatalf("get: %s %s %q (decoded %q, %v)", owner, pn, enc, dec, derr)
			}
			names, err := k.list()
			if err != nil || !slices.Equal(names, []string{"a", "b"}) {
				t.Fatalf("list %v %v", names, err)
			}
			for _, n := range names {
				if err := k.del(n); err != nil {
					t.Fatal(err)
				}
			}
			if err := k.del("a"); err == nil {
				t.Fatal("deleted twice")
			} else {
				wantErr(t, err, "NoSuchEntity", 404, "The "+k.kind+" policy with name a cannot be found.")
			}
		})
	}
	must(a.RemoveUserFromGroup(ctx, &iam.RemoveUserFromGroupInput{GroupName: aws.String("devs"), UserName: aws.String("u1")}))(t)
	must(a.DeleteGroup(ctx, &iam.DeleteGroupInput{GroupName: aws.String("devs")}))(t)
}

// TestManagedPolicies runs the managed policy actions.
func TestManagedPolicies(t *testing.T) {
	e := newEnv(t)
	a := e.iam(e.admin)
	d := doc(allow("ec2:Describe*", "*"))
	pol := must(a.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("describe"), Path: aws.String("/ops/"), Description: aws.String("Describe everything"), PolicyDocument: aws.String(d)}))(t).Policy
	if *pol.Arn != "arn:aws:iam::"+testAccount+":policy/ops/describe" || *pol.DefaultVersionId != "v1" || *pol.Path != "/ops/" || !strings.HasPrefix(*pol.PolicyId, "ANPA") ||
		*pol.AttachmentCount != 0 || !pol.IsAttachable || *pol.Description != "Describe everything" || pol.CreateDate == nil || pol.UpdateDate == nil {
		t.Fatalf("policy %+v", pol)
	}
	got := must(a.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: pol.Arn}))(t).Policy
	if *got.PolicyId != *pol.PolicyId || *got.PolicyName != "describe" {
		t.Fatalf("get policy %+v", got)
	}
	v := must(a.GetPolicyVersion(ctx, &iam.GetPolicyVersionInput{PolicyArn: pol.Arn, VersionId: aws.String("v1")}))(t).PolicyVersion
	if dec, _ := url.PathUnescape(*v.Document); !v.IsDefaultVersion || *v.VersionId != "v1" || dec != d || v.CreateDate == nil {
		t.Fatalf("version %+v", v)
	}
	admin := must(a.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: aws.String(AdministratorAccessARN)}))(t).Policy
	if *admin.AttachmentCount != 1 || *admin.PolicyName != "AdministratorAccess" {
		t.Fatalf("AdministratorAccess %+v", admin)
	}

	must(a.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("u")}))(t)
	must(a.CreateGroup(ctx, &iam.CreateGroupInput{GroupName: aws.String("g")}))(t)
	must(a.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("r"), AssumeRolePolicyDocument: aws.String(trustOf(testAccount))}))(t)
	must(a.AttachUserPolicy(ctx, &iam.AttachUserPolicyInput{UserName: aws.String("u"), PolicyArn: pol.Arn}))(t)
	must(a.AttachUserPolicy(ctx, &iam.AttachUserPolicyInput{UserName: aws.String("u"), PolicyArn: pol.Arn}))(t) // idempotent
	must(a.AttachGroupPolicy(ctx, &iam.AttachGroupPolicyInput{GroupName: aws.String("g"), PolicyArn: pol.Arn}))(t)
	must(a.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String("r"), PolicyArn: pol.Arn}))(t)
	must(a.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String("r"), PolicyArn: aws.String(AdministratorAccessARN)}))(t)
	lu := must(a.ListAttachedUserPolicies(ctx, &iam.ListAttachedUserPoliciesInput{UserName: aws.String("u")}))(t)
	lg := must(a.ListAttachedGroupPolicies(ctx, &iam.ListAttachedGroupPoliciesInput{GroupName: aws.String("g")}))(t)
	lr := must(a.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String("r")}))(t)
	if len(lu.AttachedPolicies) != 1 || *lu.AttachedPolicies[0].PolicyArn != *pol.Arn || *lu.AttachedPolicies[0].PolicyName != "describe" ||
		len(lg.AttachedPolicies) != 1 || len(lr.AttachedPolicies) != 2 {
		t.Fatalf("attached: user %+v group %+v role %+v", lu.AttachedPolicies, lg.AttachedPolicies, lr.AttachedPolicies)
	}
	if lr := must(a.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String("r"), PathPrefix: aws.String("/ops/")}))(t); len(lr.AttachedPolicies) != 1 {
		t.Fatalf("attached under /ops/ %+v", lr.AttachedPolicies)
	}
	names := func(in *iam.ListPoliciesInput) []string {
		var out []string
		for _, p := range must(a.ListPolicies(ctx, in))(t).Policies {
			out = append(out, *p.PolicyName)
		}
		slices.Sort(out)
		return out
	}
	must(a.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("unused"), PolicyDocument: aws.String(d)}))(t)
	for _, tc := range []struct {
		in   *iam.ListPoliciesInput
		want string
	}{
		{&iam.ListPoliciesInput{}, "AdministratorAccess,describe,unused"},
		{&iam.ListPoliciesInput{Scope: iamtypes.PolicyScopeTypeAll}, "AdministratorAccess,describe,unused"},
		{&iam.ListPoliciesInput{Scope: iamtypes.PolicyScopeTypeAws}, "AdministratorAccess"},
		{&iam.ListPoliciesInput{Scope: iamtypes.PolicyScopeTypeLocal}, "describe,unused"},
		{&iam.ListPoliciesInput{Scope: iamtypes.PolicyScopeTypeLocal, OnlyAttached: true}, "describe"},
		{&iam.ListPoliciesInput{PathPrefix: aws.String("/ops/")}, "describe"},
	} {
		if got := strings.Join(names(tc.in), ","); got != tc.want {
			t.Errorf("ListPolicies %+v: %s, want %s", tc.in, got, tc.want)
		}
	}
	if p := must(a.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: pol.Arn}))(t).Policy; *p.AttachmentCount != 3 {
		t.Fatalf("attachment count %d", *p.AttachmentCount)
	}
	must(a.DetachUserPolicy(ctx, &iam.DetachUserPolicyInput{UserName: aws.String("u"), PolicyArn: pol.Arn}))(t)
	must(a.DetachGroupPolicy(ctx, &iam.DetachGroupPolicyInput{GroupName: aws.String("g"), PolicyArn: pol.Arn}))(t)
	must(a.DetachRolePolicy(ctx, &iam.DetachRolePolicyInput{RoleName: aws.String("r"), PolicyArn: pol.Arn}))(t)
	must(a.DeletePolicy(ctx, &iam.DeletePolicyInput{PolicyArn: pol.Arn}))(t)
	_, err := a.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: pol.Arn})
	wantErr(t, err, "NoSuchEntity", 404, "")
}

// TestRoles runs the role actions.
func TestRoles(t *testing.T) {
	e := newEnv(t)
	a := e.iam(e.admin)
	trust := trustOf("arn:aws:iam::" + testAccount + ":root")
	r := must(a.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("deploy"), Path: aws.String("/ci/"), AssumeRolePolicyDocument: aws.String(trust),
		Description: aws.String("CI deploys"), MaxSessionDuration: aws.Int32(7200), Tags: []iamtypes.Tag{{Key: aws.String("env"), Value: aws.String("prod")}}}))(t).Role
	if *r.Arn != roleARNOf+"ci/deploy" || *r.Path != "/ci/" || !strings.HasPrefix(*r.RoleId, "AROA") || *r.Description != "CI deploys" ||
		*r.MaxSessionDuration != 7200 || len(r.Tags) != 1 || r.CreateDate == nil {
		t.Fatalf("role %+v", r)
	}
	if dec, err := url.PathUnescape(*r.AssumeRolePolicyDocument); err != nil || dec != trust {
		t.Fatalf("trust %q", *r.AssumeRolePolicyDocument)
	}
	got := must(a.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("DEPLOY")}))(t).Role
	if *got.RoleId != *r.RoleId || *got.MaxSessionDuration != 7200 || len(got.Tags) != 1 {
		t.Fatalf("get role %+v", got)
	}
	must(a.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("other"), AssumeRolePolicyDocument: aws.String(trust)}))(t)
	lr := must(a.ListRoles(ctx, &iam.ListRolesInput{}))(t)
	if len(lr.Roles) != 2 || *lr.Roles[0].RoleName != "deploy" || *lr.Roles[1].MaxSessionDuration != 3600 {
		t.Fatalf("roles %+v", lr.Roles)
	}
	if lr := must(a.ListRoles(ctx, &iam.ListRolesInput{PathPrefix: aws.String("/ci/"), MaxItems: aws.Int32(1)}))(t); len(lr.Roles) != 1 || lr.IsTruncated {
		t.Fatalf("roles under /ci/ %+v", lr)
	}
	must(a.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("alice")}))(t)
	alice := trustOf(userARN + "alice")
	must(a.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String("deploy"), PolicyDocument: aws.String(alice)}))(t)
	if got := must(a.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("deploy")}))(t).Role; !strings.Contains(*got.AssumeRolePolicyDocument, "alice") {
		t.Fatalf("trust not updated: %s", *got.AssumeRolePolicyDocument)
	}
	// The trust policy now names alice only: the admin may no longer
	// assume the role.
	_, err := e.sts(e.admin).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: r.Arn, RoleSessionName: aws.String("adm")})
	wantErr(t, err, "AccessDenied", 403, "")
	must(a.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: aws.String("deploy")}))(t)
	_, err = a.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("deploy")})
	wantErr(t, err, "NoSuchEntity", 404, "The role with name deploy cannot be found.")
}

// ---- simulator ----

// TestSimulateSeedPolicy simulates the EC2 Instance Connect Endpoint
// documentation's policy for connecting (testdata/seed-open-tunnel.json,
// byte for byte: OpenTunnel on one endpoint for port 22, two private
// addresses and tunnels of at most 60 seconds, and the Describe actions).
func TestSimulateSeedPolicy(t *testing.T) {
	raw, err := os.ReadFile("testdata/seed-open-tunnel.json")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	a := e.iam(e.admin)
	must(a.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("ssh")}))(t)
	must(a.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("ssh"), PolicyName: aws.String("connect"), PolicyDocument: aws.String(string(raw))}))(t)
	endpoint := "arn:aws:ec2:region:account-id:instance-connect-endpoint/eice-123456789abcdef"
	source := aws.String(userARN + "ssh")
	sim := func(t *testing.T, port string, extra ...string) iamtypes.EvaluationResult {
		t.Helper()
		out := must(a.SimulatePrincipalPolicy(ctx, &iam.SimulatePrincipalPolicyInput{
			PolicySourceArn: source,
			ActionNames:     []string{"ec2-instance-connect:OpenTunnel"},
			ResourceArns:    []string{endpoint},
			PolicyInputList: extra,
			ContextEntries: []iamtypes.ContextEntry{
				{ContextKeyName: aws.String("ec2-instance-connect:remotePort"), ContextKeyValues: []string{port}, ContextKeyType: iamtypes.ContextKeyTypeEnumNumeric},
				{ContextKeyName: aws.String("ec2-instance-connect:privateIpAddress"), ContextKeyValues: []string{"10.0.1.1"}, ContextKeyType: iamtypes.ContextKeyTypeEnumIp},
				{ContextKeyName: aws.String("ec2-instance-connect:maxTunnelDuration"), ContextKeyValues: []string{"60"}, ContextKeyType: iamtypes.ContextKeyTypeEnumNumeric},
			},
		}))(t)
		if len(out.EvaluationResults) != 1 || out.IsTruncated {
			t.Fatalf("results %+v", out)
		}
		r := out.EvaluationResults[0]
		if *r.EvalActionName != "ec2-instance-connect:OpenTunnel" || *r.EvalResourceName != endpoint {
			t.Fatalf("result %+v", r)
		}
		return r
	}
	t.Run("port 22 allowed", func(t *testing.T) {
		r := sim(t, "22")
		if r.EvalDecision != iamtypes.PolicyEvaluationDecisionTypeAllowed || len(r.MatchedStatements) != 1 {
			t.Fatalf("%+v", r)
		}
		m := r.MatchedStatements[0]
		// Statement 1 of the seed policy: from the "{" on line 3 to the
		// "}" on line 19.
		if *m.SourcePolicyId != "connect" || m.SourcePolicyType != iamtypes.PolicySourceTypeUser ||
			m.StartPosition == nil || m.StartPosition.Line != 3 || m.StartPosition.Column != 15 || m.EndPosition == nil || m.EndPosition.Line != 19 || m.EndPosition.Column != 1 {
			t.Fatalf("matched %+v start %+v end %+v", m, m.StartPosition, m.EndPosition)
		}
		if len(r.MissingContextValues) != 0 {
			t.Fatalf("missing %v", r.MissingContextValues)
		}
	})
	t.Run("port 3389 implicitly denied", func(t *testing.T) {
		if r := sim(t, "3389"); r.EvalDecision != iamtypes.PolicyEvaluationDecisionTypeImplicitDeny || len(r.MatchedStatements) != 0 {
			t.Fatalf("%+v", r)
		}
	})
	t.Run("an input policy's deny wins", func(t *testing.T) {
		r := sim(t, "22", `{"Version":"2012-10-17","Statement":[{"Sid":"NoTunnels","Effect":"Deny","Action":"ec2-instance-connect:*","Resource":"*"}]}`)
		if r.EvalDecision != iamtypes.PolicyEvaluationDecisionTypeExplicitDeny || len(r.MatchedStatements) != 1 ||
			*r.MatchedStatements[0].SourcePolicyId != "PolicyInputList.1" || r.MatchedStatements[0].StartPosition.Column != 38 {
			t.Fatalf("%+v %+v", r, r.MatchedStatements)
		}
	})
	t.Run("missing context and several actions", func(t *testing.T) {
		out := must(a.SimulatePrincipalPolicy(ctx, &iam.SimulatePrincipalPolicyInput{PolicySourceArn: source,
			ActionNames: []string{"ec2-instance-connect:OpenTunnel", "ec2:DescribeInstances", "iam:CreateUser"}}))(t)
		if len(out.EvaluationResults) != 3 {
			t.Fatalf("%+v", out)
		}
		r0, r1, r2 := out.EvaluationResults[0], out.EvaluationResults[1], out.EvaluationResults[2]
		if r0.EvalDecision != iamtypes.PolicyEvaluationDecisionTypeImplicitDeny || *r0.EvalResourceName != "*" || len(r0.MissingContextValues) != 3 ||
			r1.EvalDecision != iamtypes.PolicyEvaluationDecisionTypeAllowed || r1.MatchedStatements[0].StartPosition.Line != 20 ||
			r2.EvalDecision != iamtypes.PolicyEvaluationDecisionTypeImplicitDeny {
			t.Fatalf("%+v\n%+v\n%+v", r0, r1, r2)
		}
	})
	t.Run("a group's deny and a managed policy, for a role too", func(t *testing.T) {
		must(a.CreateGroup(ctx, &iam.CreateGroupInput{GroupName: aws.String("frozen")}))(t)
		must(a.AddUserToGroup(ctx, &iam.AddUserToGroupInput{GroupName: aws.String("frozen"), UserName: aws.String("ssh")}))(t)
		must(a.PutGroupPolicy(ctx, &iam.PutGroupPolicyInput{GroupName: aws.String("frozen"), PolicyName: aws.String("freeze"),
			PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"ec2:*","Resource":"*"}]}`)}))(t)
		out := must(a.SimulatePrincipalPolicy(ctx, &iam.SimulatePrincipalPolicyInput{PolicySourceArn: source, ActionNames: []string{"ec2:DescribeInstances"}}))(t)
		r := out.EvaluationResults[0]
		if r.EvalDecision != iamtypes.PolicyEvaluationDecisionTypeExplicitDeny || *r.MatchedStatements[0].SourcePolicyId != "freeze" ||
			r.MatchedStatements[0].SourcePolicyType != iamtypes.PolicySourceTypeGroup {
			t.Fatalf("%+v %+v", r, r.MatchedStatements)
		}
		must(a.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("admin-role"), AssumeRolePolicyDocument: aws.String(trustOf(testAccount))}))(t)
		must(a.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String("admin-role"), PolicyArn: aws.String(AdministratorAccessARN)}))(t)
		out = must(a.SimulatePrincipalPolicy(ctx, &iam.SimulatePrincipalPolicyInput{PolicySourceArn: aws.String(roleARNOf + "admin-role"),
			ActionNames: []string{"iam:CreateUser"}, ResourceArns: []string{userARN + "x", userARN + "y"}}))(t)
		if len(out.EvaluationResults) != 2 || out.EvaluationResults[1].EvalDecision != iamtypes.PolicyEvaluationDecisionTypeAllowed ||
			*out.EvaluationResults[1].MatchedStatements[0].SourcePolicyId != "AdministratorAccess" ||
			out.EvaluationResults[1].MatchedStatements[0].SourcePolicyType != iamtypes.PolicySourceTypeAwsManaged {
			t.Fatalf("%+v", out.EvaluationResults)
		}
	})
	t.Run("needs iam:SimulatePrincipalPolicy on the source", func(t *testing.T) {
		self := e.iam(e.user("curious", doc(allow("iam:SimulatePrincipalPolicy", userARN+"${aws:username}"))))
		must(self.SimulatePrincipalPolicy(ctx, &iam.SimulatePrincipalPolicyInput{PolicySourceArn: aws.String(userARN + "curious"), ActionNames: []string{"s3:GetObject"}}))(t)
		_, err := self.SimulatePrincipalPolicy(ctx, &iam.SimulatePrincipalPolicyInput{PolicySourceArn: source, ActionNames: []string{"s3:GetObject"}})
		wantErr(t, err, "AccessDenied", 403, "iam:SimulatePrincipalPolicy on resource: "+userARN+"ssh")
	})
}

// ---- bootstrap ----

// TestBootstrap: the administrator, its policy and key are made once and
// together.
func TestBootstrap(t *testing.T) {
	e := newEnv(t)
	res, err := Bootstrap(ctx, e.cfg, "admin")
	if err != nil || res.Created || res.SecretAccessKey != "" || res.AccessKeyID != "" || res.User.UserName != "admin" {
		t.Fatalf("second bootstrap: %+v %v", res, err)
	}
	attached, err := e.store.ListAttachedPolicies(ctx, store.PrincipalRef{Kind: store.KindUser, Name: "admin"})
	if err != nil || len(attached) != 1 || attached[0].ARN != AdministratorAccessARN || attached[0].Document != AdministratorAccessDocument {
		t.Fatalf("admin policies %+v %v", attached, err)
	}
	// A second administrator reuses the policy.
	res, err = Bootstrap(ctx, e.cfg, "root2")
	if err != nil || !res.Created || !strings.HasPrefix(res.AccessKeyID, "AKIA") {
		t.Fatalf("another admin: %+v %v", res, err)
	}
	must(e.iam(e.config(res.AccessKeyID, res.SecretAccessKey, "")).CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("z")}))(t)
	if _, err := Bootstrap(ctx, e.cfg, "bad name"); err == nil {
		t.Fatal("bootstrap accepted a bad name")
	}
	// A failure half-way leaves nothing behind: the access key cannot be
	// written, so the transaction rolls back after the user was written
	// and the policy attached.
	before := e.snapshot()
	cfg := e.cfg
	cfg.Store = failingStore{e.store}
	if _, err := Bootstrap(ctx, cfg, "x"); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("bootstrap with a failing store: %v", err)
	}
	if after := e.snapshot(); after != before {
		t.Fatalf("store changed:\n%s\n%s", before, after)
	}
	if _, err := NewIAM(Config{Store: e.store, Sealer: e.sealer, AccountID: testAccount}); err == nil {
		t.Fatal("NewIAM without an Authorizer")
	}
}

// failingStore is a store whose transactions cannot write access keys.
type failingStore struct{ store.Store }

// InTx runs fn with a Repo whose CreateAccessKey fails.
func (f failingStore) InTx(ctx context.Context, fn func(tx store.Repo) error) error {
	return f.Store.InTx(ctx, func(tx store.Repo) error { return fn(failingRepo{tx}) })
}

// failingRepo fails CreateAccessKey.
type failingRepo struct{ store.Repo }

// CreateAccessKey fails.
func (failingRepo) CreateAccessKey(context.Context, store.AccessKey) error {
	return errors.New("disk full")
}

// ---- golden responses ----

// TestGoldenActions serves real actions with a fixed clock and fixed ids
// and compares the responses with the files TestGoldenXML also checks
// (the request id, which the dispatcher draws, is replaced).
func TestGoldenActions(t *testing.T) {
	created := time.Date(2026, 11, 22, 11, 46, 33, 0, time.UTC)
	e := newEnv(t, withServiceClock(func() time.Time { return created }))
	const goldenID = "49c1ecc9-278d-c362-7dbd-ca094d8e3a92"
	check := func(t *testing.T, name string) {
		t.Helper()
		body, id := e.rec.last()
		if id == "" || !strings.Contains(body, "<RequestId>"+id+"</RequestId>") {
			t.Fatalf("request id %q not in %s", id, body)
		}
		body = strings.ReplaceAll(body, id, goldenID)
		golden := filepath.Join("testdata", name+".xml")
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatal(err)
		}
		if body != string(want) {
			t.Fatalf("response\n%s\nwant (%s)\n%s", body, golden, want)
		}
	}
	a := e.iam(e.admin)
	e.ids.next("AIDAEXAMPLEUSER000001")
	must(a.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("alice"), Tags: []iamtypes.Tag{{Key: aws.String("team"), Value: aws.String("a+b=c")}}}))(t)
	check(t, "create_user")
	k := must(a.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("alice")}))(t).AccessKey
	alice := e.config(*k.AccessKeyId, *k.SecretAccessKey, "")
	must(e.sts(alice).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}))(t)
	check(t, "get_caller_identity")
	_, err := e.iam(alice).GetUser(ctx, &iam.GetUserInput{UserName: aws.String("bob")})
	wantErr(t, err, "AccessDenied", 403, "")
	check(t, "error_access_denied")
	must(a.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: k.AccessKeyId}))(t)
	must(a.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String("alice")}))(t)
	check(t, "delete_user")
}

// ---- helpers ----

// TestStatementSpans checks the statement positions the simulator
// reports.
func TestStatementSpans(t *testing.T) {
	tests := []struct {
		doc  string
		want [][2]int
	}{
		{`{"Statement":{"Effect":"Allow"}}`, [][2]int{{13, 30}}},
		{`{"Version":"2012-10-17","Statement":[{"a":1}, {"b":{"c":[1,2]}} ]}`, [][2]int{{37, 43}, {46, 62}}},
		{"{\"Id\":\"x\",\n \"Statement\" :\n  [\n   {}\n  ]\n}", [][2]int{{33, 34}}},
		{`not json`, nil},
		{`{"Statement":"x"}`, nil},
	}
	for _, tc := range tests {
		if got := statementSpans(tc.doc); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.doc, got, tc.want)
		}
	}
	for _, tc := range []struct{ off, line, col int }{{0, 1, 1}, {3, 2, 1}, {7, 2, 4}, {8, 3, 1}} {
		if p := position("ab\ncdé\nfg", tc.off); p.Line != tc.line || p.Column != tc.col {
			t.Errorf("position of %d: %+v, want %d:%d", tc.off, p, tc.line, tc.col)
		}
	}
}

// TestEncodeDoc: documents are percent-encoded with %20 for spaces.
func TestEncodeDoc(t *testing.T) {
	in := `{"a b": "c+d/é"}`
	enc := encodeDoc(in)
	if enc != "%7B%22a%20b%22%3A%20%22c%2Bd%2F%C3%A9%22%7D" {
		t.Fatalf("encoded %s", enc)
	}
	if dec, err := url.PathUnescape(enc); err != nil || dec != in {
		t.Fatalf("decoded %q %v", dec, err)
	}
}
