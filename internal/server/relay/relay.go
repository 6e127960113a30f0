// Package relay is the server side of the endpoint agents' links. It
// admits agents (join with a single-use token, then a TLS client key on
// every connection), keeps the registry of connected agents per endpoint,
// and opens tunnel streams through them for the front door: pick an agent
// of the endpoint, ask it to dial the target, and hand back a Stream once
// the dial succeeded.
//
// An endpoint can also be served from inside the server's process (the
// embedded agent of the one-machine run): AddLocal registers an agent that
// dials targets directly, with the same egress policy a remote agent
// applies, behind the same Stream interface.
//
// Links are multiplexed (package linkmux): one TLS connection per agent,
// one stream per tunnel. The measurements behind that choice are in
// internal/bench/linkbench/RESULTS.md.
package relay

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/postern/postern/internal/agent/egress"
	"github.com/postern/postern/internal/server/endpoints"
	"github.com/postern/postern/internal/server/httpedge"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/util/netutil"
	"github.com/postern/postern/internal/wire/agentkey"
	"github.com/postern/postern/internal/wire/linkmux"
	"github.com/postern/postern/internal/wire/tunnelproto"
)

// Stream is one tunnel's byte stream to its target, through an agent. See
// tunnelproto.Conn for the semantics of each method.
type Stream interface {
	// Recv waits for target bytes; io.EOF when the target half-closed, a
	// *tunnelproto.EndReason when the tunnel ended abnormally, another
	// error when the agent was lost.
	Recv(get func(n int) []byte) ([]byte, error)
	// SendData sends frame[tunnelproto.HeaderLen:] to the target.
	SendData(frame []byte) error
	// SendEOF half-closes toward the target.
	SendEOF() error
	// SendEnd aborts the tunnel with a reason.
	SendEnd(code, message string) error
	Close() error
}

// DialError is a failed dial, as the agent reported it.
type DialError struct {
	AgentID string
	Code    string // tunnelproto.Code…
	Message string
}

func (e *DialError) Error() string { return e.Message }

// CodeAgentAlreadyConnected refuses (409, retryable) a link of an agent
// that has a live link to this replica already.
const CodeAgentAlreadyConnected = "AgentAlreadyConnected"

// ErrNoAgent means no agent of the endpoint is connected (or all drain).
var ErrNoAgent = errors.New("relay: no agent of the endpoint is connected")

// Config configures a Relay.
type Config struct {
	Store store.Store
	// Endpoints redeems join tokens (agents joining).
	Endpoints *endpoints.Endpoints
	Logger    *slog.Logger
	Now       func() time.Time
	// AgentCIDRs adds networks to every agent's allowed set (the
	// one-machine run adds nothing: its VPC already holds 127.0.0.0/8).
	// KeepAlive is the links' keepalive interval (default 15 s).
	KeepAlive time.Duration
	// OpenTimeout bounds asking an agent for a tunnel (default 15 s).
	OpenTimeout time.Duration
	// ReplicaID names this server replica to agents (HeaderReplicaID);
	// empty when the server runs alone.
	ReplicaID string
}

// Relay is the registry of agent links, the tunnel side's
// endpoints.Links. It is safe for concurrent use.
type Relay struct {
	cfg Config
	log *slog.Logger

	mu         sync.Mutex
	byEndpoint map[string][]*link
	byAgent    map[string]*link
	closed     bool
	stop       chan struct{} // closed by Close
	replicas   []tunnelproto.Replica

	usableAgents usableCache // agents the store said are usable (revoke.go)
}

var _ endpoints.Links = (*Relay)(nil)

