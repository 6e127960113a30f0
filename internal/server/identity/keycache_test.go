package identity

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/postern/postern/internal/server/sealer"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/testutil/sqlitetest"
	"github.com/postern/postern/internal/wire/sigv4"
)

// TestAccessKeyCacheFollowsWrites: an access key's opened secret and user
// are reused between requests, and a write that revokes the key (it is
// deactivated, deleted, or deleted with its user) or renames its user is
// seen by the very next request, on SQLite.
func TestAccessKeyCacheFollowsWrites(t *testing.T) {
	const (
		acct   = "123456789012"
		akid   = "AKIACACHETEST0000001"
		secret = "cache/test+secret"
	)
	now := time.Date(2026, 12, 6, 2, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		change func(ctx context.Context, st store.Store) error
		// wantUser is the user name of the next request's principal; ""
		// means the next request is refused as an invalid credential.
		wantUser string
	}{
		{"key deactivated", func(ctx context.Context, st store.Store) error {
			return st.UpdateAccessKeyStatus(ctx, akid, store.KeyInactive)
		}, ""},
		{"key deleted", func(ctx context.Context, st store.Store) error {
			return st.DeleteAccessKey(ctx, akid)
		}, ""},
		{"key and user deleted, the name taken again", func(ctx context.Context, st store.Store) error {
			if err := st.DeleteAccessKey(ctx, akid); err != nil {
				return err
			}
			if err := st.DeleteUser(ctx, "alice"); err != nil {
				return err
			}
			return st.CreateUser(ctx, store.User{UserID: "AIDACACHETEST2", UserName: "alice", Path: "/", ARN: "arn:aws:iam::" + acct + ":user/alice", CreateDate: now})
		}, ""},
		{"unrelated write", func(ctx context.Context, st store.Store) error {
			return st.CreateUser(ctx, store.User{UserID: "AIDACACHETEST3", UserName: "bob", Path: "/", ARN: "arn:aws:iam::" + acct + ":user/bob", CreateDate: now})
		}, "alice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			st := sqlitetest.Open(t)
			key := make([]byte, sealer.KeySize)
			sl, err := sealer.New(key)
			if err != nil {
				t.Fatal(err)
			}
			if err := st.CreateUser(ctx, store.User{UserID: "AIDACACHETEST1", UserName: "alice", Path: "/", ARN: "arn:aws:iam::" + acct + ":user/alice", CreateDate: now}); err != nil {
				t.Fatal(err)
			}
			sealed, err := sl.Seal([]byte(secret), []byte(akid))
			if err != nil {
				t.Fatal(err)
			}
			if err := st.CreateAccessKey(ctx, store.AccessKey{AccessKeyID: akid, UserName: "alice", SecretSealed: sealed, Status: store.KeyActive, CreateDate: now}); err != nil {
				t.Fatal(err)
			}
			a, err := NewAuthenticator(AuthConfig{Store: st, Sealer: sl, AccountID: acct, Region: "us-east-1", Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			if a.changes == nil {
				t.Fatal("the SQLite store should count its changes: the cache is off")
			}
			call := func() (*Principal, error) {
				t.Helper()
				p, _, err := a.Authenticate(ctx, signedRequest(t, akid, secret, "", now), []byte(stsBody))
				return p, err
			}
			for i := range 2 {
				p, err := call()
				if err != nil {
					t.Fatalf("call %d: %v", i, err)
				}
				if p.UserName != "alice" || p.PrincipalID != "AIDACACHETEST1" || p.AccessKeyID != akid {
					t.Fatalf("call %d: principal %+v", i, p)
				}
			}
			a.mu.Lock()
			c, cached := a.keys[akid]
			a.mu.Unlock()
			if !cached || c.gen != a.changes.Changes() || c.secret != secret {
				t.Fatalf("after two calls the key is not cached at the current count (cached %v)", cached)
			}
			if err := tc.change(ctx, st); err != nil {
				t.Fatal(err)
			}
			p, err := call()
			if tc.wantUser == "" {
				var se *sigv4.Error
				if !errors.As(err, &se) {
					t.Fatalf("the next call after the change: principal %+v, error %v; want a *sigv4.Error", p, err)
				}
				a.mu.Lock()
				_, kept := a.keys[akid]
				a.mu.Unlock()
				if kept {
					t.Fatal("the revoked key's secret is still in memory")
				}
				return
			}
			if err != nil || p.UserName != tc.wantUser {
				t.Fatalf("the next call after the change: principal %+v, error %v; want user %s", p, err, tc.wantUser)
			}
		})
	}
}

// TestAccessKeyCacheRefusesToken: a long-term key presented with a session
// token is refused whether or not the key is cached.
func TestAccessKeyCacheRefusesToken(t *testing.T) {
	ctx := context.Background()
	const akid, secret = "AKIACACHETEST0000002", "s"
	now := time.Date(2026, 12, 6, 2, 0, 0, 0, time.UTC)
	st := sqlitetest.Open(t)
	sl, err := sealer.New(make([]byte, sealer.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateUser(ctx, store.User{UserID: "AIDACACHETOKEN", UserName: "u", Path: "/", ARN: "arn:aws:iam::123456789012:user/u", CreateDate: now}); err != nil {
		t.Fatal(err)
	}
	sealed, err := sl.Seal([]byte(secret), []byte(akid))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateAccessKey(ctx, store.AccessKey{AccessKeyID: akid, UserName: "u", SecretSealed: sealed, Status: store.KeyActive, CreateDate: now}); err != nil {
		t.Fatal(err)
	}
	a, err := NewAuthenticator(AuthConfig{Store: st, Sealer: sl, AccountID: "123456789012", Region: "us-east-1", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, token string
		ok          bool
	}{
		{"no token, fills the cache", "", true},
		{"token with a cached key", "tok", false},
		{"no token again", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := a.Authenticate(ctx, signedRequest(t, akid, secret, tc.token, now), []byte(stsBody))
			var se *sigv4.Error
			switch {
			case tc.ok && err != nil:
				t.Fatalf("refused: %v", err)
			case !tc.ok && (!errors.As(err, &se) || se.Reason != sigv4.ReasonInvalidToken):
				t.Fatalf("error %v, want a *sigv4.Error of reason %v", err, sigv4.ReasonInvalidToken)
			}
		})
	}
}

// stsBody is the body of a signed GetCallerIdentity call.
const stsBody = "Action=GetCallerIdentity&Version=2011-06-15"

// signedRequest returns a GetCallerIdentity request signed at now by the
// AWS SDK's signer.
func signedRequest(t *testing.T, akid, secret, token string, now time.Time) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "https://127.0.0.1:8443/", strings.NewReader(stsBody))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	sum := sha256.Sum256([]byte(stsBody))
	creds := aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret, SessionToken: token}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "sts", "us-east-1", now); err != nil {
		t.Fatal(err)
	}
	return req
}
