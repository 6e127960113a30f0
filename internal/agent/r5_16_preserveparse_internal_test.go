package agent

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"
)

// TestR516ControlPreserveGarbageIsNotTold: a ControlPreserveClientIP line
// whose field is missing, null or not a boolean changes nothing (no panic,
// no Warn, the agent's view stays as it was), and the reader goes on: a
// later well-formed "true" still warns, exactly once. A VPC line after each
// case is the barrier (the reader handles lines in order).
func TestR516ControlPreserveGarbageIsNotTold(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lines []string
		want  bool // the agent's view afterwards
		warns int
	}{
		{"missing field", []string{`{"type":"preserve-client-ip"}`}, false, 0},
		{"null", []string{`{"type":"preserve-client-ip","preserveClientIp":null}`}, false, 0},
		{"string", []string{`{"type":"preserve-client-ip","preserveClientIp":"true"}`}, false, 0},
		{"number", []string{`{"type":"preserve-client-ip","preserveClientIp":1}`}, false, 0},
		{"object", []string{`{"type":"preserve-client-ip","preserveClientIp":{"x":true}}`}, false, 0},
		{"not json", []string{`{"type":"preserve-client-ip","preserveClientIp":tru`}, false, 0},
		{"type case", []string{`{"type":"Preserve-Client-IP","preserveClientIp":true}`}, false, 0},
		{"garbage then true", []string{`{"type":"preserve-client-ip","preserveClientIp":"yes"}`,
			`{"type":"preserve-client-ip","preserveClientIp":true}`}, true, 1},
		{"true then garbage keeps true", []string{`{"type":"preserve-client-ip","preserveClientIp":true}`,
			`{"type":"preserve-client-ip","preserveClientIp":null}`, `{"type":"preserve-client-ip"}`,
			`{"type":"preserve-client-ip","preserveClientIp":true}`}, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			a := &Agent{log: slog.New(slog.NewTextHandler(&buf, nil)), preserveProblem: "no nft"}
			server, agentSide := net.Pipe()
			defer server.Close()
			vpcNets := make(chan []string, 1)
			done := make(chan struct{})
			go func() {
				defer close(done)
				a.readControl(agentSide, make(chan string, 1), vpcNets, newLinkSet(func(string) {}))
			}()
			for _, line := range append(tc.lines, `{"type":"vpc","vpcCidrs":["10.9.0.0/16"]}`) {
				_ = server.SetWriteDeadline(time.Now().Add(10 * time.Second))
				if _, err := io.WriteString(server, line+"\n"); err != nil {
					t.Fatalf("write %s: %v", line, err)
				}
			}
			select {
			case <-vpcNets:
			case <-time.After(10 * time.Second):
				t.Fatal("the reader stopped: the VPC list after the lines never arrived")
			}
			server.Close()
			<-done
			if got := a.endpointPreserves.Load(); got != tc.want {
				t.Errorf("agent believes its endpoint preserves = %v; want %v", got, tc.want)
			}
			if got := strings.Count(buf.String(), "level=WARN"); got != tc.warns {
				t.Errorf("%d warnings; want %d:\n%s", got, tc.warns, buf.String())
			}
		})
	}
}
