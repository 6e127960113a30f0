package server_test

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/postern/postern/internal/config"
	"github.com/postern/postern/internal/testutil/pgtest"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// Two servers on one PostgreSQL database: the same account, what one
// writes the other sees at once, and each serves tunnels.
func TestTwoServersOnPostgres(t *testing.T) {
	dsn := pgtest.Start(t)
	opts := func(c *config.Server) { c.Database = dsn; c.Tunnel.Ports = []string{"*"} }
	a := tunneltest.Start(t, tunneltest.Options{Config: opts})
	// The second replica shares the first one's secrets (data directory),
	// as replicas must: the key that seals access-key secrets, the CA.
	b := tunneltest.Start(t, tunneltest.Options{Config: opts, DataDir: a.Dir})
	ctx := context.Background()
	ia, err := sts.NewFromConfig(a.AWS(a.Admin)).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	ib, err := sts.NewFromConfig(b.AWS(a.Admin)).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(ia.Account) != aws.ToString(ib.Account) {
		t.Fatalf("accounts %s and %s", aws.ToString(ia.Account), aws.ToString(ib.Account))
	}
	// A user created on A signs on B right away.
	creds := a.NewUser("carol", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetUser","Resource":"*"}]}`)
	if _, err := iam.NewFromConfig(b.AWS(creds)).GetUser(ctx, &iam.GetUserInput{}); err != nil {
		t.Fatalf("carol on B: %v", err)
	}
	// Each serves a tunnel through its embedded agent.
	echo := tunneltest.Echo(t)
	for _, e := range []*tunneltest.Env{a, b} {
		tun, err := e.Dialer(a.Admin).Dial(ctx, e.Local(echo.Port))
		if err != nil {
			t.Fatal(err)
		}
		tun.Write([]byte("hello"))
		buf := make([]byte, 5)
		if _, err := io.ReadFull(tun, buf); err != nil || !bytes.Equal(buf, []byte("hello")) {
			t.Fatalf("echo %q %v", buf, err)
		}
		tun.Close()
	}
}
