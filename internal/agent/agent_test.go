package agent_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/agent"
	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/server/config"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/testutil/tunneltest"
	"github.com/postern/postern/internal/wire/tunnelproto"
)

func allPorts(c *config.Server) { c.Tunnel.Ports = []string{"*"} }

// loopNet makes a VPC holding 127.0.0.0/24 with an endpoint (its default
// group lets it reach anything), so that a remote agent allowed to dial
// loopback reaches the test's targets.
func loopNet(t *testing.T, e *tunneltest.Env) string {
	_, _, ep, _ := e.Network("127.0.0.0/16", "127.0.0.0/24")
	return ep
}

func target(e *tunneltest.Env, ep string, port int) client.Target {
	return client.Target{EndpointID: ep, DNSName: e.DNSName(), PrivateIP: "127.0.0.1", RemotePort: port}
}

func fastCfg() agent.Config {
	return agent.Config{AllowLoopback: true, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, DrainTimeout: 300 * time.Millisecond}
}

func closedWith(t *testing.T, tun *client.Tunnel, code int, part string) {
	t.Helper()
	_, err := io.Copy(io.Discard, tun)
	var ce *client.ClosedError
	if !errors.As(err, &ce) || ce.Code != code || !strings.Contains(ce.Reason, part) {
		t.Fatalf("tunnel ended with %v, want close %d containing %q", err, code, part)
	}
}

func TestRemoteAgentCarriesBytes(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{Config: allPorts})
	ep := loopNet(t, e)
	a := e.StartAgent(ep, fastCfg())
	e.WaitConnected(a.ID.AgentID, 10*time.Second)
	echo := tunneltest.Echo(t)
	tun, err := e.Dialer(e.Admin).Dial(context.Background(), target(e, ep, echo.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Close()
	payload := make([]byte, 8<<20)
	rand.Read(payload)
	go func() {
		tun.Write(payload)
		tun.CloseWrite()
	}()
	got, err := io.ReadAll(tun)
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("echoed %d of %d bytes: %v", len(got), len(payload), err)
	}
}

// The agent's own egress policy: no loopback unless allowed. The front
// door answers 101 without waiting for the agent's dial and records the
// tunnel open while it runs, so the refusal closes the WebSocket (1011,
// the agent's reason) and the tunnel's CloseTunnel record has the
// agent's code as its reason.
func TestAgentRefusesLoopbackByDefault(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{Config: allPorts})
	ep := loopNet(t, e)
	a := e.StartAgent(ep, agent.Config{})
	e.WaitConnected(a.ID.AgentID, 10*time.Second)
	tun, err := e.Dialer(e.Admin).Dial(context.Background(), target(e, ep, 22))
	if err != nil {
		t.Fatalf("got %v, want the upgrade, then a close with %s", err, tunnelproto.CodeNotAllowed)
	}
	defer tun.Close()
	closedWith(t, tun, 1011, "loopback")
	evs, err := e.Server.Store.ListEvents(context.Background(), store.EventQuery{EventName: "OpenTunnel"})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].ErrorCode != "" {
		t.Fatalf("OpenTunnel records %+v, want one that succeeded", evs)
	}
	closes, err := e.Server.Store.ListEvents(context.Background(), store.EventQuery{EventName: "CloseTunnel"})
	if err != nil {
		t.Fatal(err)
	}
	if len(closes) != 1 || !strings.Contains(closes[0].Body, `"reason":"`+tunnelproto.CodeNotAllowed+`"`) {
		t.Fatalf("CloseTunnel records %+v, want one with reason %s", closes, tunnelproto.CodeNotAllowed)
	}
}

// echoOnce echoes a byte through tun: the front door answers 101 without
// waiting for the agent's dial, so a test that then acts on the agent
// first shows the tunnel open.
func echoOnce(t *testing.T, tun *client.Tunnel) {
	t.Helper()
	if _, err := tun.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(tun, make([]byte, 1)); err != nil {
		t.Fatalf("echo: %v", err)
	}
}

