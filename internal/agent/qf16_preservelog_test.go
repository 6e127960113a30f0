package agent_test

import (
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/agent/transparent"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// TestQF16PreserveProblemIsNoWarning: an agent whose host cannot preserve
// client addresses says so at start at Info, with what the host lacks,
// and not as a warning: most endpoints do not preserve client addresses,
// and the agent is not told which do (the endpoint says so where it
// matters: its StateMessage, describe-endpoint-agents, and the refusal the
// client sees, which carry the same reason). The server is still told on
// the link. Before: a Warn line at every start of such an agent.
func TestQF16PreserveProblemIsNoWarning(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{Config: allPorts})
	ep := loopNet(t, e)
	const missing = "the routing of this test's host"
	h := &capture{level: slog.LevelDebug, ch: make(chan logLine, 1024)}
	cfg := fastCfg()
	cfg.StateDir = filepath.Join(t.TempDir(), "lacking")
	cfg.Logger = slog.New(h)
	cfg.CheckPreserve = func() error { return &transparent.MissingError{Items: []string{missing}} }
	a := e.StartAgent(ep, cfg)
	defer a.Stop()
	l := waitLine(t, h.ch, "this agent cannot preserve client IP addresses; endpoints with PreserveClientIp refuse tunnels through it")
	if l.level != slog.LevelInfo || !strings.Contains(l.attrs["problem"], missing) {
		t.Errorf("logged at %v with problem %q; want Info, with %q", l.level, l.attrs["problem"], missing)
	}
	e.WaitConnected(a.ID.AgentID, 10*time.Second)
	st := e.Server.Relay().Connected(ep)
	if len(st) != 1 || st[0].PreserveClientIP || !strings.Contains(st[0].PreserveProblem, missing) {
		t.Fatalf("the relay's view of the agent: %+v; want it unable to preserve, with its reason", st)
	}
}
