package frontdoor_test

import (
	"context"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/postern/postern/internal/agent"
	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/server/config"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// countingTarget accepts connections on 127.0.0.1 and writes each one its
// number (1, 2, …) as one byte, then holds it until the test ends.
func countingTarget(t *testing.T) int {
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
			_, _ = c.Write([]byte(strconv.Itoa(n % 10)))
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestR2ReplaySeenHereReachesNoTarget: in single-use mode, a URL whose
// first use this server recorded is refused from the store's memory; the
// refusal is known before the agent would be asked to dial, so the
// replay reaches no target (before, decide started a remote agent's dial
// and only then looked at the guard's answer: the agent connected the
// target for nothing). The target numbers its connections: the tunnel
// opened after the replays is its second.
func TestR2ReplaySeenHereReachesNoTarget(t *testing.T) {
	ctx := context.Background()
	e := tunneltest.Start(t, tunneltest.Options{Config: func(c *config.Server) { allPorts(c); c.Tunnel.Replay = "single-use" }})
	_, _, ep, _ := e.Network("127.0.0.0/16", "127.0.0.0/24")
	a := e.StartAgent(ep, agent.Config{AllowLoopback: true})
	e.WaitConnected(a.ID.AgentID, 10*time.Second)
	target := client.Target{EndpointID: ep, DNSName: e.DNSName(), PrivateIP: "127.0.0.1", RemotePort: countingTarget(t)}
	u, err := client.PresignURL(ctx, aws.Credentials(e.Admin), e.Region, target, time.Now())
	must(t, err)
	d := e.Dialer(e.Admin)
	readNumber := func(tun *client.Tunnel) string {
		t.Helper()
		b := make([]byte, 1)
		if _, err := io.ReadFull(tun, b); err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	first, err := d.DialURL(ctx, u, e.DNSName())
	must(t, err)
	if n := readNumber(first); n != "1" {
		t.Fatalf("the first use reached the target's connection %s, want 1", n)
	}
	first.Close()
	for range 5 {
		_, err := d.DialURL(ctx, u, e.DNSName())
		wantRefusal(t, err, 403, "AccessDeniedException", "once")
	}
	fresh, err := d.Dial(ctx, target)
	must(t, err)
	defer fresh.Close()
	if n := readNumber(fresh); n != "2" {
		t.Fatalf("the tunnel opened after the replays is the target's connection %s, want 2: the replays' dials reached it", n)
	}
}