// A lost link ends its tunnels with a reason; the agent reconnects by
// itself and new tunnels work.
func TestAgentLinkLostAndReconnect(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{Config: allPorts})
	ep := loopNet(t, e)
	a := e.StartAgent(ep, fastCfg())
	e.WaitConnected(a.ID.AgentID, 10*time.Second)
	echo := tunneltest.Echo(t)
	d := e.Dialer(e.Admin)
	tun, err := d.Dial(context.Background(), target(e, ep, echo.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Close()
	echoOnce(t, tun)
	e.Server.Relay().Disconnect(a.ID.AgentID, false, "") // the link breaks
	closedWith(t, tun, 1011, "endpoint agent was lost")
	e.WaitConnected(a.ID.AgentID, 10*time.Second)
	tun2, err := d.Dial(context.Background(), target(e, ep, echo.Port))
	if err != nil {
		t.Fatal(err)
	}
	tun2.Close()
}

// SIGTERM (the context ending) drains: open tunnels may finish for
// DrainTimeout, then end with a reason; Run returns nil.
func TestAgentDrain(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{Config: allPorts})
	ep := loopNet(t, e)
	a := e.StartAgent(ep, fastCfg())
	e.WaitConnected(a.ID.AgentID, 10*time.Second)
	echo := tunneltest.Echo(t)
	tun, err := e.Dialer(e.Admin).Dial(context.Background(), target(e, ep, echo.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Close()
	echoOnce(t, tun)
	if err := a.Stop(); err != nil {
		t.Fatalf("Run after a drain: %v", err)
	}
	closedWith(t, tun, 1001, "shutting down")
}

// A revoked agent is told so, stops for good, and cannot come back.
func TestAgentRevoked(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{Config: allPorts})
	ep := loopNet(t, e)
	cfg := fastCfg()
	cfg.StateDir = filepath.Join(t.TempDir(), "agent")
	a := e.StartAgent(ep, cfg)
	e.WaitConnected(a.ID.AgentID, 10*time.Second)
	if _, err := e.Call(e.Admin, "RevokeEndpointAgent", map[string]string{"AgentId": a.ID.AgentID}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.Done():
		var pe *agent.PermanentError
		if err := a.Err(); !errors.As(err, &pe) {
			t.Fatalf("Run returned %v, want a permanent error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the revoked agent kept running")
	}
	// Starting it again fails at once, permanently.
	id, err := agent.LoadIdentity(cfg.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = agent.New(id, cfg).Run(ctx)
	var pe *agent.PermanentError
	if !errors.As(err, &pe) || pe.Code != "AgentRevoked" {
		t.Fatalf("a revoked agent's restart: %v", err)
	}
}

// A restarted server is rejoined by its agents without operator action.
func TestServerRestartAgentRejoins(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{Config: allPorts})
	ep := loopNet(t, e)
	a := e.StartAgent(ep, fastCfg())
	e.WaitConnected(a.ID.AgentID, 10*time.Second)
	echo := tunneltest.Echo(t)
	dir, addr := e.Dir, e.Addr
	e.Stop()
	e2 := tunneltest.Start(t, tunneltest.Options{Config: allPorts, DataDir: dir, Addr: addr})
	e2.WaitConnected(a.ID.AgentID, 10*time.Second)
	tun, err := e2.Dialer(e2.Admin).Dial(context.Background(), target(e2, ep, echo.Port))
	if err != nil {
		t.Fatal(err)
	}
	tun.Close()
}

// Join tokens are single-use and pin the server's CA.
func TestJoinToken(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{Config: allPorts})
	ep := loopNet(t, e)
	tok := e.JoinToken(ep)
	ctx := context.Background()
	if _, err := agent.Join(ctx, tok, agent.Config{StateDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	_, err := agent.Join(ctx, tok, agent.Config{StateDir: t.TempDir()})
	var pe *agent.PermanentError
	if !errors.As(err, &pe) || pe.Code != "InvalidJoinToken" {
		t.Fatalf("second use of a token: %v", err)
	}
	// A token whose CA pin is not the server's: the agent refuses the server.
	parsed, err := tunnelproto.ParseJoinToken(e.JoinToken(ep))
	if err != nil {
		t.Fatal(err)
	}
	parsed.CAPin = strings.Repeat("ab", 32)
	_, err = agent.Join(ctx, parsed.Encode(), agent.Config{StateDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "pinned") {
		t.Fatalf("join with a wrong CA pin: %v", err)
	}
	if _, err := agent.Join(ctx, "not a token", agent.Config{StateDir: t.TempDir()}); !errors.As(err, &pe) {
		t.Fatalf("garbage token: %v", err)
	}
}
