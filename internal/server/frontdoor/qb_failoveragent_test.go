package frontdoor_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/internal/agent"
	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// qbCutProxy forwards an agent's connections to the server; once armed,
// the first bytes the server sends on a link (the next dial request, on
// an idle link) are not forwarded: that link is cut instead.
type qbCutProxy struct {
	ln    net.Listener
	mu    sync.Mutex
	armed bool
	cut   chan struct{}
}

func qbStartCutProxy(t *testing.T, server string) *qbCutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &qbCutProxy{ln: ln, cut: make(chan struct{})}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", server)
			if err != nil {
				c.Close()
				continue
			}
			t.Cleanup(func() { c.Close(); s.Close() })
			go func() { _, _ = io.Copy(s, c); s.Close() }()
			go func() {
				buf := make([]byte, 64<<10)
				for {
					n, err := s.Read(buf)
					if n > 0 {
						p.mu.Lock()
						cut := p.armed
						p.armed = false
						p.mu.Unlock()
						if cut {
							// cut is closed first: once the server sees
							// the link go it may fail over, and the
							// tunnel carry its bytes, before this
							// goroutine runs again.
							close(p.cut)
							c.Close()
							s.Close()
							return
						}
						if _, werr := c.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						c.Close()
						return
					}
				}
			}()
		}
	}()
	return p
}

func (p *qbCutProxy) arm() {
	p.mu.Lock()
	p.armed = true
	p.mu.Unlock()
}

// qbCloseAgents reads the two agents a CloseTunnel record names: the
// carrier (agentId) and the one its OpenTunnel names (openAgentId).
func qbCloseAgents(t *testing.T, ev store.Event) (carrier, opened string) {
	t.Helper()
	var rec struct {
		D struct {
			AgentID     string `json:"agentId"`
			OpenAgentID string `json:"openAgentId"`
		} `json:"serviceEventDetails"`
	}
	if err := json.Unmarshal([]byte(ev.Body), &rec); err != nil {
		t.Fatalf("CloseTunnel %s: %v", ev.EventID, err)
	}
	return rec.D.AgentID, rec.D.OpenAgentID
}

// TestQBFailoverRecordsNameBothAgents: the OpenTunnel record commits while
// the agent dials, so it names the first agent the relay asked. When that
// agent loses its link before it answers, the relay fails over to
// another agent of the endpoint, which carries the tunnel. The
// CloseTunnel record then names both, unambiguously: agentId the carrier,
// openAgentId the agent its OpenTunnel names. Without a fail-over both
// are that one agent. Before, the CloseTunnel named only the carrier: one
// tunnel, two different agents on record and nothing telling why.
func TestQBFailoverRecordsNameBothAgents(t *testing.T) {
	for _, failover := range []bool{true, false} {
		name := map[bool]string{true: "fail-over", false: "one agent"}[failover]
		t.Run(name, func(t *testing.T) { testQBFailoverRecords(t, failover) })
	}
}

func testQBFailoverRecords(t *testing.T, failover bool) {
	ctx := context.Background()
	e := startAll(t)
	_, _, ep, _ := e.Network("127.0.0.0/16", "127.0.0.0/24")
	cfg := agent.Config{AllowLoopback: true, KeepAlive: time.Hour}
	// Agent A reaches the server through the proxy, and connects first:
	// the relay asks it first (both carry no tunnel; ties keep the order
	// in which the links came).
	cfg.StateDir = t.TempDir()
	idA, err := agent.Join(ctx, e.JoinToken(ep), cfg)
	must(t, err)
	proxy := qbStartCutProxy(t, idA.Server)
	_, port, _ := net.SplitHostPort(proxy.ln.Addr().String())
	host, _, _ := net.SplitHostPort(idA.Server)
	idA.Server = net.JoinHostPort(host, port)
	tunneltest.RunAgent(t, idA, cfg)
	e.WaitConnected(idA.AgentID, 10*time.Second)
	b := e.StartAgent(ep, agent.Config{AllowLoopback: true, KeepAlive: time.Hour})
	e.WaitConnected(b.ID.AgentID, 10*time.Second)

	echo := tunneltest.Echo(t)
	if failover {
		proxy.arm()
	}
	tun, err := e.Dialer(e.Admin).Dial(ctx, client.Target{EndpointID: ep, DNSName: e.DNSName(), PrivateIP: "127.0.0.1", RemotePort: echo.Port})
	must(t, err)
	if err := tunneltest.RoundTrip(tun, []byte("carried")); err != nil {
		t.Fatalf("the tunnel: %v", err)
	}
	wantCarrier := idA.AgentID
	if failover {
		select {
		case <-proxy.cut:
		default:
			t.Fatal("agent A's link was not cut: no fail-over happened")
		}
		wantCarrier = b.ID.AgentID
	}
	tun.Close()
	cl := e.WaitEvents(store.EventQuery{EventName: "CloseTunnel"}, 10*time.Second, func(evs []store.Event) bool { return len(evs) == 1 })[0]
	carrier, opened := qbCloseAgents(t, cl)
	open := openAgent(t, events(t, e, "OpenTunnel")[0])
	if open != idA.AgentID {
		t.Fatalf("OpenTunnel names agent %s; want %s (A, asked first)", open, idA.AgentID)
	}
	if carrier != wantCarrier {
		t.Fatalf("CloseTunnel agentId %s; want the carrier %s (A is %s, B %s)", carrier, wantCarrier, idA.AgentID, b.ID.AgentID)
	}
	if opened != open {
		t.Fatalf("CloseTunnel openAgentId %q, OpenTunnel agentId %s (carrier %s): the pair does not say which agent the open named", opened, open, carrier)
	}
}
