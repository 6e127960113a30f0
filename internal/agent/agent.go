// Package agent is the endpoint agent (`postern endpoint-agent`): the
// process inside a private network that serves one Instance Connect
// Endpoint. It needs no inbound port: it dials out to the Postern server,
// joins its endpoint once with a single-use join token, and then keeps a
// TLS link to the server open, authenticating with its own key on every
// connection (a TLS client certificate, in handshakes that offer the ALPN
// protocol tunnelproto.AgentALPN: the server asks other clients for no
// certificate). Over that link the server asks it to connect tunnels to
// targets; it dials them (only inside its VPC, see package egress) and
// carries the bytes.
//
// The link is kept alive with keepalives; a lost link is re-dialled with
// exponential backoff and jitter; permanent refusals (a revoked agent, a
// deleted endpoint) stop the agent instead of being retried. On SIGTERM
// (its context ending) the agent drains: it tells the server to route no
// new tunnels to it, lets open tunnels finish for up to DrainTimeout, then
// ends the rest with a reason their clients see.
package agent

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/postern/postern/internal/agent/egress"
	"github.com/postern/postern/internal/agent/transparent"
	"github.com/postern/postern/internal/util/bufpool"
	"github.com/postern/postern/internal/util/idlemem"
	"github.com/postern/postern/internal/util/netutil"
	"github.com/postern/postern/internal/wire/linkmux"
	"github.com/postern/postern/internal/wire/tlsbatch"
	"github.com/postern/postern/internal/wire/tunnelproto"
)

// Config configures an agent.
type Config struct {
	// StateDir holds the agent's identity (see Identity.Save).
	StateDir string
	// Name is what the agent calls itself; default the host name.
	Name    string
	Version string
	// AllowLoopback and AllowHost relax the egress policy (package egress)
	// for agents that serve their own host.
	AllowLoopback bool
	AllowHost     bool
	// DialTimeout bounds a connection attempt to a target (default 10 s;
	// a dial request may ask for less).
	DialTimeout time.Duration
	// DrainTimeout is how long open tunnels may go on after the agent is
	// told to stop (default 30 s).
	DrainTimeout time.Duration
	// Backoff bounds the wait between reconnection attempts (defaults
	// 250 ms and 30 s).
	MinBackoff, MaxBackoff time.Duration
	// KeepAlive is the link's keepalive interval (default 15 s).
	KeepAlive time.Duration
	Logger    *slog.Logger
	// RootCAs, when set, replaces the pinned CA for verifying the server
	// (tests).
	RootCAs *x509.CertPool
	// KeysListen, when set, is where the agent serves pushed SSH keys to
	// the instance helpers of its network (HOST:PORT).
	KeysListen string
	// KeysListener, when set, is used instead of listening on KeysListen
	// (tests).
	KeysListener net.Listener
	// CheckPreserve checks, at start, whether the agent can connect from
	// clients' addresses (client IP preservation); default
	// transparent.Check. What it reports is logged and told to the server
	// on every link, which refuses tunnels that need preservation when no
	// agent of the endpoint can.
	CheckPreserve func() error
}