// New returns a Relay.
func New(cfg Config) (*Relay, error) {
	if cfg.Store == nil || cfg.Endpoints == nil {
		return nil, errors.New("relay: Config needs Store and Endpoints")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.OpenTimeout <= 0 {
		cfg.OpenTimeout = 15 * time.Second
	}
	r := &Relay{cfg: cfg, log: cfg.Logger, byEndpoint: map[string][]*link{}, byAgent: map[string]*link{}, stop: make(chan struct{})}
	r.usableAgents.changes = store.CacheCounter(cfg.Store, store.NextRead)
	go r.shrinkLoop()
	go r.watchRevocations() // revoke.go
	return r, nil
}

// link is one connected agent.
type link struct {
	agentID, endpointID string
	name, version, addr string
	since               time.Time
	local               *localAgent      // embedded agent; nil for remote ones
	sess                *linkmux.Session // remote agents
	ctrl                net.Conn
	features            []string // tunnelproto.Feature…, as the agent announced them
	preserveProblem     string   // why it cannot preserve client addresses, as it said

	mu       sync.Mutex
	draining bool
	revoked  string                         // why the agent was revoked, once Disconnect says so
	open     int                            // tunnels open through this link
	streams  map[*tunnelproto.Conn]struct{} // its open streams (remote agents)
	ctrlMu   sync.Mutex
	// vpcCIDRs is what the agent was last told of its VPC's networks
	// (joined with ","; guarded by mu, sent under ctrlMu): at the link's
	// start, then by ControlVPC (syncVPCs).
	vpcCIDRs string
	// preserveTold is what the agent was last told of whether its
	// endpoint preserves client addresses (guarded by mu, sent under
	// ctrlMu): in the link's answer, then by ControlPreserveClientIP
	// (syncVPCs).
	preserveTold bool
}

// has reports whether the agent announced a feature.
func (l *link) has(feature string) bool { return slices.Contains(l.features, feature) }

// preserveWhyNot says why the agent cannot preserve client addresses
// ("" when it can).
func (l *link) preserveWhyNot() string {
	switch {
	case l.has(tunnelproto.FeaturePreserveClientIP):
		return ""
	case l.preserveProblem != "":
		return l.preserveProblem
	}
	return "the agent does not support client IP preservation (a Postern version before it); upgrade it"
}

// needs lists the features a dial request needs of its agent.
func needs(req tunnelproto.DialRequest) []string {
	var fs []string
	if req.PreserveClientIP {
		fs = append(fs, tunnelproto.FeaturePreserveClientIP)
	}
	if req.ProxyProtocol == tunnelproto.ProxyV2 {
		fs = append(fs, tunnelproto.FeatureProxyV2)
	}
	return fs
}

// unable says why no agent in ls can take req (each lacks a feature it
// needs), as the refusal the client sees.
func unable(endpointID string, req tunnelproto.DialRequest, ls []*link) *DialError {
	if req.PreserveClientIP {
		var why []string
		for _, l := range ls {
			if w := l.preserveWhyNot(); w != "" {
				why = append(why, fmt.Sprintf("agent %s: %s", l.agentID, w))
			}
		}
		if len(why) > 0 {
			return &DialError{Code: tunnelproto.CodePreserveUnavailable, Message: fmt.Sprintf(
				"The instance connect endpoint '%s' preserves client IP addresses (PreserveClientIp), and none of its connected agents can: %s. "+
					"Set the agent's host up for it (see the README: client IP preservation) and restart the agent, or modify the endpoint with --no-preserve-client-ip.",
				endpointID, strings.Join(why, "; "))}
		}
	}
	return &DialError{Code: tunnelproto.CodeProxyUnavailable, Message: fmt.Sprintf(
		"The instance connect endpoint '%s' sends a PROXY protocol v2 header (tag postern:proxy-protocol), and none of its connected agents can: upgrade them.", endpointID)}
}

func (l *link) isDraining() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.draining
}

// Connected returns the status of the endpoint's connected agents ("" for
// every endpoint), ordered by agent id.
func (r *Relay) Connected(endpointID string) []endpoints.AgentStatus {
	r.mu.Lock()
	var ls []*link
	for _, l := range r.byAgent {
		if endpointID == "" || l.endpointID == endpointID {
			ls = append(ls, l)
		}
	}
	r.mu.Unlock()
	out := make([]endpoints.AgentStatus, 0, len(ls))
	for _, l := range ls {
		l.mu.Lock()
		out = append(out, endpoints.AgentStatus{AgentID: l.agentID, EndpointID: l.endpointID, Name: l.name, Version: l.version,
			Address: l.addr, ConnectedSince: l.since, Tunnels: l.open, Draining: l.draining, Embedded: l.local != nil,
			PreserveClientIP: l.has(tunnelproto.FeaturePreserveClientIP), PreserveProblem: l.preserveWhyNot(),
			ProxyProtocolV2: l.has(tunnelproto.FeatureProxyV2)})
		l.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].AgentID < out[j].AgentID })
	return out
}

// HasAgent reports whether an agent of the endpoint is connected and not
// draining.
func (r *Relay) HasAgent(endpointID string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range r.byEndpoint[endpointID] {
		if !l.isDraining() {
			return true
		}
	}
	return false
}

// errDuplicate: the agent has a live link already (see HandleLink).
var errDuplicate = errors.New("relay: the agent has another live link")

// add registers a link. An older link of the same agent is replaced when
// it is stale, the link HandleLink probed and found dead (nil when there
// was none); another one is a link that came up meanwhile, and l is then
// refused with errDuplicate.
func (r *Relay) add(l *link, stale *link) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return errors.New("relay: shutting down")
	}
	old := r.byAgent[l.agentID]
	if old != nil && old != stale && l.local == nil {
		r.mu.Unlock()
		return errDuplicate
	}
	r.byAgent[l.agentID] = l
	ls := r.byEndpoint[l.endpointID]
	if old != nil {
		ls = removeLink(ls, old)
	}
	r.byEndpoint[l.endpointID] = append(ls, l)
	r.mu.Unlock()
	if old != nil && old.sess != nil {
		r.log.Info("agent reconnected; closing its previous link, which no longer answered", "agent", l.agentID,
			"address", l.addr, "previous_address", old.addr)
		old.sess.Close()
	}
	return nil
}

