package frontdoor

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/postern/postern/internal/server/iamapi"
	"github.com/postern/postern/internal/server/identity"
	"github.com/postern/postern/internal/server/sealer"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/testutil/sqlitetest"
	"github.com/postern/postern/internal/wire/sigv4"
)

// An identity deleted between the front door's authentication and its
// authorization (the window a concurrent DeleteUser can hit) is refused
// exactly as the front door refuses that credential once it is deleted:
// 403 with the credential's error, not a 500. The race is made
// deterministic by running the two steps by hand with the deletion
// between them.
func TestIdentityGoneBeforeAuthorization(t *testing.T) {
	const account, region = "123456789012", "us-east-1"
	ctx := context.Background()
	st := sqlitetest.Open(t)
	key := make([]byte, sealer.KeySize)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	seal, err := sealer.New(key)
	if err != nil {
		t.Fatal(err)
	}
	authn, err := identity.NewAuthenticator(identity.AuthConfig{Store: st, Sealer: seal, AccountID: account, Region: region})
	if err != nil {
		t.Fatal(err)
	}
	ops, err := iamapi.Bootstrap(ctx, iamapi.Config{Store: st, Sealer: seal, AccountID: account}, "ops")
	if err != nil {
		t.Fatal(err)
	}
	f := &FrontDoor{cfg: Config{Authorizer: identity.NewAuthorizer(st, nil)}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}

	// The URL as the CLI presigns it.
	r, err := http.NewRequest(http.MethodGet, "https://localhost/openTunnel?instanceConnectEndpointId=eice-0123456789abcdef0&remotePort=22&privateIpAddress=10.0.0.1", nil)
	if err != nil {
		t.Fatal(err)
	}
	creds := aws.Credentials{AccessKeyID: ops.AccessKeyID, SecretAccessKey: ops.SecretAccessKey}
	signed, _, err := v4.NewSigner().PresignHTTP(ctx, creds, r, "UNSIGNED-PAYLOAD", SigningName, region, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	presigned := func() *http.Request {
		r, err := http.NewRequest(http.MethodGet, signed, nil)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	p, _, err := authn.Authenticate(ctx, presigned(), nil)
	if err != nil {
		t.Fatalf("authenticate ops: %v", err)
	}
	// ops is deleted now, after the front door authenticated it.
	ref := store.PrincipalRef{Kind: store.KindUser, Name: "ops"}
	if err := st.DeleteAccessKey(ctx, ops.AccessKeyID); err != nil {
		t.Fatal(err)
	}
	if err := st.DetachPolicy(ctx, ref, iamapi.AdministratorAccessARN); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteUser(ctx, "ops"); err != nil {
		t.Fatal(err)
	}
	got := f.authorize(ctx, &request{principal: p, endpointRN: "arn:aws:ec2:" + region + ":" + account + ":instance-connect-endpoint/eice-0123456789abcdef0",
		addr: netip.MustParseAddr("10.0.0.1"), port: 22, duration: time.Hour, sourceIP: "127.0.0.1"})

	// What the front door answers the same URL now that ops is gone.
	_, _, err = authn.Authenticate(ctx, presigned(), nil)
	var se *sigv4.Error
	if !errors.As(err, &se) {
		t.Fatalf("authenticate deleted ops: %v, want a signature error", err)
	}
	want := signatureRefusal(se)
	if got == nil {
		t.Fatal("authorized a deleted identity")
	}
	if got.Status != http.StatusForbidden || got.Status != want.Status || got.Code != want.Code || got.Message != want.Message {
		t.Errorf("deleted between authentication and authorization: %d %s %q\nwant as for its deleted credential: %d %s %q",
			got.Status, got.Code, got.Message, want.Status, want.Code, want.Message)
	}
}