func (c *Config) defaults() {
	if c.Name == "" {
		c.Name, _ = os.Hostname()
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 10 * time.Second
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = 30 * time.Second
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = 250 * time.Millisecond
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.CheckPreserve == nil {
		c.CheckPreserve = transparent.Check
	}
}

// PermanentError is a refusal from the server that retrying cannot fix.
type PermanentError struct {
	Code, Message string
}

func (e *PermanentError) Error() string {
	return fmt.Sprintf("the server refused this agent permanently (%s): %s", e.Code, e.Message)
}

// Join redeems a join token: it makes the agent's key, connects to the
// server named in the token trusting only the pinned CA, and saves the
// identity the server assigns into cfg.StateDir.
func Join(ctx context.Context, token string, cfg Config) (*Identity, error) {
	cfg.defaults()
	tok, err := tunnelproto.ParseJoinToken(token)
	if err != nil {
		return nil, &PermanentError{Code: "InvalidToken", Message: err.Error()}
	}
	cert, err := NewKey(cfg.Name, time.Now())
	if err != nil {
		return nil, fmt.Errorf("agent: make key: %w", err)
	}
	host, _, _ := net.SplitHostPort(tok.Server)
	var ca *x509.Certificate
	tlsCfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         host,
		Certificates:       []tls.Certificate{cert},
		NextProtos:         tunnelproto.AgentNextProtos(), // the server asks for the key only then
		InsecureSkipVerify: true,                          // verified by VerifyConnection against the pinned CA
		VerifyConnection:   pinnedVerifier(tok.CAPin, host, &ca),
	}
	body, _ := json.Marshal(tunnelproto.JoinRequest{Token: tok.Secret, Name: cfg.Name, Version: cfg.Version})
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg, ForceAttemptHTTP2: false}, Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+tok.Server+tunnelproto.JoinPath, strings.NewReader(string(body)))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("agent: join %s: %w", tok.Server, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return nil, responseError(resp.StatusCode, data)
	}
	var jr tunnelproto.JoinResponse
	if err := json.Unmarshal(data, &jr); err != nil {
		return nil, fmt.Errorf("agent: join answer: %w", err)
	}
	if ca == nil {
		return nil, errors.New("agent: the server's CA was not seen")
	}
	id := &Identity{AgentID: jr.AgentID, EndpointID: jr.EndpointID, VpcID: jr.VpcID, Server: tok.Server,
		VpcCIDRs: jr.VpcCIDRs, Cert: cert, CA: ca}
	if err := id.Save(cfg.StateDir); err != nil {
		return nil, err
	}
	cfg.Logger.Info("joined endpoint", "agent", id.AgentID, "endpoint", id.EndpointID, "server", id.Server)
	return id, nil
}

func responseError(status int, body []byte) error {
	var er tunnelproto.ErrorResponse
	if json.Unmarshal(body, &er) == nil && er.Code != "" {
		if er.Permanent {
			return &PermanentError{Code: er.Code, Message: er.Message}
		}
		return &RefusedError{Status: status, Code: er.Code, Message: er.Message}
	}
	return fmt.Errorf("server answered %d: %.200s", status, body)
}

// RefusedError is a refusal from the server that may pass (retried with
// backoff), such as AgentAlreadyConnected: another process holds this
// agent's link.
type RefusedError struct {
	Status        int
	Code, Message string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("server answered %d %s: %s", e.Status, e.Code, e.Message)
}

// Agent serves an endpoint with a saved identity.
type Agent struct {
	cfg Config
	id  *Identity
	log *slog.Logger

	// features and preserveProblem are what the agent tells the server
	// on each link (tunnelproto.HeaderAgentFeatures and
	// HeaderPreserveProblem), set by Run's start-up check.
	features        []string
	preserveProblem string
	// endpointPreserves is whether the agent's endpoint preserves client
	// addresses, as its live links said (a link's answer or a
	// ControlPreserveClientIP; see linkSaidPreserve); false until one says
	// so.
	endpointPreserves atomic.Bool
	// linkPreserve is what each live link said of it, keyed by the link's
	// control stream, under preserveMu (which also orders the view's
	// changes).
	preserveMu   sync.Mutex
	linkPreserve map[net.Conn]bool

	mu       sync.Mutex
	draining bool
	tunnels  map[*tunnel]struct{}
	idle     chan struct{} // closed when draining and no tunnel is open

	// release gives the streams' empty receive buffers and the free
	// memory back to the system once tunnels stopped opening and closing
	// (package idlemem).
	release *idlemem.Releaser
}

// New returns an agent for an identity.
func New(id *Identity, cfg Config) *Agent {
	cfg.defaults()
	a := &Agent{cfg: cfg, id: id, log: cfg.Logger.With("agent", id.AgentID, "endpoint", id.EndpointID),
		tunnels: map[*tunnel]struct{}{}}
	a.release = idlemem.New(0, 0, bufpool.Lends, func() {
		a.shrinkAll()
		debug.FreeOSMemory()
	})
	return a
}