// LinkProbeTimeout bounds the wait for a connected agent's link to answer
// a ping when a second link with the agent's key arrives.
const LinkProbeTimeout = 3 * time.Second

// staleLink returns, when a new link of agentID arrives, the agent's
// current remote link if it is dead (it did not answer a ping within
// LinkProbeTimeout: the agent reconnected before this replica noticed the
// old link was gone), nil if there is none, and the live link in live
// otherwise: a second process with the agent's identity, which must not
// take the link from the first.
func (r *Relay) staleLink(agentID string) (stale, live *link) {
	r.mu.Lock()
	cur := r.byAgent[agentID]
	r.mu.Unlock()
	if cur == nil || cur.sess == nil {
		return cur, nil
	}
	answered := make(chan error, 1)
	go func() {
		_, err := cur.sess.Ping()
		answered <- err
	}()
	t := time.NewTimer(LinkProbeTimeout)
	defer t.Stop()
	select {
	case err := <-answered:
		if err == nil {
			return nil, cur
		}
	case <-t.C:
	case <-cur.sess.Done():
	}
	return cur, nil
}

// remove unregisters a link if it is still the agent's current one.
func (r *Relay) remove(l *link) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byAgent[l.agentID] == l {
		delete(r.byAgent, l.agentID)
	}
	ls := removeLink(r.byEndpoint[l.endpointID], l)
	if len(ls) == 0 {
		delete(r.byEndpoint, l.endpointID)
	} else {
		r.byEndpoint[l.endpointID] = ls
	}
}

func removeLink(ls []*link, l *link) []*link {
	out := ls[:0:0]
	for _, x := range ls {
		if x != l {
			out = append(out, x)
		}
	}
	return out
}

// candidates returns the endpoint's links that take new tunnels, least
// loaded first.
func (r *Relay) candidates(endpointID string) []*link {
	r.mu.Lock()
	ls := append([]*link(nil), r.byEndpoint[endpointID]...)
	r.mu.Unlock()
	type cand struct {
		l    *link
		open int
	}
	cs := make([]cand, 0, len(ls))
	for _, l := range ls {
		l.mu.Lock()
		if !l.draining {
			cs = append(cs, cand{l, l.open})
		}
		l.mu.Unlock()
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].open < cs[j].open })
	out := make([]*link, len(cs))
	for i, c := range cs {
		out[i] = c.l
	}
	return out
}

// Open asks an agent of the endpoint to connect req's target and returns
// the tunnel's stream and the agent's id. A refused dial is a *DialError;
// ErrNoAgent when no agent can take it. Agents that answer that they are
// draining are skipped.
func (r *Relay) Open(ctx context.Context, endpointID string, req tunnelproto.DialRequest) (Stream, string, error) {
	return r.OpenTold(ctx, endpointID, req, nil)
}

// OpenTold is Open that tells chose (when not nil), before the dial
// request leaves, the id of each agent it asks, in order: the caller
// learns the agent while the dial still runs (the front door names it
// in the attempt's record, committed meanwhile). Open fails over, so a
// later call names another agent: one that answered that it drains, or
// whose link failed before it answered, is followed by the next. The
// agent that took the dial is the one Open returns.
func (r *Relay) OpenTold(ctx context.Context, endpointID string, req tunnelproto.DialRequest, chose func(agentID string)) (Stream, string, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.OpenTimeout)
	defer cancel()
	var lastErr error = ErrNoAgent
	cands := r.candidates(endpointID)
	if need := needs(req); len(need) > 0 && len(cands) > 0 {
		able := cands[:0:0]
		for _, l := range cands {
			if !slices.ContainsFunc(need, func(f string) bool { return !l.has(f) }) {
				able = append(able, l)
			}
		}
		if len(able) == 0 {
			return nil, "", unable(endpointID, req, cands)
		}
		cands = able
	}
	for _, l := range cands {
		if err := r.usable(ctx, l.agentID); err != nil { // revoked through another replica a moment ago? (revoke.go)
			if !errors.Is(err, errAgentRevoked) {
				r.log.Warn("could not check an agent before routing a tunnel to it; trying another", "agent", l.agentID, "error", err)
				lastErr = err
			}
			if ctx.Err() != nil {
				break
			}
			continue
		}
		if chose != nil {
			chose(l.agentID)
		}
		s, err := r.openOn(ctx, l, req)
		if err == nil {
			return s, l.agentID, nil
		}
		var de *DialError
		if errors.As(err, &de) && de.Code != tunnelproto.CodeDraining {
			return nil, l.agentID, err
		}
		if errors.As(err, &de) {
			l.mu.Lock()
			l.draining = true
			l.mu.Unlock()
		}
		r.log.Warn("agent could not take a tunnel; trying another", "agent", l.agentID, "error", err)
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	if errors.Is(lastErr, ErrNoAgent) {
		return nil, "", ErrNoAgent
	}
	var de *DialError
	if errors.As(lastErr, &de) && de.Code == tunnelproto.CodeDraining {
		return nil, "", ErrNoAgent
	}
	return nil, "", lastErr
}

