package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/postern/postern/internal/agent"
	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/server/config"
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
	opts := replicaConfig(pgtest.Start(t), 200*time.Millisecond)
	a := tunneltest.Start(t, tunneltest.Options{Config: opts})
	b := tunneltest.Start(t, tunneltest.Options{Config: opts, DataDir: a.Dir})
	ep, ag := joinAgent(t, a, agent.Config{DrainTimeout: 300 * time.Millisecond}, b)

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

// Live tunnels across replicas: a tunnel carried by B is listed on A with
// its bytes, terminated from A, and revoked by a change made on A, each
// closing it within a second with a reason the client prints.
func TestTunnelsAcrossReplicas(t *testing.T) {
	opts := replicaConfig(pgtest.Start(t), 200*time.Millisecond)
	a := tunneltest.Start(t, tunneltest.Options{Config: opts})
	b := tunneltest.Start(t, tunneltest.Options{Config: opts, DataDir: a.Dir})
	ep, _ := joinAgent(t, a, agent.Config{}, b)
	echo := tunneltest.Echo(t)
	ctx := context.Background()
	const tunnelPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2-instance-connect:OpenTunnel","Resource":"*"}]}`

	// open opens a tunnel through B as creds and echoes n bytes.
	open := func(creds aws.Credentials, n int) (*client.Tunnel, *tunneltest.Ending) {
		t.Helper()
		tun, err := b.Dialer(creds).Dial(ctx, client.Target{EndpointID: ep, DNSName: b.DNSName(), PrivateIP: "127.0.0.1", RemotePort: echo.Port})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tun.Close() })
		msg := bytes.Repeat([]byte("x"), n)
		if _, err := tun.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(tun, msg); err != nil {
			t.Fatal(err)
		}
		return tun, tunneltest.WatchEnd(tun)
	}
	type listing struct {
		Tunnels []struct {
			TunnelId, Principal string
			BytesIn, BytesOut   int64
		}
	}
	// listOnA waits until A lists a tunnel of principal suffix with n
	// bytes each way (B publishes within a sync interval).
	listOnA := func(user string, n int64) string {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			out, err := a.CallJSON(a.Admin, "ListTunnels", map[string]string{})
			if err != nil {
				t.Fatal(err)
			}
			var l listing
			if err := json.Unmarshal([]byte(out), &l); err != nil {
				t.Fatal(err)
			}
			for _, tn := range l.Tunnels {
				if strings.HasSuffix(tn.Principal, ":user/"+user) && tn.BytesIn == n && tn.BytesOut == n {
					return tn.TunnelId
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("A does not list %s's tunnel through B with %d bytes: %s", user, n, out)
			}
		}
	}

	// Listed on A with B's bytes, then terminated from A.
	erin := a.NewUser("erin", tunnelPolicy)
	_, ended := open(erin, 300)
	id := listOnA("erin", 300)
	start := time.Now()
	out, err := a.CallJSON(a.Admin, "TerminateTunnel", map[string]string{"TunnelId": id})
	if err != nil || !strings.Contains(out, `"Terminated":true`) {
		t.Fatalf("TerminateTunnel on A: %s %v", out, err)
	}
	ended.Within(t, start, time.Second, 1008, "terminated by")

	// Revoked on A: the access key is deactivated there.
	fred := a.NewUser("fred", tunnelPolicy)
	_, ended = open(fred, 10)
	start = time.Now()
	if _, err := iam.NewFromConfig(a.AWS(a.Admin)).UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("fred"),
		AccessKeyId: aws.String(fred.AccessKeyID), Status: "Inactive"}); err != nil {
		t.Fatal(err)
	}
	ended.Within(t, start, time.Second, 1008, "deactivated")

	// Ended tunnels leave the listing; an unknown id is refused.
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := a.CallJSON(a.Admin, "ListTunnels", map[string]string{})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out, `"Tunnels":[]`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ended tunnels still listed: %s", out)
		}
	}
	if out, err := a.CallJSON(a.Admin, "TerminateTunnel", map[string]string{"TunnelId": id}); err == nil || !strings.Contains(err.Error(), "ResourceNotFoundException") {
		t.Fatalf("terminating an ended tunnel: %s %v", out, err)
	}
}