// Run keeps the agent connected until ctx ends (then it drains and
// returns nil) or the server refuses it permanently (a *PermanentError).
func (a *Agent) Run(ctx context.Context) error {
	defer a.release.Stop()
	a.checkFeatures()
	ln := a.cfg.KeysListener
	if ln == nil && a.cfg.KeysListen != "" {
		var err error
		if ln, err = net.Listen("tcp", a.cfg.KeysListen); err != nil {
			return fmt.Errorf("agent: key service: %w", err)
		}
	}
	if ln != nil {
		kctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := a.serveKeys(kctx, ln); err != nil {
				a.log.Error("key service stopped", "error", err)
			}
		}()
		defer func() { cancel(); <-done }()
	}
	// Links to the server's replicas (links.go); the first permanent
	// refusal stops them all.
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var (
		wg      sync.WaitGroup
		errOnce sync.Once
		refusal error
	)
	var m *linkSet
	loop := func(id string) {
		defer wg.Done()
		defer m.exit(id)
		if err := a.linkLoop(runCtx, m, id); err != nil {
			errOnce.Do(func() { refusal = err })
			stop()
		}
	}
	m = newLinkSet(func(id string) { wg.Add(1); go loop(id) })
	wg.Add(1)
	go loop("")
	<-runCtx.Done()
	m.close()
	wg.Wait()
	return refusal
}

// checkFeatures finds out what the agent can do beyond a plain dial and
// logs what its host lacks for client IP preservation.
func (a *Agent) checkFeatures() {
	a.features = []string{tunnelproto.FeatureProxyV2}
	if err := a.cfg.CheckPreserve(); err != nil {
		a.preserveProblem = err.Error()
		// At Info, not Warn: most endpoints do not preserve client
		// addresses, and the agent does not know yet whether its own
		// does. The server says so on the link; heardPreserve warns
		// then. Kept at start so that an operator setting a host up for
		// preservation sees what it lacks before any endpoint asks.
		a.log.Info(cannotPreserve, "problem", err)
		return
	}
	a.features = append(a.features, tunnelproto.FeaturePreserveClientIP)
	a.log.Info("client IP preservation available: targets can see the client's address")
}

// cannotPreserve is the line an agent whose host cannot preserve client
// addresses logs: at Info at start, at Warn when its endpoint asks.
const cannotPreserve = "this agent cannot preserve client IP addresses; endpoints with PreserveClientIp refuse tunnels through it"

// heardPreserve records whether the agent's endpoint preserves client
// addresses, as its links say (linkSaidPreserve), and warns when it has
// just started to and this host cannot: once per change to true, not at
// every (re)connection of each link to each replica, which all say the
// same.
func (a *Agent) heardPreserve(on bool) {
	if was := a.endpointPreserves.Swap(on); on && !was && a.preserveProblem != "" {
		a.log.Warn(cannotPreserve, "problem", a.preserveProblem)
	}
}

