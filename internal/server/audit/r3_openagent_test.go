package audit

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
)

// TestR3RecoveredCloseNamesTheOpensAgent: a close recovery records, for
// either reason (the server restarted, the replica carrying the tunnel is
// gone), openAgentId equal to the agentId of the tunnel's OpenTunnel
// record (the join key an auditor uses), and the same agent as agentId,
// the carrier it cannot know; an open record it cannot read gives
// neither.
func TestR3RecoveredCloseNamesTheOpensAgent(t *testing.T) {
	opened := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	m := meta(role(), "ev-open")
	m.Time, m.RequestID = opened, "r1"
	body, err := encodeRecord(func() *Record {
		r := OpenTunnel(m, params, eiceARN, OpenTunnelData{TunnelID: "tun-r1", AgentID: "eni-0a1b2c3d4e5f60718"}, "", "")
		return &r
	}())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, reason, body, want string
	}{
		{"server restart", ReasonServerRestart, body, "eni-0a1b2c3d4e5f60718"},
		{"replica gone", ReasonReplicaGone, body, "eni-0a1b2c3d4e5f60718"},
		{"unreadable open record", ReasonReplicaGone, "{", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := store.UnclosedTunnel{TunnelID: "tun-r1", Carrier: "old",
				Open: store.Event{EventID: "ev-open", EventTime: opened, EventName: EventOpenTunnel, TunnelID: "tun-r1", Body: tc.body}}
			e, err := unclosedEvent(u, Unclosed{Reason: tc.reason}, opened.Add(time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			var rec closeRecord
			if err := json.Unmarshal([]byte(e.Body), &rec); err != nil {
				t.Fatal(err)
			}
			if d := rec.ServiceEventDetails; d.OpenAgentID != tc.want || d.AgentID != tc.want || d.Reason != tc.reason {
				t.Fatalf("recovered close: agentId %q, openAgentId %q, reason %q; want %q, %q, %q", d.AgentID, d.OpenAgentID, d.Reason, tc.want, tc.want, tc.reason)
			}
		})
	}
}
