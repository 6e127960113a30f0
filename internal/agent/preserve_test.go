package agent_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/postern/postern/internal/agent/transparent"
	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/testutil/tunneltest"
	"github.com/postern/postern/internal/wire/tunnelproto"
)

// TestPreserveNeverSilent: with PreserveClientIp on the endpoint, a
// tunnel is never opened from the agent's own address. An agent whose
// start-up check found its host lacking (CheckPreserve stands in for a
// host without the routing; the real check runs in the network-namespace
// tests) tells the server, which shows the reason and refuses with it; once
// an agent that can preserve is connected, tunnels go only to it, and it
// refuses a client address it must not connect from (here loopback)
// rather than dialling from its own.
func TestPreserveNeverSilent(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{Config: allPorts})
	ep := loopNet(t, e)
	ctx := context.Background()
	echo := tunneltest.Echo(t)
	const missing = "the routing of this test's host"
	cfg := fastCfg()
	cfg.StateDir = filepath.Join(t.TempDir(), "lacking")
	cfg.CheckPreserve = func() error { return &transparent.MissingError{Items: []string{missing}} }
	lacking := e.StartAgent(ep, cfg)
	e.WaitConnected(lacking.ID.AgentID, 10*time.Second)
	// (The endpoint is create-complete once an agent joined.)
	if _, err := e.EC2(e.Admin).ModifyInstanceConnectEndpoint(ctx, &ec2.ModifyInstanceConnectEndpointInput{
		InstanceConnectEndpointId: aws.String(ep), PreserveClientIp: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}

	st := e.Server.Relay().Connected(ep)
	if len(st) != 1 || st[0].PreserveClientIP || !strings.Contains(st[0].PreserveProblem, missing) || !st[0].ProxyProtocolV2 {
		t.Fatalf("the relay's view of the agent: %+v; want it unable to preserve, with its reason", st)
	}
	_, err := e.Dialer(e.Admin).Dial(ctx, target(e, ep, echo.Port))
	var re *client.RefusedError
	if !errors.As(err, &re) || re.Status != 503 || re.ErrorCode != tunnelproto.CodePreserveUnavailable ||
		!strings.Contains(re.Message, missing) || !strings.Contains(re.Message, lacking.ID.AgentID) {
		t.Fatalf("tunnel through an agent that cannot preserve: %v; want 503 %s with the agent's reason", err, tunnelproto.CodePreserveUnavailable)
	}

	cfg = fastCfg()
	cfg.StateDir = filepath.Join(t.TempDir(), "able")
	cfg.CheckPreserve = func() error { return nil }
	able := e.StartAgent(ep, cfg)
	e.WaitConnected(able.ID.AgentID, 10*time.Second)
	for i := 0; i < 3; i++ { // each goes to the able agent, whatever the load
		_, err = e.Dialer(e.Admin).Dial(ctx, target(e, ep, echo.Port))
		if !errors.As(err, &re) || re.ErrorCode != tunnelproto.CodePreserveUnavailable || !strings.Contains(re.Message, "not a unicast address") {
			t.Fatalf("tunnel %d from a loopback client through an agent that can preserve: %v; want %s: not a unicast address", i, err, tunnelproto.CodePreserveUnavailable)
		}
	}
	// The attempts' records name the agent that answered: never the one
	// that cannot preserve.
	evs, err := e.Server.Store.ListEvents(ctx, store.EventQuery{EventName: "OpenTunnel"})
	if err != nil {
		t.Fatal(err)
	}
	byAble := 0
	for _, ev := range evs {
		if strings.Contains(ev.Body, `"agentId":"`+lacking.ID.AgentID+`"`) {
			t.Fatalf("an attempt went to the agent that cannot preserve: %s", ev.Body)
		}
		if strings.Contains(ev.Body, `"agentId":"`+able.ID.AgentID+`"`) && ev.ErrorCode == tunnelproto.CodePreserveUnavailable {
			byAble++
		}
	}
	if byAble != 3 {
		t.Fatalf("%d refused attempts name the agent that can preserve, want 3", byAble)
	}
}