func (r *Relay) openOn(ctx context.Context, l *link, req tunnelproto.DialRequest) (Stream, error) {
	if l.local != nil {
		s, err := l.local.open(ctx, req)
		if err != nil {
			return nil, err
		}
		return r.track(l, s), nil
	}
	st, err := l.sess.Open(ctx)
	if err != nil {
		return nil, fmt.Errorf("relay: open stream to agent %s: %w", l.agentID, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = st.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { st.Close() })
	defer stop()
	if err := tunnelproto.WriteJSON(st, tunnelproto.FrameDial, req); err != nil {
		st.Close()
		return nil, fmt.Errorf("relay: send dial request to agent %s: %w", l.agentID, err)
	}
	var res tunnelproto.DialResult
	if err := tunnelproto.ReadJSON(st, tunnelproto.FrameDialResult, &res); err != nil {
		st.Close()
		if ctx.Err() != nil {
			return nil, &DialError{AgentID: l.agentID, Code: tunnelproto.CodeTimeout, Message: "The endpoint agent did not answer in time"}
		}
		return nil, fmt.Errorf("relay: dial answer from agent %s: %w", l.agentID, err)
	}
	if !res.OK {
		st.Close()
		if res.Code == "" {
			res.Code = tunnelproto.CodeInternal
		}
		return nil, &DialError{AgentID: l.agentID, Code: res.Code, Message: res.Message}
	}
	_ = st.SetDeadline(time.Time{})
	return r.track(l, tunnelproto.NewConn(st)), nil
}

// track counts a stream against its link until it is closed.
func (r *Relay) track(l *link, s Stream) Stream {
	t := &tracked{Stream: s, l: l}
	l.mu.Lock()
	l.open++
	if c, ok := s.(*tunnelproto.Conn); ok {
		if l.streams == nil {
			l.streams = map[*tunnelproto.Conn]struct{}{}
		}
		l.streams[c] = struct{}{}
	}
	l.mu.Unlock()
	t.done = func() {
		l.mu.Lock()
		l.open--
		if c, ok := s.(*tunnelproto.Conn); ok {
			delete(l.streams, c)
		}
		l.mu.Unlock()
	}
	return t
}

// ShrinkInterval is how often idle streams give back their receive
// buffers.
const ShrinkInterval = 20 * time.Second

// shrinkLoop lets, every ShrinkInterval, every open stream of every link
// give back an empty receive buffer (tunnelproto.Conn.Shrink).
func (r *Relay) shrinkLoop() {
	t := time.NewTicker(ShrinkInterval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
		}
		r.mu.Lock()
		ls := make([]*link, 0, len(r.byAgent))
		for _, l := range r.byAgent {
			ls = append(ls, l)
		}
		r.mu.Unlock()
		for _, l := range ls {
			l.mu.Lock()
			cs := make([]*tunnelproto.Conn, 0, len(l.streams))
			for c := range l.streams {
				cs = append(cs, c)
			}
			l.mu.Unlock()
			for _, c := range cs {
				c.Shrink()
			}
		}
	}
}

type tracked struct {
	Stream
	l    *link
	once sync.Once
	done func()
}

// Recv, SendData and SendEOF report the link's end as what it was: when
// the agent was revoked (Disconnect), a broken stream is the revocation's
// *tunnelproto.EndReason, not a lost agent.
func (t *tracked) Recv(get func(n int) []byte) ([]byte, error) {
	b, err := t.Stream.Recv(get)
	return b, t.revoked(err)
}

// RecvFunc is Recv handing the bytes to use in place when the stream
// lends them (tunnelproto.Conn.RecvFunc: no copy out of the link's
// buffer); use's error comes back as it is.
func (t *tracked) RecvFunc(get func(n int) []byte, use func([]byte) error) error {
	var uerr error
	use2 := func(p []byte) error {
		uerr = use(p)
		return uerr
	}
	var err error
	if rf, ok := t.Stream.(interface {
		RecvFunc(func(int) []byte, func([]byte) error) error
	}); ok {
		err = rf.RecvFunc(get, use2)
	} else {
		var b []byte
		if b, err = t.Stream.Recv(get); err == nil {
			err = use2(b)
		}
	}
	if uerr != nil {
		return uerr
	}
	return t.revoked(err)
}

