package server_test

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/postern/postern/internal/agent"
	"github.com/postern/postern/internal/client"
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

// An agent joined through one replica links to every replica, so a tunnel
// works through whichever replica the client reaches; a replica that
// stops drops out of the agents' lists and one that starts is linked to
// without restarting the agent.
func TestAgentLinksToEveryReplica(t *testing.T) {
	dsn := pgtest.Start(t)
	opts := func(c *config.Server) {
		c.Database = dsn
		c.Tunnel.Ports = []string{"*"}
		c.ReplicaHeartbeat = 200 * time.Millisecond
	}
	a := tunneltest.Start(t, tunneltest.Options{Config: opts})
	b := tunneltest.Start(t, tunneltest.Options{Config: opts, DataDir: a.Dir})
	_, _, ep, _ := a.Network("127.0.0.0/16", "127.0.0.0/24")
	ag := a.StartAgent(ep, agent.Config{AllowLoopback: true, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		DrainTimeout: 300 * time.Millisecond})
	a.WaitConnected(ag.ID.AgentID, 10*time.Second)
	b.WaitConnected(ag.ID.AgentID, 10*time.Second)

	echo := tunneltest.Echo(t)
	target := func(e *tunneltest.Env) client.Target {
		return client.Target{EndpointID: ep, DNSName: e.DNSName(), PrivateIP: "127.0.0.1", RemotePort: echo.Port}
	}
	roundTrip := func(e *tunneltest.Env) {
		t.Helper()
		tun, err := e.Dialer(a.Admin).Dial(context.Background(), target(e))
		if err != nil {
			t.Fatalf("tunnel through %s: %v", e.Addr, err)
		}
		defer tun.Close()
		if _, err := tun.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 5)
		if _, err := io.ReadFull(tun, buf); err != nil || string(buf) != "hello" {
			t.Fatalf("echo through %s: %q %v", e.Addr, buf, err)
		}
	}
	roundTrip(a)
	roundTrip(b)

	// A stops: B goes on serving the agent's tunnels.
	a.Stop()
	roundTrip(b)

	// C starts: the agent links to it by itself.
	c := tunneltest.Start(t, tunneltest.Options{Config: opts, DataDir: a.Dir})
	c.WaitConnected(ag.ID.AgentID, 10*time.Second)
	roundTrip(c)
	roundTrip(b)
	select {
	case <-ag.Done():
		t.Fatalf("the agent stopped: %v", ag.Err())
	default:
	}
}
