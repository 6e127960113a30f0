package agent_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/postern/postern/internal/agent/transparent"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

const (
	ql16CannotPreserve = "this agent cannot preserve client IP addresses; endpoints with PreserveClientIp refuse tunnels through it"
	ql16Connected      = "connected to server"
)

// ql16SetPreserve sets the endpoint's PreserveClientIp through the API.
func ql16SetPreserve(t *testing.T, e *tunneltest.Env, ep string, on bool) {
	t.Helper()
	if _, err := e.EC2(e.Admin).ModifyInstanceConnectEndpoint(context.Background(), &ec2.ModifyInstanceConnectEndpointInput{
		InstanceConnectEndpointId: aws.String(ep), PreserveClientIp: aws.Bool(on)}); err != nil {
		t.Fatalf("modify PreserveClientIp=%v: %v", on, err)
	}
}

// ql16Network creates a VPC on the loopback network with a subnet and an
// endpoint in it (no agent) that preserves client addresses or not.
func ql16Network(t *testing.T, e *tunneltest.Env, preserve bool) string {
	t.Helper()
	ctx := context.Background()
	c := e.EC2(e.Admin)
	v, err := c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("127.0.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: v.Vpc.VpcId, CidrBlock: aws.String("127.0.0.0/24")})
	if err != nil {
		t.Fatal(err)
	}
	ep, err := c.CreateInstanceConnectEndpoint(ctx, &ec2.CreateInstanceConnectEndpointInput{SubnetId: s.Subnet.SubnetId,
		PreserveClientIp: aws.Bool(preserve)})
	if err != nil {
		t.Fatal(err)
	}
	return *ep.InstanceConnectEndpoint.InstanceConnectEndpointId
}

// ql16UntilConnected returns the cannot-preserve lines logged at Warn
// before the next "connected to server" line (the agent decides on the
// link's answer, before it logs that it is connected).
func ql16UntilConnected(t *testing.T, ch <-chan logLine) []logLine {
	t.Helper()
	var warns []logLine
	deadline := time.After(10 * time.Second)
	for range 10000 {
		select {
		case l := <-ch:
			switch {
			case l.msg == ql16Connected:
				return warns
			case l.msg == ql16CannotPreserve && l.level >= slog.LevelWarn:
				warns = append(warns, l)
			}
		case <-deadline:
			t.Fatalf("no %q line logged", ql16Connected)
		}
	}
	t.Fatalf("no %q line among 10,000 lines", ql16Connected)
	return nil
}

// TestQL16WarnsWhenItsEndpointPreserves: the agent warns that its host
// cannot preserve client addresses when the link's answer says its
// endpoint preserves them, with what the host lacks, and not when the
// endpoint does not preserve them or the host can. Before: no Warn at all
// (the line was at Info whatever the endpoint).
func TestQL16WarnsWhenItsEndpointPreserves(t *testing.T) {
	const missing = "the routing of this test's host"
	for _, tc := range []struct {
		name           string
		preserve, lack bool
		wantWarn       bool
	}{
		{"endpoint preserves, host lacks", true, true, true},
		{"endpoint does not preserve, host lacks", false, true, false},
		{"endpoint preserves, host can", true, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := tunneltest.Start(t, tunneltest.Options{Config: allPorts})
			ep := ql16Network(t, e, tc.preserve)
			h := &capture{level: slog.LevelDebug, ch: make(chan logLine, 1024)}
			cfg := fastCfg()
			cfg.StateDir = filepath.Join(t.TempDir(), "agent")
			cfg.Logger = slog.New(h)
			cfg.CheckPreserve = func() error { return nil }
			if tc.lack {
				cfg.CheckPreserve = func() error { return &transparent.MissingError{Items: []string{missing}} }
			}
			a := e.StartAgent(ep, cfg)
			defer a.Stop()
			warns := ql16UntilConnected(t, h.ch)
			switch {
			case tc.wantWarn && (len(warns) != 1 || !strings.Contains(warns[0].attrs["problem"], missing)):
				t.Fatalf("warnings at connect: %+v; want one, with the problem %q", warns, missing)
			case !tc.wantWarn && len(warns) != 0:
				t.Fatalf("warned at connect: %+v; want no warning", warns)
			}
		})
	}
}

// TestQL16WarnsOncePerChangeNotPerLink: an agent linked while its
// endpoint does not preserve client addresses warns when the endpoint is
// modified to preserve them (told on its link, which stays up), and not
// again when its link is re-established. Before: no Warn at all.
func TestQL16WarnsOncePerChangeNotPerLink(t *testing.T) {
	const missing = "the routing of this test's host"
	e := tunneltest.Start(t, tunneltest.Options{Config: allPorts})
	ep := loopNet(t, e)
	h := &capture{level: slog.LevelDebug, ch: make(chan logLine, 1024)}
	cfg := fastCfg()
	cfg.StateDir = filepath.Join(t.TempDir(), "agent")
	cfg.Logger = slog.New(h)
	cfg.CheckPreserve = func() error { return &transparent.MissingError{Items: []string{missing}} }
	a := e.StartAgent(ep, cfg)
	defer a.Stop()
	if w := ql16UntilConnected(t, h.ch); len(w) != 0 {
		t.Fatalf("warned at connect to an endpoint that does not preserve: %+v", w)
	}
	e.WaitConnected(a.ID.AgentID, 10*time.Second)
	since := e.Server.Relay().Connected(ep)[0].ConnectedSince

	ql16SetPreserve(t, e, ep, true)
	for {
		l := waitLine(t, h.ch, ql16CannotPreserve)
		if l.level < slog.LevelWarn {
			continue
		}
		if !strings.Contains(l.attrs["problem"], missing) {
			t.Fatalf("warned with problem %q; want %q", l.attrs["problem"], missing)
		}
		break
	}
	if got := e.Server.Relay().Connected(ep); len(got) != 1 || !got[0].ConnectedSince.Equal(since) {
		t.Fatalf("the agent's link changed (%+v); it should have been told on its link", got)
	}

	// A new link to the same endpoint says the same: no second warning.
	if !e.Server.Relay().Disconnect(a.ID.AgentID, false, "") {
		t.Fatal("the agent was not linked")
	}
	if w := ql16UntilConnected(t, h.ch); len(w) != 0 {
		t.Fatalf("warned again on reconnecting: %+v", w)
	}
}
