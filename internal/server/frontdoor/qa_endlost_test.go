package frontdoor_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/internal/agent"
	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/server/frontdoor"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// messageSignal is a slog.Handler that closes ch when a record with the
// message msg is logged (a readiness signal from inside an agent).
type messageSignal struct {
	msg  string
	ch   chan struct{}
	once *sync.Once
}

func (h messageSignal) Enabled(context.Context, slog.Level) bool { return true }
func (h messageSignal) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.once.Do(func() { close(h.ch) })
	}
	return nil
}
func (h messageSignal) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h messageSignal) WithGroup(string) slog.Handler      { return h }

// qaCloseDetails returns the only CloseTunnel record's details.
func qaCloseDetails(t *testing.T, e *tunneltest.Env) (reason string, bytesIn int64) {
	t.Helper()
	evs := e.WaitEvents(store.EventQuery{EventName: "CloseTunnel"}, tunneltest.EventBound, func(evs []store.Event) bool { return len(evs) == 1 })
	var rec struct {
		ServiceEventDetails struct {
			Reason  string
			BytesIn int64
		}
	}
	if err := json.Unmarshal([]byte(evs[0].Body), &rec); err != nil {
		t.Fatal(err)
	}
	return rec.ServiceEventDetails.Reason, rec.ServiceEventDetails.BytesIn
}

// qaTarget starts the tunnel's target: one of the agent's kinds (the
// server's embedded agent, or a real agent over its link) and a loopback
// listener. agentClosed is closed once the agent closed the tunnel's
// stream after its target ended (a remote agent's "tunnel closed" log;
// at once for the embedded agent, which has no stream of its own).
func qaTarget(t *testing.T, e *tunneltest.Env, remote bool) (target client.Target, ln net.Listener, agentClosed chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	port := ln.Addr().(*net.TCPAddr).Port
	agentClosed = make(chan struct{})
	if !remote {
		close(agentClosed)
		return e.Local(port), ln, agentClosed
	}
	_, _, ep, _ := e.Network("127.0.0.0/16", "127.0.0.0/24")
	log := slog.New(messageSignal{msg: "tunnel closed", ch: agentClosed, once: new(sync.Once)})
	a := e.StartAgent(ep, agent.Config{AllowLoopback: true, Logger: log})
	e.WaitConnected(a.ID.AgentID, 10*time.Second)
	return client.Target{EndpointID: ep, DNSName: e.DNSName(), PrivateIP: "127.0.0.1", RemotePort: port}, ln, agentClosed
}

// A target that resets while the client uploads ends the tunnel as
// TargetReset, also when the reset of the agent's stream (a client frame
// landing on the stream the agent closed after its End) reaches the
// server's writer before the server's reader reached the End: the test
// holds the reader until a send failed, every run. (Before: AgentLost.)
func TestQAEndBeforeAResetIsTheRecordedReason(t *testing.T) {
	for _, tc := range []struct {
		name   string
		remote bool
	}{{"embedded agent", false}, {"remote agent", true}} {
		t.Run(tc.name, func(t *testing.T) {
			e := startAll(t)
			tun, c, agentClosed, sendFailed := qaHeldTunnel(t, e, tc.remote)
			// The target resets with nothing unread: the agent sends End,
			// closes its stream (FIN), and resets it when the client's
			// next frame lands.
			_ = c.SetLinger(0)
			c.Close()
			<-agentClosed

			tunneltest.WatchEnd(tun) // the client reads (and answers our close)
			stop := make(chan struct{})
			defer close(stop)
			wrote := make(chan error, 1)
			go func() {
				buf := make([]byte, 16<<10)
				for i := 0; i < 4096; i++ { // bounded: 64 MiB
					select {
					case <-stop:
						wrote <- nil
						return
					default:
					}
					if _, err := tun.Write(buf); err != nil {
						wrote <- err
						return
					}
				}
				wrote <- nil
			}()
			select {
			case <-sendFailed:
			case <-time.After(tunneltest.EventBound):
				select {
				case err := <-wrote:
					t.Fatalf("no send to the agent failed after the target's reset (the client's writes ended: %v)", err)
				default:
					t.Fatal("no send to the agent failed after the target's reset")
				}
			}
			if reason, _ := qaCloseDetails(t, e); reason != "TargetReset" {
				t.Fatalf("CloseTunnel reason %s, want TargetReset (the agent's End came before the reset)", reason)
			}
		})
	}
}

// qaHeldTunnel opens a tunnel through e to a qaTarget (see qaTarget for
// remote) while the test holds the server's reader of the agent's stream
// until a send to the agent failed (bounded by tunneltest.EventBound; the
// hooks are restored at the test's end), and sends one byte through, so
// that the dial, which overlaps the 101, is done. It returns the tunnel,
// the target's side of it, qaTarget's agentClosed, and a channel closed
// once a send to the agent failed.
func qaHeldTunnel(t *testing.T, e *tunneltest.Env, remote bool) (tun *client.Tunnel, c *net.TCPConn, agentClosed, failed chan struct{}) {
	t.Helper()
	target, ln, agentClosed := qaTarget(t, e, remote)
	sendFailed := make(chan struct{})
	var once sync.Once
	restore := frontdoor.SetQATestHooks(func() {
		select { // bounded: a run that never fails a send fails in its test
		case <-sendFailed:
		case <-time.After(tunneltest.EventBound):
		}
	}, func() { once.Do(func() { close(sendFailed) }) })
	t.Cleanup(restore)

	accepted := make(chan *net.TCPConn, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- c.(*net.TCPConn)
		}
	}()
	tun, err := e.Dialer(e.Admin).Dial(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tun.Close() })
	c = <-accepted
	if _, err := tun.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	return tun, c, agentClosed, sendFailed
}
