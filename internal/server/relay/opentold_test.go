package relay_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/postern/postern/internal/server/relay"
	"github.com/postern/postern/internal/wire/tunnelproto"
)

// TestOpenToldNamesTheAgentBeforeItDials: OpenTold tells the agent it
// asks before the dial request leaves (the front door names it in the
// attempt's record, committed while the dial runs): Open has not
// answered while the callback holds, and its answer names the same agent.
// (The agent refuses the loopback target: its refusal is the answer.)
func TestOpenToldNamesTheAgentBeforeItDials(t *testing.T) {
	e := start(t)
	_, _, ep, _ := e.Network("10.30.0.0/16", "10.30.1.0/24")
	a := e.StartAgent(ep, fast())
	e.WaitConnected(a.ID.AgentID, 10*time.Second)
	told := make(chan string, 4)
	hold := make(chan struct{})
	type answer struct {
		agentID string
		err     error
	}
	done := make(chan answer, 1)
	go func() {
		_, agentID, err := e.Server.Relay().OpenTold(context.Background(), ep,
			tunnelproto.DialRequest{TunnelID: "tnl-0123456789abcdef0", Address: "127.0.0.1", Port: 9, TimeoutMillis: 5000},
			func(agentID string) {
				told <- agentID
				<-hold
			})
		done <- answer{agentID, err}
	}()
	var first string
	select {
	case first = <-told:
	case <-time.After(10 * time.Second):
		t.Fatal("OpenTold named no agent")
	}
	select {
	case ans := <-done:
		t.Fatalf("Open answered %+v while the callback held, before the dial request could leave", ans)
	default:
	}
	close(hold)
	ans := <-done
	var de *relay.DialError
	if first != a.ID.AgentID || ans.agentID != first || !errors.As(ans.err, &de) || de.AgentID != first {
		t.Fatalf("told %q, answered %q with %v; want agent %s named by both, and its refusal", first, ans.agentID, ans.err, a.ID.AgentID)
	}
	if n := len(told); n != 0 {
		t.Fatalf("%d more agents named, want none (one agent, no fail-over)", n)
	}
}
