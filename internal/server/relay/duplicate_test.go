package relay_test

import (
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/internal/agent"
	"github.com/postern/postern/internal/server/config"
	"github.com/postern/postern/internal/server/relay"
	"github.com/postern/postern/internal/testutil/syncbuf"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// logBuffer is a buffer safe for the goroutines writing to it and the test.
type logBuffer struct{ syncbuf.Buffer }

func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

// waitFor polls cond (every 10 ms, at most limit).
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool, logs ...*logBuffer) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			var all []string
			for _, l := range logs {
				all = append(all, l.String())
			}
			t.Fatalf("waited %v for %s; logs:\n%s", limit, what, strings.Join(all, "\n---\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func startLogged(t *testing.T, log *logBuffer) *tunneltest.Env {
	return tunneltest.Start(t, tunneltest.Options{Logger: log.logger(), Config: func(c *config.Server) {
		c.Tunnel.Ports = []string{"*"}
		c.EC2.EndpointsPerVPC, c.EC2.EndpointsPerSubnet = -1, -1
	}})
}

// Two processes with one agent identity (a copied state directory): the
// server refuses the second link while the first answers, logs it at
// warn, and the second agent logs the refusal as such; the first keeps
// its link instead of the two taking it from each other in turns.
func TestDuplicateLinkRefused(t *testing.T) {
	var srvLog, firstLog, secondLog logBuffer
	e := startLogged(t, &srvLog)
	_, _, ep, _ := e.Network("10.22.0.0/16", "10.22.1.0/24")
	cfg := fast()
	cfg.Logger = firstLog.logger()
	first := e.StartAgent(ep, cfg)
	e.WaitConnected(first.ID.AgentID, 10*time.Second)
	since := e.Server.Relay().Connected(ep)[0].ConnectedSince

	cfg2 := fast()
	cfg2.Logger = secondLog.logger()
	tunneltest.RunAgent(t, first.ID, cfg2) // the same identity, another "process"
	refusals := func() int { return strings.Count(secondLog.String(), relay.CodeAgentAlreadyConnected) }
	waitFor(t, 10*time.Second, "the second agent to be refused twice", func() bool { return refusals() >= 2 }, &srvLog, &firstLog, &secondLog)
	if !strings.Contains(secondLog.String(), "the server refused the link") || strings.Contains(secondLog.String(), "link to server lost") {
		t.Errorf("the second agent does not log the refusal plainly:\n%s", secondLog.String())
	}
	if !strings.Contains(srvLog.String(), "level=WARN msg=\"refused a second link of a connected agent") {
		t.Errorf("the server did not log the refusal at warn:\n%s", srvLog.String())
	}
	c := e.Server.Relay().Connected(ep)
	if len(c) != 1 || !c[0].ConnectedSince.Equal(since) {
		t.Fatalf("the first agent's link was replaced: %+v (connected since %v before)", c, since)
	}
	if strings.Contains(firstLog.String(), "link to server lost") {
		t.Fatalf("the first agent lost its link:\n%s", firstLog.String())
	}
}

// An agent that reconnects while this replica still holds its previous
// link, which is dead (no answer; the server has not noticed yet), is not
// refused: the dead link is replaced.
func TestReconnectReplacesDeadLink(t *testing.T) {
	var srvLog, firstLog, secondLog logBuffer
	e := startLogged(t, &srvLog)
	_, _, ep, _ := e.Network("10.23.0.0/16", "10.23.1.0/24")
	// The first run of the agent reaches the server through a relay of
	// bytes that the test can freeze: the link then stays open without
	// answering, as after a network failure.
	p := newFreezer(t, e.Addr)
	id := joinIdentity(t, e, ep)
	viaProxy := *id
	viaProxy.Server = net.JoinHostPort("localhost", p.port())
	cfg := fast()
	cfg.Logger = firstLog.logger()
	cfg.KeepAlive = time.Hour // the agent does not notice either
	tunneltest.RunAgent(t, &viaProxy, cfg)
	e.WaitConnected(id.AgentID, 10*time.Second)
	since := e.Server.Relay().Connected(ep)[0].ConnectedSince
	p.freeze()

	cfg2 := fast()
	cfg2.Logger = secondLog.logger()
	start := time.Now()
	tunneltest.RunAgent(t, id, cfg2) // the agent again, directly
	// 30 s is a hang guard, not the verdict: the probe is told from the
	// fallback (the server's keepalive ending the frozen link) by the
	// refusal below, which the second agent logs for as long as the dead
	// link stays registered and was not probed away.
	waitFor(t, 30*time.Second, "the reconnected agent's link", func() bool {
		c := e.Server.Relay().Connected(ep)
		return len(c) == 1 && !c[0].ConnectedSince.Equal(since)
	}, &srvLog, &secondLog)
	t.Logf("the agent's second link replaced the dead one %v after it started (link probe: %v)", time.Since(start).Round(time.Millisecond), relay.LinkProbeTimeout)
	if strings.Contains(secondLog.String(), relay.CodeAgentAlreadyConnected) {
		t.Errorf("a reconnect after a dead link was refused:\n%s", secondLog.String())
	}
}

func joinIdentity(t *testing.T, e *tunneltest.Env, ep string) *agent.Identity {
	t.Helper()
	cfg := fast()
	cfg.StateDir = t.TempDir()
	id, err := agent.Join(t.Context(), e.JoinToken(ep), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// freezer relays TCP connections to a target until frozen; then it stops
// moving bytes (both ways, on every connection) but keeps them open.
type freezer struct {
	ln     net.Listener
	frozen chan struct{}
	once   sync.Once
}

func newFreezer(t *testing.T, target string) *freezer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{ln: ln, frozen: make(chan struct{})}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, u)
			mu.Unlock()
			go f.pipe(u, c)
			go f.pipe(c, u)
		}
	}()
	return f
}

func (f *freezer) port() string {
	_, p, _ := net.SplitHostPort(f.ln.Addr().String())
	return p
}

func (f *freezer) freeze() { f.once.Do(func() { close(f.frozen) }) }

// pipe copies src to dst until frozen (then it holds what it read).
func (f *freezer) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		select {
		case <-f.frozen:
			return
		default:
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if err != io.EOF {
				dst.Close()
			}
			return
		}
	}
}