// linkLoop keeps one link up: to replica id, or for id "" to the address
// the agent joined through. It returns nil when ctx ends or the replica is
// gone, and the *PermanentError of a refusal.
func (a *Agent) linkLoop(ctx context.Context, m *linkSet, id string) error {
	backoff := a.cfg.MinBackoff
	for {
		addr, ok := m.turn(ctx, id, a.id.Server)
		if !ok {
			return nil
		}
		start := time.Now()
		err := a.connect(ctx, addr, id, m)
		if ctx.Err() != nil {
			return nil
		}
		var pe *PermanentError
		if errors.As(err, &pe) {
			a.log.Error("stopping: the server refused this agent", "server", addr, "code", pe.Code, "message", pe.Message)
			return err
		}
		if time.Since(start) > 30*time.Second {
			backoff = a.cfg.MinBackoff // the link was up a while: start over
		}
		wait := backoff/2 + rand.N(backoff/2+1) // jitter in [backoff/2, backoff]
		var re *RefusedError
		if errors.As(err, &re) {
			// Not a lost link: say what the server said.
			a.log.Error("the server refused the link; retrying", "server", addr, "code", re.Code, "message", re.Message, "in", wait.Round(time.Millisecond))
		} else {
			a.log.Warn("link to server lost; reconnecting", "server", addr, "error", err, "in", wait.Round(time.Millisecond))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(backoff*2, a.cfg.MaxBackoff)
	}
}

// tlsConfig is the TLS configuration for reaching the server at addr: the
// pinned server CA and the agent's key, offered with the agent ALPN
// protocol (the server asks for a client certificate only then).
func (a *Agent) tlsConfig(addr string) *tls.Config {
	host, _, _ := net.SplitHostPort(addr)
	roots := a.cfg.RootCAs
	if roots == nil {
		roots = x509.NewCertPool()
		roots.AddCert(a.id.CA)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host, RootCAs: roots,
		Certificates: []tls.Certificate{a.id.Cert}, NextProtos: tunnelproto.AgentNextProtos()}
}

// connect dials the server at addr for link loop id, opens the link and
// serves it until it breaks or ctx ends (then it drains first).
func (a *Agent) connect(ctx context.Context, addr, id string, m *linkSet) error {
	nd := &net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}
	raw, err := nd.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("dial %s: %w", addr, err)
	}
	// Beneath TLS, a tlsbatch.Conn lets the link send a large frame's
	// records in one system call (linkmux).
	conn := tls.Client(tlsbatch.Wrap(raw), a.tlsConfig(addr))
	hctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	err = conn.HandshakeContext(hctx)
	cancel()
	if err != nil {
		raw.Close()
		return fmt.Errorf("dial %s: %w", addr, err)
	}
	// The upgrade request, by hand: the connection is ours afterwards.
	host, _, _ := net.SplitHostPort(addr)
	extra := ""
	if len(a.features) > 0 {
		extra += fmt.Sprintf("%s: %s\r\n", tunnelproto.HeaderAgentFeatures, tunnelproto.FormatFeatures(a.features))
	}
	if a.preserveProblem != "" {
		extra += fmt.Sprintf("%s: %s\r\n", tunnelproto.HeaderPreserveProblem, sanitizeHeader(a.preserveProblem))
	}
	req := fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: %s\r\n%s: %s\r\n%s: %s\r\n%s\r\n",
		tunnelproto.LinkPath, host, tunnelproto.UpgradeProtocol,
		tunnelproto.HeaderAgentName, sanitizeHeader(a.cfg.Name), tunnelproto.HeaderAgentVersion, sanitizeHeader(a.cfg.Version), extra)
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		conn.Close()
		return fmt.Errorf("link request: %w", err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		conn.Close()
		return fmt.Errorf("link answer: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		conn.Close()
		return responseError(resp.StatusCode, body)
	}
	_ = conn.SetDeadline(time.Time{})
	cidrs := a.id.VpcCIDRs
	if h := resp.Header.Get(tunnelproto.HeaderVPCCIDRs); h != "" {
		cidrs = strings.Split(h, ",")
	}
	policy, err := a.policy(cidrs)
	if err != nil {
		conn.Close()
		return err
	}
	preserve, preserveKnown := tunnelproto.ParseEndpointPreserve(resp.Header.Get(tunnelproto.HeaderEndpointPreserveClientIP))
	reached := resp.Header.Get(tunnelproto.HeaderReplicaID)
	var replicas []tunnelproto.Replica
	if reached != "" {
		if replicas, err = tunnelproto.ParseReplicas(resp.Header.Get(tunnelproto.HeaderReplicas)); err != nil {
			a.log.Warn("ignoring the server's list of replicas", "server", addr, "error", err)
			replicas = nil
		}
	}
	// Each tunnel stream is served straight from the link's receive loop
	// (linkmux.Config.Handle: no accepting goroutine woken first), by
	// the policy of the moment; once ctx ended (draining), with a context
	// of its own, so that serveStream refuses it as draining rather than
	// failing its dial.
	var cur atomic.Pointer[egress.Policy]
	cur.Store(&policy)
	serve := func(s net.Conn) {
		sctx := ctx
		if ctx.Err() != nil {
			sctx = context.Background()
		}
		a.serveStream(sctx, s, *cur.Load())
	}
	// Bytes the server sent right after its answer belong to the session.
	sess, err := linkmux.Acceptor(&netutil.BufferedConn{Conn: conn, R: br}, linkmux.Config{KeepAliveInterval: a.cfg.KeepAlive, Logger: a.cfg.Logger, Handle: serve})
	if err != nil {
		conn.Close()
		return err
	}
	defer sess.Close()
	ctrl, err := sess.Open(ctx)
	if err != nil {
		return fmt.Errorf("open control stream: %w", err)
	}
	// What the answer said counts while the link lives (readControl ends
	// it); an older server does not say: the agent's view stays as it was.
	if preserveKnown {
		a.linkSaidPreserve(ctrl, preserve)
	}
	a.log.Info("connected to server", "server", addr, "replica", reached)
	m.up(id, reached)
	defer m.down(id)
	if replicas != nil {
		m.setReplicas(replicas)
	}
	revoked := make(chan string, 1)
	vpcNets := make(chan []string, 1)
	go a.readControl(ctrl, revoked, vpcNets, m)

	shrink := time.NewTicker(shrinkInterval)
	defer shrink.Stop()
	for {
		select {
		case <-shrink.C:
			a.shrinkAll()
		case cidrs := <-vpcNets:
			// The VPC's networks changed (an IPv6 block associated or
			// removed): new tunnels go by the new list.
			p, err := a.policy(cidrs)
			if err != nil {
				a.log.Warn("ignoring the server's new list of the VPC's networks", "networks", cidrs, "error", err)
				break
			}
			cur.Store(&p)
			a.log.Info("the VPC's networks changed", "networks", strings.Join(cidrs, ","))
		case <-sess.Done():
			return fmt.Errorf("link: %w", linkmux.ErrSessionShutdown)
		case msg := <-revoked:
			// Its tunnels through other replicas' links end as revoked too,
			// with the server's reason ("Access was revoked: …").
			if msg == "" {
				msg = "Access was revoked: the endpoint agent was revoked"
			}
			a.endAll(tunnelproto.CodeRevoked, msg)
			return &PermanentError{Code: "AgentRevoked", Message: msg}
		case <-ctx.Done():
			return a.drain(ctrl, sess.Done())
		}
	}
}