func (t *tracked) SendData(frame []byte) error { return t.revoked(t.Stream.SendData(frame)) }

func (t *tracked) SendEOF() error { return t.revoked(t.Stream.SendEOF()) }

func (t *tracked) revoked(err error) error {
	if err == nil {
		// Before er is declared: errors.As makes it escape, an
		// allocation on every successful send and receive of a bulk
		// transfer (~10 % of them, s12 QD).
		return nil
	}
	var er *tunnelproto.EndReason
	if errors.Is(err, io.EOF) || errors.As(err, &er) {
		return err
	}
	t.l.mu.Lock()
	msg := t.l.revoked
	t.l.mu.Unlock()
	if msg == "" {
		return err
	}
	return &tunnelproto.EndReason{Code: tunnelproto.CodeRevoked, Message: msg}
}

func (t *tracked) Close() error {
	t.once.Do(t.done)
	return t.Stream.Close()
}

// Disconnect closes an agent's link, telling it why when revoked. It
// returns whether the agent was connected. When revoked, the tunnels
// through the link end as revoked (tunnelproto.CodeRevoked, which clients
// see as close code 1008) with RevokedMessage(message), not as a lost
// agent: an auditor tells a revocation from a network failure.
func (r *Relay) Disconnect(agentID string, revoked bool, message string) bool {
	r.mu.Lock()
	l := r.byAgent[agentID]
	r.mu.Unlock()
	if l == nil {
		return false
	}
	if revoked {
		message = RevokedMessage(message)
		l.mu.Lock()
		l.revoked = message
		l.mu.Unlock()
	}
	if l.local != nil {
		l.local.closeAll(tunnelproto.CodeRevoked, message)
		r.remove(l)
		return true
	}
	if revoked && l.ctrl != nil {
		line, _ := json.Marshal(tunnelproto.Control{Type: tunnelproto.ControlRevoked, Message: message})
		l.ctrlMu.Lock()
		_ = l.ctrl.SetWriteDeadline(time.Now().Add(2 * time.Second))
		_, _ = l.ctrl.Write(append(line, '\n'))
		l.ctrlMu.Unlock()
	}
	// Out of the directory before the link closes: whoever sees the link
	// end (the agent, a test) never finds it still listed or routable.
	r.remove(l)
	l.sess.Close()
	return true
}

// RevokedMessage is the reason a revoked tunnel's client sees: "Access was
// revoked: " and why, as for every revocation (package frontdoor).
func RevokedMessage(why string) string {
	const prefix = "Access was revoked: "
	if why == "" {
		why = "the endpoint agent was revoked"
	}
	if strings.HasPrefix(why, prefix) {
		return why
	}
	if r := []rune(why); len(r) > 1 && unicode.IsUpper(r[0]) && !unicode.IsUpper(r[1]) {
		why = string(unicode.ToLower(r[0])) + string(r[1:])
	}
	return prefix + why
}

// DisconnectEndpoint closes the links of every agent of an endpoint.
func (r *Relay) DisconnectEndpoint(endpointID, message string) {
	r.mu.Lock()
	ls := append([]*link(nil), r.byEndpoint[endpointID]...)
	r.mu.Unlock()
	for _, l := range ls {
		r.Disconnect(l.agentID, true, message)
	}
}

// Close closes every link (the server is stopping; agents reconnect to
// its next start).
func (r *Relay) Close() {
	r.mu.Lock()
	if !r.closed {
		close(r.stop)
	}
	r.closed = true
	ls := make([]*link, 0, len(r.byAgent))
	for _, l := range r.byAgent {
		ls = append(ls, l)
	}
	r.mu.Unlock()
	for _, l := range ls {
		if l.sess != nil {
			l.sess.Close()
		}
		if l.local != nil {
			l.local.closeAll(tunnelproto.CodeServerStop, "The Postern server is shutting down")
		}
	}
}

// ---- HTTP: join and link ----

// writeErr answers an agent request with a JSON ErrorResponse.
func writeErr(w http.ResponseWriter, status int, code, msg string, permanent bool) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(tunnelproto.ErrorResponse{Code: code, Message: msg, Permanent: permanent})
}

// clientKey returns the fingerprint of the TLS client certificate's key.
func clientKey(r *http.Request) (string, *x509.Certificate, bool) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return "", nil, false
	}
	c := r.TLS.PeerCertificates[0]
	return agentkey.KeyFingerprint(c), c, true
}

