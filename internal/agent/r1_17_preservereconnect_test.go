package agent_test

import (
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/postern/postern/internal/agent/transparent"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// TestR117FalseAgainAfterAReconnect: with the real server, an agent whose
// endpoint preserved client addresses (warned at connect), then was
// modified not to, and whose link was then re-established to the same
// replica (a new control stream: the old link's word must be forgotten,
// the new link's "false" believed), warns again when the endpoint is
// modified to preserve once more, on its live link; and not when that
// link is re-established again (the new link says the same).
func TestR117FalseAgainAfterAReconnect(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{Config: allPorts})
	ep := ql16Network(t, e, true)
	h := &capture{level: slog.LevelDebug, ch: make(chan logLine, 1024)}
	cfg := fastCfg()
	cfg.StateDir = filepath.Join(t.TempDir(), "agent")
	cfg.Logger = slog.New(h)
	cfg.CheckPreserve = func() error { return &transparent.MissingError{Items: []string{"the routing of this test's host"}} }
	a := e.StartAgent(ep, cfg)
	defer a.Stop()
	if w := ql16UntilConnected(t, h.ch); len(w) != 1 {
		t.Fatalf("warnings at connect to an endpoint that preserves: %+v; want 1", w)
	}
	e.WaitConnected(a.ID.AgentID, 10*time.Second)

	ql16SetPreserve(t, e, ep, false)
	if !e.Server.Relay().Disconnect(a.ID.AgentID, false, "") {
		t.Fatal("the agent was not linked")
	}
	if w := ql16UntilConnected(t, h.ch); len(w) != 0 {
		t.Fatalf("warned on reconnecting to an endpoint that no longer preserves: %+v", w)
	}
	e.WaitConnected(a.ID.AgentID, 10*time.Second)

	ql16SetPreserve(t, e, ep, true)
	for l := waitLine(t, h.ch, ql16CannotPreserve); l.level < slog.LevelWarn; l = waitLine(t, h.ch, ql16CannotPreserve) {
	}
	if !e.Server.Relay().Disconnect(a.ID.AgentID, false, "") {
		t.Fatal("the agent was not linked")
	}
	if w := ql16UntilConnected(t, h.ch); len(w) != 0 {
		t.Fatalf("warned again on reconnecting: %+v", w)
	}
}
