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

// messageSignal is a slog.Handler that closes a channel when a record
// with its message is logged, the first time (readiness signals from
// inside an agent).
type messageSignal map[string]*signalOnce

// signalOnce is a channel closed once.
type signalOnce struct {
	ch   chan struct{}
	once sync.Once
}

func (h messageSignal) Enabled(context.Context, slog.Level) bool { return true }
func (h messageSignal) Handle(_ context.Context, r slog.Record) error {
	if s := h[r.Message]; s != nil {
		s.once.Do(func() { close(s.ch) })
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
	target, ln, _, agentClosed = qaTargetSignals(t, e, remote)
	return target, ln, agentClosed
}

// qaTargetSignals is qaTarget, with agentOpened too: closed once a
// remote agent's dial of the target succeeded and its answer was written
// (its "tunnel open" log), nil for the embedded agent.
func qaTargetSignals(t *testing.T, e *tunneltest.Env, remote bool) (target client.Target, ln net.Listener, agentOpened, agentClosed chan struct{}) {
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
		return e.Local(port), ln, nil, agentClosed
	}
	agentOpened = make(chan struct{})
	_, _, ep, _ := e.Network("127.0.0.0/16", "127.0.0.0/24")
	log := slog.New(messageSignal{"tunnel open": {ch: agentOpened}, "tunnel closed": {ch: agentClosed}})
	a := e.StartAgent(ep, agent.Config{AllowLoopback: true, Logger: log})
	e.WaitConnected(a.ID.AgentID, 10*time.Second)
	return client.Target{EndpointID: ep, DNSName: e.DNSName(), PrivateIP: "127.0.0.1", RemotePort: port}, ln, agentOpened, agentClosed
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
// hooks are restored at the test's end), and waits until the agent's
// dial of the target, which overlaps the 101, is done. It returns the
// tunnel, the target's side of it, qaTarget's agentClosed, and a channel
// closed once a send to the agent failed.
//
// Why no byte goes through to a remote agent first (the embedded agent
// gets one, and its arrival says the dial is done): the agent must close
// its stream with none of the server's bytes unread, so that the
// client's next frame resets it (linkmux; an unread byte makes the
// closed stream drain the client's bytes instead, and no send ever
// fails). The agent's link reader writes a byte to the target a moment
// before it marks the byte read, and a target that reset in between
// (under load) left it unread: the test failed about 1 run in 25 at load
// 9 (s15 R6). The agent's "tunnel open" log says its dial is done.
func qaHeldTunnel(t *testing.T, e *tunneltest.Env, remote bool) (tun *client.Tunnel, c *net.TCPConn, agentClosed, failed chan struct{}) {
	t.Helper()
	target, ln, agentOpened, agentClosed := qaTargetSignals(t, e, remote)
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
	if remote {
		select {
		case <-agentOpened:
		case <-time.After(tunneltest.EventBound):
			t.Fatal("the agent did not answer its dial")
		}
		return tun, c, agentClosed, sendFailed
	}
	if _, err := tun.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	return tun, c, agentClosed, sendFailed
}