// HandleJoin serves POST tunnelproto.JoinPath: it decodes the agent's
// request, has package endpoints redeem the join token, and answers.
func (r *Relay) HandleJoin(w http.ResponseWriter, req *http.Request) {
	fp, _, ok := clientKey(req)
	if !ok {
		writeErr(w, http.StatusUnauthorized, "ClientCertificateRequired", "An agent must present its key as a TLS client certificate, offering the TLS ALPN protocol "+tunnelproto.AgentALPN+".", true)
		return
	}
	var jr tunnelproto.JoinRequest
	dec := json.NewDecoder(io.LimitReader(req.Body, 16<<10))
	if err := dec.Decode(&jr); err != nil || jr.Token == "" {
		writeErr(w, http.StatusBadRequest, "MalformedRequest", "The join request must be JSON with a token.", true)
		return
	}
	ctx := req.Context()
	j, err := r.cfg.Endpoints.Redeem(ctx, endpoints.JoinRequest{Secret: jr.Token, Name: limit(jr.Name, 128),
		Version: limit(jr.Version, 64), KeyFingerprint: fp, Address: req.RemoteAddr})
	switch {
	case errors.Is(err, endpoints.ErrInvalidJoinToken):
		writeErr(w, http.StatusForbidden, "InvalidJoinToken", "The join token is unknown, expired or already used; create a new one with `postern ec2 create-endpoint-join-token`.", true)
		return
	case errors.Is(err, endpoints.ErrAgentKeyInUse):
		writeErr(w, http.StatusConflict, "AgentKeyInUse", "An agent with this key has joined already.", true)
		return
	case errors.Is(err, endpoints.ErrInvalidTransition):
		writeErr(w, http.StatusGone, "EndpointNotUsable", "The endpoint of this join token is being deleted or has failed.", true)
		return
	case err != nil:
		r.log.Error("agent join failed", "error", err)
		writeErr(w, http.StatusInternalServerError, "InternalError", "The server could not record the agent.", false)
		return
	}
	httpedge.Trust(ctx) // the join token was good
	r.log.Info("agent joined", "agent", j.AgentID, "endpoint", j.Endpoint.EndpointID, "name", jr.Name, "address", req.RemoteAddr)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(tunnelproto.JoinResponse{AgentID: j.AgentID, EndpointID: j.Endpoint.EndpointID, VpcID: j.Vpc.VpcID, VpcCIDRs: VPCCIDRs(j.Vpc)})
}

// VPCCIDRs lists the networks of a VPC.
func VPCCIDRs(v store.Vpc) []string {
	out := []string{v.CidrBlock}
	if v.Ipv6CidrBlock != "" {
		out = append(out, v.Ipv6CidrBlock)
	}
	return out
}

