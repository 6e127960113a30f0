package server_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/postern/postern/internal/agent"
	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/server/config"
	"github.com/postern/postern/internal/testutil/pgtest"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// qgCountingTarget accepts connections on 127.0.0.1 and writes each one
// its number (1, 2, …) as decimal text, then holds it until the test ends.
func qgCountingTarget(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for n := 1; n < 100; n++ { // bounded: the test opens a handful
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
			_, _ = c.Write([]byte(strconv.Itoa(n) + "\n"))
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestQGPostgresReplayKnownReachesNoTarget: on PostgreSQL shared by two
// replicas, in single-use mode, a replay of a URL whose first use a
// replica saw committed (its own, or another replica's it read back) is
// refused from that replica's memory before its agent is asked to dial:
// the replays reach no target. (On SQLite:
// frontdoor.TestR2ReplaySeenHereReachesNoTarget.) The target numbers its
// connections; between two fresh tunnels opened around the known replays
// no other connection reached it.
func TestQGPostgresReplayKnownReachesNoTarget(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Start(t)
	opts := func(c *config.Server) {
		replicaConfig(dsn, 200*time.Millisecond)(c)
		c.Tunnel.Replay = "single-use"
	}
	a := tunneltest.Start(t, tunneltest.Options{Config: opts})
	b := tunneltest.Start(t, tunneltest.Options{Config: opts, DataDir: a.Dir})
	ep, _ := joinAgent(t, a, agent.Config{}, b)
	port := qgCountingTarget(t)
	target := func(e *tunneltest.Env) client.Target {
		return client.Target{EndpointID: ep, DNSName: e.DNSName(), PrivateIP: "127.0.0.1", RemotePort: port}
	}
	readNumber := func(tun *client.Tunnel) int {
		t.Helper()
		var b [8]byte
		n := 0
		for n == 0 || b[n-1] != '\n' {
			m, err := tun.Read(b[n:])
			if err != nil {
				t.Fatal(err)
			}
			n += m
		}
		v, err := strconv.Atoi(string(b[:n-1]))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	u, err := client.PresignURL(ctx, aws.Credentials(a.Admin), a.Region, target(a), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	replay := func(e *tunneltest.Env) {
		t.Helper()
		tun, err := e.Dialer(a.Admin).DialURL(ctx, u, a.DNSName())
		var re *client.RefusedError
		if !errors.As(err, &re) || re.Status != 403 || re.ErrorCode != "AccessDeniedException" {
			if tun != nil {
				tun.Close()
			}
			t.Fatalf("replay through %s: %v, want a 403 AccessDeniedException", e.DNSName(), err)
		}
	}
	first, err := a.Dialer(a.Admin).DialURL(ctx, u, a.DNSName())
	if err != nil {
		t.Fatal(err)
	}
	if n := readNumber(first); n != 1 {
		t.Fatalf("the first use reached the target's connection %d, want 1", n)
	}
	first.Close()
	// B's first look misses its memory and asks the database: its agent
	// may have dialled already (not asserted), but B now knows the use.
	replay(b)
	fresh := func(e *tunneltest.Env) int {
		t.Helper()
		tun, err := e.Dialer(a.Admin).Dial(ctx, target(e))
		if err != nil {
			t.Fatal(err)
		}
		defer tun.Close()
		return readNumber(tun)
	}
	before := fresh(a)
	for range 10 {
		replay(a)
		replay(b)
	}
	if after := fresh(b); after != before+1 {
		t.Fatalf("the tunnel opened after the known replays is the target's connection %d, want %d: %d replay dials reached it",
			after, before+1, after-before-1)
	}
}
