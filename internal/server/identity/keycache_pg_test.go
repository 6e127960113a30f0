package identity

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/postern/postern/internal/server/sealer"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/store/sqlstore"
	"github.com/postern/postern/internal/testutil/pgtest"
	"github.com/postern/postern/internal/wire/sigv4"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestAccessKeyRevokedOnAnotherReplica: on PostgreSQL shared by replicas,
// a key deactivated through one replica is refused by another on the very
// next request (the other replica hears of the write only later, so its
// Authenticator caches nothing).
func TestAccessKeyRevokedOnAnotherReplica(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Start(t)
	open := func() *sqlstore.PostgresStore {
		t.Helper()
		st, err := sqlstore.OpenPostgres(ctx, dsn, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	here, there := open(), open()
	const acct, akid, secret = "123456789012", "AKIACACHETESTPG00001", "pg/secret"
	now := time.Date(2026, 12, 6, 2, 0, 0, 0, time.UTC)
	sl, err := sealer.New(make([]byte, sealer.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	if err := here.CreateUser(ctx, store.User{UserID: "AIDACACHETESTPG", UserName: "alice", Path: "/", ARN: "arn:aws:iam::" + acct + ":user/alice", CreateDate: now}); err != nil {
		t.Fatal(err)
	}
	sealed, err := sl.Seal([]byte(secret), []byte(akid))
	if err != nil {
		t.Fatal(err)
	}
	if err := here.CreateAccessKey(ctx, store.AccessKey{AccessKeyID: akid, UserName: "alice", SecretSealed: sealed, Status: store.KeyActive, CreateDate: now}); err != nil {
		t.Fatal(err)
	}
	a, err := NewAuthenticator(AuthConfig{Store: here, Sealer: sl, AccountID: acct, Region: "us-east-1", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, _, err := a.Authenticate(ctx, signedRequest(t, akid, secret, "", now), []byte(stsBody)); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if err := there.UpdateAccessKeyStatus(ctx, akid, store.KeyInactive); err != nil {
		t.Fatal(err)
	}
	_, _, err = a.Authenticate(ctx, signedRequest(t, akid, secret, "", now), []byte(stsBody))
	var se *sigv4.Error
	if !errors.As(err, &se) {
		t.Fatalf("the next call after the other replica deactivated the key: %v, want a *sigv4.Error", err)
	}
}