func limit(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// HandleLink serves GET tunnelproto.LinkPath: it authenticates the agent,
// switches the connection to the multiplexed link and serves it until it
// breaks.
func (r *Relay) HandleLink(w http.ResponseWriter, req *http.Request) {
	fp, _, ok := clientKey(req)
	if !ok {
		writeErr(w, http.StatusUnauthorized, "ClientCertificateRequired", "An agent must present its key as a TLS client certificate, offering the TLS ALPN protocol "+tunnelproto.AgentALPN+".", true)
		return
	}
	if !strings.EqualFold(req.Header.Get("Upgrade"), tunnelproto.UpgradeProtocol) {
		writeErr(w, http.StatusUpgradeRequired, "UpgradeRequired", "The link needs Upgrade: "+tunnelproto.UpgradeProtocol, true)
		return
	}
	ctx := req.Context()
	a, err := r.cfg.Store.GetAgentByKey(ctx, fp)
	if errors.Is(err, store.ErrNotFound) {
		writeErr(w, http.StatusForbidden, "UnknownAgent", "No agent has joined with this key; join again with a new token.", true)
		return
	}
	if err != nil {
		writeErr(w, http.StatusServiceUnavailable, "InternalError", "The server could not look the agent up.", false)
		return
	}
	if !a.RevokedAt.IsZero() {
		writeErr(w, http.StatusForbidden, "AgentRevoked", "This endpoint agent was revoked.", true)
		return
	}
	ep, err := r.cfg.Store.GetEndpoint(ctx, a.EndpointID)
	if errors.Is(err, store.ErrNotFound) || err == nil && endpoints.Deleted(ep.State) {
		writeErr(w, http.StatusGone, "EndpointDeleted", "The endpoint this agent served was deleted.", true)
		return
	}
	if err != nil {
		writeErr(w, http.StatusServiceUnavailable, "InternalError", "The server could not look the endpoint up.", false)
		return
	}
	vpc, err := r.cfg.Store.GetVpc(ctx, ep.VpcID)
	if err != nil {
		writeErr(w, http.StatusServiceUnavailable, "InternalError", "The server could not look the VPC up.", false)
		return
	}
	name, version := limit(req.Header.Get(tunnelproto.HeaderAgentName), 128), limit(req.Header.Get(tunnelproto.HeaderAgentVersion), 64)
	features := tunnelproto.ParseFeatures(req.Header.Get(tunnelproto.HeaderAgentFeatures))
	preserveProblem := limit(req.Header.Get(tunnelproto.HeaderPreserveProblem), 2048)
	// One link per agent and replica. A second one while the first still
	// answers is another process with this agent's key (a copied state
	// directory): refuse it, rather than let the two take the link from
	// each other in turns. One whose predecessor is dead replaces it.
	stale, live := r.staleLink(a.AgentID)
	if live != nil {
		r.log.Warn("refused a second link of a connected agent: two processes share its identity", "agent", a.AgentID,
			"endpoint", a.EndpointID, "address", req.RemoteAddr, "name", name, "connected_address", live.addr,
			"connected_name", live.name, "connected_since", live.since)
		writeErr(w, http.StatusConflict, CodeAgentAlreadyConnected, fmt.Sprintf("Agent %s is connected to this server already "+
			"(from %s, name %q, since %s) and its link answers: two processes are using this agent's identity (a copied "+
			"state directory?). Stop one of them; run each agent with its own state directory and join token.",
			a.AgentID, live.addr, live.name, live.since.Format(time.RFC3339)), false)
		return
	}
	now := r.cfg.Now().UTC()
	if err := r.cfg.Store.UpdateAgentConnection(ctx, a.AgentID, req.RemoteAddr, version, now); err != nil {
		r.log.Warn("could not record the agent's connection", "agent", a.AgentID, "error", err)
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		writeErr(w, http.StatusInternalServerError, "InternalError", "The connection cannot be upgraded.", false)
		return
	}
	httpedge.Trust(ctx) // a known, unrevoked agent: its link is not unauthenticated
	conn, brw, err := hj.Hijack()
	if err != nil {
		return
	}
	replicas := ""
	var told []tunnelproto.Replica
	if r.cfg.ReplicaID != "" {
		r.mu.Lock()
		told = r.replicas
		replicas = fmt.Sprintf("%s: %s\r\n%s: %s\r\n", tunnelproto.HeaderReplicaID, r.cfg.ReplicaID,
			tunnelproto.HeaderReplicas, tunnelproto.FormatReplicas(r.replicas))
		r.mu.Unlock()
	}
	resp := fmt.Sprintf("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: %s\r\n%s: %s\r\n%s: %s\r\n%s: %s\r\n%s: %t\r\n%s\r\n",
		tunnelproto.UpgradeProtocol, tunnelproto.HeaderVPCCIDRs, strings.Join(VPCCIDRs(vpc), ","),
		tunnelproto.HeaderAgentID, a.AgentID, tunnelproto.HeaderEndpointID, a.EndpointID,
		tunnelproto.HeaderEndpointPreserveClientIP, ep.PreserveClientIP, replicas)
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := io.WriteString(conn, resp); err != nil {
		conn.Close()
		return
	}
	sess, err := linkmux.Opener(&netutil.BufferedConn{Conn: conn, R: brw.Reader}, linkmux.Config{KeepAliveInterval: r.cfg.KeepAlive, Logger: r.log})
	if err != nil {
		conn.Close()
		return
	}
	// The agent opens its control stream first.
	ctrl, err := acceptTimeout(sess, 15*time.Second)
	if err != nil {
		r.log.Warn("agent link without control stream", "agent", a.AgentID, "error", err)
		sess.Close()
		return
	}
	_ = conn.SetDeadline(time.Time{})
	l := &link{agentID: a.AgentID, endpointID: a.EndpointID, name: name, version: version, addr: req.RemoteAddr,
		since: now, sess: sess, ctrl: ctrl, features: features, preserveProblem: preserveProblem,
		vpcCIDRs: strings.Join(VPCCIDRs(vpc), ","), preserveTold: ep.PreserveClientIP}
	if err := r.add(l, stale); err != nil {
		if errors.Is(err, errDuplicate) {
			r.log.Warn("refused a second link of a connected agent: two processes share its identity", "agent", a.AgentID,
				"endpoint", a.EndpointID, "address", req.RemoteAddr, "name", name)
		}
		sess.Close()
		return
	}
	// A revocation committed since the look-up above may have been checked
	// for (watchRevocations) before this link was registered.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	err = r.usable(cctx, a.AgentID)
	cancel()
	if errors.Is(err, errAgentRevoked) {
		r.Disconnect(a.AgentID, true, revokedMessage(a.AgentID))
		return
	}
	r.log.Info("agent connected", "agent", a.AgentID, "endpoint", a.EndpointID, "address", req.RemoteAddr, "version", version,
		"features", strings.Join(features, ","), "preserve_problem", preserveProblem)
	go r.readControl(l)
	// A store change synced (syncVPCs) after the look-ups above but before
	// r.add did not see this link: check it once.
	go r.tellLink(l)
	if r.cfg.ReplicaID != "" {
		r.mu.Lock()
		now := r.replicas
		r.mu.Unlock()
		if !slices.Equal(now, told) { // the list changed while the agent connected
			go r.tellReplicas(l)
		}
	}
	go func() {
		// Agents open no other streams; refuse any, at once (a reset,
		// not a close waiting for the agent's FIN: an agent opening
		// streams in a loop cannot pile them up).
		for {
			s, err := sess.Accept()
			if err != nil {
				return
			}
			if r, ok := s.(interface{ Reset() error }); ok {
				_ = r.Reset()
			} else {
				s.Close()
			}
		}
	}()
	<-sess.Done()
	r.remove(l)
	r.log.Info("agent disconnected", "agent", a.AgentID, "endpoint", a.EndpointID)
}

func acceptTimeout(sess *linkmux.Session, d time.Duration) (net.Conn, error) {
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := sess.Accept()
		ch <- res{c, err}
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case x := <-ch:
		return x.c, x.err
	case <-t.C:
		sess.Close()
		return nil, errors.New("timed out")
	}
}