// drain tells the server at the link's end to send no new tunnels, waits
// for the agent's open tunnels (up to DrainTimeout), then ends those left.
// Every link drains at once; they share the wait.
// Tunnels the server sends before it saw the drain notice are still
// served (connect's serve: refused as draining).
func (a *Agent) drain(ctrl net.Conn, linkDone <-chan struct{}) error {
	a.mu.Lock()
	if !a.draining {
		a.draining = true
		a.idle = make(chan struct{})
		if len(a.tunnels) == 0 {
			close(a.idle)
		}
		a.log.Info("draining", "open_tunnels", len(a.tunnels), "timeout", a.cfg.DrainTimeout)
	}
	idle := a.idle
	a.mu.Unlock()
	line, _ := json.Marshal(tunnelproto.Control{Type: tunnelproto.ControlDrain})
	_ = ctrl.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, _ = ctrl.Write(append(line, '\n'))
	timer := time.NewTimer(a.cfg.DrainTimeout)
	defer timer.Stop()
	for {
		select {
		case <-linkDone:
			a.endAll(tunnelproto.CodeAgentShutdown, "The endpoint agent lost its link while shutting down")
			return nil
		case <-idle:
			a.log.Info("drained")
			return nil
		case <-timer.C:
			a.endAll(tunnelproto.CodeAgentShutdown, "The endpoint agent is shutting down")
			a.log.Info("drain timeout: ended the remaining tunnels")
			return nil
		}
	}
}

