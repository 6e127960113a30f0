package agent

import (
	"io"
	"log/slog"
	"net"
	"slices"
	"testing"
	"time"
)

// TestQL16ControlReaderIgnoresUnknownMessages: the agent's control reader
// passes over a message type it does not know (a newer server's, such as
// "preserve-client-ip" to the previous release's agent) and fields it does
// not know, and goes on reading: the next VPC list still arrives and the
// link is not taken for revoked. It compiles and passes on the previous
// release's code too (raw JSON, no new names), which is the proof that an
// older agent ignores the new server's control message.
func TestQL16ControlReaderIgnoresUnknownMessages(t *testing.T) {
	server, agentSide := net.Pipe()
	defer server.Close()
	a := &Agent{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	revoked := make(chan string, 1)
	vpcNets := make(chan []string, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.readControl(agentSide, revoked, vpcNets, newLinkSet(func(string) {}))
	}()
	for _, line := range []string{
		`{"type":"preserve-client-ip","preserveClientIp":true}`,
		`{"type":"preserve-client-ip","preserveClientIp":false}`,
		`{"type":"some-later-type","message":"x","another":{"n":1}}`,
		`{"type":"vpc","vpcCidrs":["10.9.0.0/16"],"preserveClientIp":true}`,
	} {
		_ = server.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(server, line+"\n"); err != nil {
			t.Fatalf("write %s: %v", line, err)
		}
	}
	select {
	case got := <-vpcNets:
		if !slices.Equal(got, []string{"10.9.0.0/16"}) {
			t.Fatalf("VPC list %q after the unknown messages; want [10.9.0.0/16]", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the VPC list after the unknown messages never arrived")
	}
	select {
	case msg := <-revoked:
		t.Fatalf("taken for revoked (%q)", msg)
	default:
	}
	server.Close()
	<-done
}