// Replicas returns the live server replicas as last set.
func (r *Relay) Replicas() []tunnelproto.Replica {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.replicas)
}

// SetReplicas records the live server replicas and, when the list
// changed, tells every connected agent (they keep a link to each).
func (r *Relay) SetReplicas(rs []tunnelproto.Replica) {
	r.mu.Lock()
	if slices.Equal(rs, r.replicas) || r.closed {
		r.mu.Unlock()
		return
	}
	r.replicas = slices.Clone(rs)
	ls := make([]*link, 0, len(r.byAgent))
	for _, l := range r.byAgent {
		if l.ctrl != nil {
			ls = append(ls, l)
		}
	}
	r.mu.Unlock()
	for _, l := range ls {
		go r.tellReplicas(l) // a slow agent must not hold up the others
	}
}

// tellReplicas sends an agent the live replicas. It reads the list while
// holding the link's control lock, so that of two sends racing the later
// one carries the newer list.
func (r *Relay) tellReplicas(l *link) {
	l.ctrlMu.Lock()
	defer l.ctrlMu.Unlock()
	r.mu.Lock()
	rs := r.replicas
	r.mu.Unlock()
	line, _ := json.Marshal(tunnelproto.Control{Type: tunnelproto.ControlReplicas, Replicas: rs})
	_ = l.ctrl.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, _ = l.ctrl.Write(append(line, '\n'))
}

// readControl handles the agent's control messages.
func (r *Relay) readControl(l *link) {
	sc := bufio.NewScanner(l.ctrl)
	sc.Buffer(make([]byte, 4096), 64<<10)
	for sc.Scan() {
		var m tunnelproto.Control
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue
		}
		if m.Type == tunnelproto.ControlDrain {
			l.mu.Lock()
			l.draining = true
			l.mu.Unlock()
			r.log.Info("agent draining", "agent", l.agentID)
		}
	}
}

// ---- the embedded agent ----

// EmbeddedPreserveProblem is why the embedded agent does not preserve
// client addresses. Its targets are on the server's own host (loopback
// and the host's addresses): a target's answer to a client's address is
// made on that host and routed by its main table out toward the client,
// never through the prerouting mark and local route that bring a remote
// agent's answers back to its transparent socket. It does send PROXY
// protocol v2 headers.
const EmbeddedPreserveProblem = "the embedded agent serves targets on the server's own host, whose answers to a client's address would leave the host instead of reaching the agent; serve the endpoint with `postern endpoint-agent` on a host set up for client IP preservation, or use the PROXY protocol option"

// AddLocal makes the server itself serve an endpoint as agent agentID: it
// dials targets directly, under policy.
func (r *Relay) AddLocal(endpointID, agentID, name string, policy egress.Policy, dialTimeout time.Duration) error {
	if dialTimeout <= 0 {
		dialTimeout = 10 * time.Second
	}
	l := &link{agentID: agentID, endpointID: endpointID, name: name, version: "embedded", addr: "in-process",
		since: r.cfg.Now().UTC(), local: &localAgent{policy: policy, dialTimeout: dialTimeout, streams: map[*localStream]struct{}{}},
		features: []string{tunnelproto.FeatureProxyV2}, preserveProblem: EmbeddedPreserveProblem}
	return r.add(l, nil)
}

// LoopbackPolicy is the egress policy of an embedded agent serving its own
// machine: the VPC's networks, loopback and host addresses allowed.
func LoopbackPolicy(vpc store.Vpc) egress.Policy {
	p := egress.Policy{AllowLoopback: true, AllowHost: true}
	for _, c := range VPCCIDRs(vpc) {
		if pfx, err := netip.ParsePrefix(c); err == nil {
			p.VPC = append(p.VPC, pfx)
		}
	}
	return p
}
