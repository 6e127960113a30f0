package agent

import (
	"bufio"
	"bytes"
	"encoding/json"
	"log/slog"
	"net"
	"testing"

	"github.com/postern/postern/internal/wire/tunnelproto"
)

// FuzzReadControl feeds arbitrary bytes to the agent's control reader as
// one link's control stream: it never panics, ends when the stream ends,
// and afterwards believes its endpoint preserves client addresses exactly
// when the last well-formed preserve-client-ip line it read said so (the
// link's word stays when its stream ends and no other link said anything).
func FuzzReadControl(f *testing.F) {
	for _, s := range []string{
		`{"type":"preserve-client-ip","preserveClientIp":true}` + "\n",
		`{"type":"preserve-client-ip","preserveClientIp":true}` + "\n" + `{"type":"preserve-client-ip","preserveClientIp":false}` + "\n",
		`{"type":"preserve-client-ip","preserveClientIp":null}` + "\n",
		`{"type":"preserve\u002dclient-ip","preserveClientIp":true}`,
		`{"type":"vpc","vpcCidrs":["10.9.0.0/16"]}` + "\n" + `{"type":"revoked","message":"x"}` + "\n",
		`{"type":"replicas","replicas":[{"id":"r-1","addr":"127.0.0.1:1"},{"id":"","addr":"x"}]}` + "\n",
		`{"type":"drain"}` + "\r\n" + `not json` + "\n\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		want := false
		sc := bufio.NewScanner(bytes.NewReader(in))
		sc.Buffer(make([]byte, 4096), 64<<10)
		for sc.Scan() {
			var msg tunnelproto.Control
			if json.Unmarshal(sc.Bytes(), &msg) == nil && msg.Type == tunnelproto.ControlPreserveClientIP && msg.PreserveClientIP != nil {
				want = *msg.PreserveClientIP
			}
		}
		a := &Agent{log: slog.New(slog.DiscardHandler), preserveProblem: "no routing"}
		server, agentSide := net.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			a.readControl(agentSide, make(chan string, 1), make(chan []string, 1), newLinkSet(func(string) {}))
		}()
		go func() {
			_, _ = server.Write(in) // fails once the reader stopped reading (a line too long)
			server.Close()
		}()
		<-done
		agentSide.Close()
		if got := a.endpointPreserves.Load(); got != want {
			t.Fatalf("after %q the agent believes its endpoint preserves = %v; want %v", in, got, want)
		}
	})
}
