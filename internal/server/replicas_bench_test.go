package server_test

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/postern/postern/internal/agent"
	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/server/config"
	"github.com/postern/postern/internal/testutil/pgtest"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// The replica benchmarks compare one replica with two on the same
// PostgreSQL database, in the same run: "one" sends all the load to
// replica A, "two" spreads it over A and B (each parallel goroutine takes
// the next replica in turn). Both replicas, PostgreSQL and the client share
// this machine's cores, so the ratio shows what the cross-replica
// machinery costs, not what more machines would add.

// startReplicas starts two servers on one new PostgreSQL database (skipped
// when PostgreSQL is not installed, as pgtest does); B shares A's data
// directory (its secrets and CA), as replicas must.
func startReplicas(b *testing.B) (*tunneltest.Env, *tunneltest.Env) {
	b.Helper()
	dsn := pgtest.Start(b)
	opts := func(c *config.Server) {
		c.Database = dsn
		c.Tunnel.Ports = []string{"*"}
	}
	ra := tunneltest.Start(b, tunneltest.Options{Config: opts})
	rb := tunneltest.Start(b, tunneltest.Options{Config: opts, DataDir: ra.Dir})
	return ra, rb
}

// replicaCases are the sub-benchmarks: the replicas each one uses.
func replicaCases(ra, rb *tunneltest.Env) []struct {
	name string
	envs []*tunneltest.Env
} {
	return []struct {
		name string
		envs []*tunneltest.Env
	}{{"one", []*tunneltest.Env{ra}}, {"two", []*tunneltest.Env{ra, rb}}}
}

// benchReplicas warms both replicas up with one call each, outside the
// timings, then runs one sub-benchmark a replica case: parallel callers,
// each on the next replica of the case, make calls with the function
// newCaller returns for their replica, and the rate is reported in unit.
func benchReplicas(b *testing.B, ra, rb *tunneltest.Env, unit string, newCaller func(e *tunneltest.Env) func() error) {
	b.Helper()
	for _, e := range []*tunneltest.Env{ra, rb} {
		if err := newCaller(e)(); err != nil {
			b.Fatal(err)
		}
	}
	for _, c := range replicaCases(ra, rb) {
		b.Run(c.name, func(b *testing.B) {
			var next atomic.Uint64
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				call := newCaller(c.envs[(next.Add(1)-1)%uint64(len(c.envs))])
				for pb.Next() {
					if err := call(); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), unit)
		})
	}
}

// BenchmarkReplicasAPI measures signed STS GetCallerIdentity calls (AWS
// SDK for Go v2) against one replica and against two on one PostgreSQL.
func BenchmarkReplicasAPI(b *testing.B) {
	ra, rb := startReplicas(b)
	ctx := context.Background()
	benchReplicas(b, ra, rb, "req/s", func(e *tunneltest.Env) func() error {
		client := sts.NewFromConfig(e.AWS(ra.Admin))
		return func() error {
			if _, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
				return fmt.Errorf("GetCallerIdentity on %s: %w", e.Addr, err)
			}
			return nil
		}
	})
}

// BenchmarkReplicasTunnelOpen measures tunnel opens through one external
// agent joined to an endpoint (it links to every replica): open, echo a
// few bytes, close; against one replica and against two on one
// PostgreSQL.
func BenchmarkReplicasTunnelOpen(b *testing.B) {
	ra, rb := startReplicas(b)
	_, _, ep, _ := ra.Network("127.0.0.0/16", "127.0.0.0/24")
	ag := ra.StartAgent(ep, agent.Config{AllowLoopback: true, DrainTimeout: time.Second})
	ra.WaitConnected(ag.ID.AgentID, 30*time.Second)
	rb.WaitConnected(ag.ID.AgentID, 30*time.Second)
	echo := tunneltest.Echo(b)
	target := func(e *tunneltest.Env) client.Target {
		return client.Target{EndpointID: ep, DNSName: e.DNSName(), PrivateIP: "127.0.0.1", RemotePort: echo.Port}
	}
	ctx := context.Background()
	benchReplicas(b, ra, rb, "opens/s", func(e *tunneltest.Env) func() error {
		d, t := e.Dialer(ra.Admin), target(e)
		return func() error {
			if err := openEcho(ctx, d, t); err != nil {
				return fmt.Errorf("tunnel through %s: %w", e.Addr, err)
			}
			return nil
		}
	})
	select {
	case <-ag.Done():
		b.Fatalf("the agent stopped: %v", ag.Err())
	default:
	}
}

// openEcho opens a tunnel, echoes a few bytes through it and closes it
// gracefully (half-close, then wait for the other side's end, bounded).
func openEcho(ctx context.Context, d *client.Dialer, t client.Target) error {
	tun, err := d.Dial(ctx, t)
	if err != nil {
		return err
	}
	defer tun.Close()
	msg := []byte("ping")
	if _, err := tun.Write(msg); err != nil {
		return err
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(tun, buf); err != nil {
		return err
	}
	if string(buf) != string(msg) {
		return fmt.Errorf("echo: got %q", buf)
	}
	if err := tun.CloseWrite(); err != nil {
		return err
	}
	_ = tun.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.Copy(io.Discard, tun)
	return nil
}