// Competing API calls on two replicas at once: creates of an endpoint in
// one subnet with different client tokens (exactly one wins, the others
// get the quota error), then with one client token (one endpoint, every
// caller gets it).
func TestReplicasRaceOnAPI(t *testing.T) {
	dsn := pgtest.Start(t)
	off := false
	opts := func(c *config.Server) { c.Database = dsn; c.Agent.Embedded = &off }
	a := tunneltest.Start(t, tunneltest.Options{Config: opts})
	b := tunneltest.Start(t, tunneltest.Options{Config: opts, DataDir: a.Dir})
	clients := []*ec2.Client{a.EC2(a.Admin), b.EC2(a.Admin)}
	ctx := context.Background()
	subnet := func(cidr string) string {
		v, err := clients[0].CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String(cidr)})
		if err != nil {
			t.Fatal(err)
		}
		s, err := clients[1].CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: v.Vpc.VpcId, CidrBlock: aws.String(cidr)})
		if err != nil {
			t.Fatal(err)
		}
		return *s.Subnet.SubnetId
	}
	const callers = 8
	race := func(subnetID string, token func(i int) string) (codes map[string]int, ids map[string]bool) {
		codes, ids = map[string]int{}, map[string]bool{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range callers {
			wg.Go(func() {
				<-start
				out, err := clients[i%2].CreateInstanceConnectEndpoint(ctx, &ec2.CreateInstanceConnectEndpointInput{
					SubnetId: aws.String(subnetID), ClientToken: aws.String(token(i))})
				mu.Lock()
				defer mu.Unlock()
				code := ""
				var ae smithy.APIError
				if errors.As(err, &ae) {
					code = ae.ErrorCode()
				} else if err != nil {
					code = err.Error()
				}
				codes[code]++
				if err == nil {
					ids[*out.InstanceConnectEndpoint.InstanceConnectEndpointId] = true
				}
			})
		}
		close(start)
		wg.Wait()
		return codes, ids
	}
	codes, ids := race(subnet("10.1.0.0/16"), func(i int) string { return fmt.Sprint("token-", i) })
	if codes[""] != 1 || codes["ResourceLimitExceeded"] != callers-1 || len(ids) != 1 {
		t.Errorf("different tokens on two replicas: codes %v, endpoints %v", codes, ids)
	}
	codes, ids = race(subnet("10.2.0.0/16"), func(int) string { return "same-token" })
	if codes[""] != callers || len(ids) != 1 {
		t.Errorf("one token on two replicas: codes %v, endpoints %v", codes, ids)
	}
}

// A replica that starts or stops tells the others at once (NOTIFY), so
// agents link to a new replica long before the others' next heartbeat
// (a minute here) and a stopped one leaves the list as soon.
func TestReplicasNoticeEachOtherAtOnce(t *testing.T) {
	opts := replicaConfig(pgtest.Start(t), time.Minute)
	a := tunneltest.Start(t, tunneltest.Options{Config: opts})
	_, ag := joinAgent(t, a, agent.Config{})
	b := tunneltest.Start(t, tunneltest.Options{Config: opts, DataDir: a.Dir})
	b.WaitConnected(ag.ID.AgentID, 10*time.Second)
	if got := len(a.Server.Relay().Replicas()); got != 2 {
		t.Fatalf("A's relay lists %d replicas, want 2", got)
	}
	b.Stop()
	deadline := time.Now().Add(10 * time.Second)
	for len(a.Server.Relay().Replicas()) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("A still lists %d replicas 10 s after B stopped", len(a.Server.Relay().Replicas()))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// replicaConfig configures a replica on the database dsn: every port
// allowed, heartbeat every hb.
func replicaConfig(dsn string, hb time.Duration) func(*config.Server) {
	return func(c *config.Server) {
		c.Database = dsn
		c.Tunnel.Ports = []string{"*"}
		c.ReplicaHeartbeat = hb
	}
}

// joinAgent makes a network of a's (127.0.0.0/16) with an endpoint, starts
// an agent for it through a (loopback allowed, quick retries, then cfg's
// other fields) and waits until it is linked to a and to each of others.
func joinAgent(t *testing.T, a *tunneltest.Env, cfg agent.Config, others ...*tunneltest.Env) (endpointID string, ag *tunneltest.Agent) {
	t.Helper()
	_, _, endpointID, _ = a.Network("127.0.0.0/16", "127.0.0.0/24")
	cfg.AllowLoopback, cfg.MinBackoff, cfg.MaxBackoff = true, 20*time.Millisecond, 200*time.Millisecond
	ag = a.StartAgent(endpointID, cfg)
	for _, e := range append([]*tunneltest.Env{a}, others...) {
		e.WaitConnected(ag.ID.AgentID, 10*time.Second)
	}
	return endpointID, ag
}
