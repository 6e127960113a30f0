package webterm_test

import (
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/postern/postern/internal/testutil/refused"
)

// TestTerminalRefusedTargetShowsItsCode: the front door answers 101
// before the agent's dial, so a target that refuses the connection closes
// the tunnel (1011) instead of refusing the request. The page is told as
// of any refusal: {"type":"error"} with the attempt's code
// (ConnectionRefused, from its OpenTunnel record) and message, not a
// session that ended with "target-reset" (as since the early 101).
func TestTerminalRefusedTargetShowsItsCode(t *testing.T) {
	_, p, err := net.SplitHostPort(refused.Addr(t))
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, port)
	b, _, err := f.dial(t, "/console/api/terminal", f.header("alice"))
	if err != nil {
		t.Fatalf("terminal WebSocket: %v", err)
	}
	b.sendJSON(map[string]any{"csrf": "csrf-alice", "instanceId": f.instance, "osUser": f.osUser, "port": port, "cols": 80, "rows": 24})
	m := b.next()
	if m == nil || m["type"] != "error" || m["code"] != "ConnectionRefused" {
		t.Fatalf("first message %v, want the refusal with its code ConnectionRefused", m)
	}
	if msg, _ := m["message"].(string); !strings.Contains(msg, "Connection refused") {
		t.Fatalf("refusal %v, want the dial's message", m)
	}
}