// readControl reads the server's control messages. A new list of the
// VPC's networks goes to vpcNets (buffered 1), replacing one not yet taken.
// When the stream ends, so does what its link said of PreserveClientIp.
func (a *Agent) readControl(ctrl net.Conn, revoked chan<- string, vpcNets chan []string, m *linkSet) {
	defer a.linkEnded(ctrl)
	sc := bufio.NewScanner(ctrl)
	sc.Buffer(make([]byte, 4096), 64<<10)
	for sc.Scan() {
		var msg tunnelproto.Control
		if json.Unmarshal(sc.Bytes(), &msg) != nil {
			continue
		}
		switch msg.Type {
		case tunnelproto.ControlRevoked:
			select {
			case revoked <- msg.Message:
			default:
			}
		case tunnelproto.ControlReplicas:
			valid := make([]tunnelproto.Replica, 0, len(msg.Replicas))
			for _, r := range msg.Replicas {
				if tunnelproto.ValidReplica(r) {
					valid = append(valid, r)
				}
			}
			m.setReplicas(valid)
		case tunnelproto.ControlPreserveClientIP:
			if msg.PreserveClientIP != nil {
				a.linkSaidPreserve(ctrl, *msg.PreserveClientIP)
			}
		case tunnelproto.ControlVPC:
			if len(msg.VpcCIDRs) == 0 {
				continue
			}
			select { // drop a list not yet taken: the newest wins
			case <-vpcNets:
			default:
			}
			select {
			case vpcNets <- msg.VpcCIDRs:
			default:
			}
		}
	}
}

// policy builds the egress policy from the VPC CIDRs and the host's own
// addresses.
func (a *Agent) policy(cidrs []string) (egress.Policy, error) {
	p := egress.Policy{AllowLoopback: a.cfg.AllowLoopback, AllowHost: a.cfg.AllowHost}
	for _, c := range cidrs {
		pfx, err := netip.ParsePrefix(strings.TrimSpace(c))
		if err != nil {
			return p, fmt.Errorf("agent: VPC CIDR %q from the server: %w", c, err)
		}
		p.VPC = append(p.VPC, pfx)
	}
	addrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, ad := range addrs {
			if ipn, ok := ad.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(ipn.IP); ok {
					p.HostAddrs = append(p.HostAddrs, ip.Unmap())
				}
			}
		}
	}
	return p, nil
}

func (a *Agent) register(t *tunnel) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.draining && t != nil && t.dialing {
		return false
	}
	a.tunnels[t] = struct{}{}
	a.release.Active()
	return true
}

func (a *Agent) unregister(t *tunnel) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.tunnels, t)
	a.release.Active()
	if a.draining && len(a.tunnels) == 0 && a.idle != nil {
		select {
		case <-a.idle:
		default:
			close(a.idle)
		}
	}
}

// shrinkInterval is how often idle tunnels give back their streams'
// receive buffers.
const shrinkInterval = 20 * time.Second

// openTunnels returns the open tunnels (in no order), read under a.mu.
func (a *Agent) openTunnels() []*tunnel {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Collect(maps.Keys(a.tunnels))
}

// shrinkAll lets every tunnel's stream give back an empty receive buffer.
func (a *Agent) shrinkAll() {
	for _, t := range a.openTunnels() {
		t.link.Shrink()
	}
}

// endAll ends every open tunnel with a reason.
func (a *Agent) endAll(code, msg string) {
	for _, t := range a.openTunnels() {
		t.end(code, msg)
	}
}

// Draining reports whether the agent is draining.
func (a *Agent) Draining() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.draining
}

// OpenTunnels is the number of open tunnels.
func (a *Agent) OpenTunnels() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.tunnels)
}

func sanitizeHeader(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '_'
		}
		return r
	}, s)
}
