// Package frontdoor serves `GET /openTunnel`, the WebSocket door through
// which the AWS CLI, the AWS SDKs' users and `postern … open-tunnel` open
// TCP tunnels (docs/aws-compat.md §1, docs/architecture.md §2).
//
// A request is decided before any upgrade, in this order, each refusal a
// JSON body {"ErrorCode":…,"Message":…} with a fitting HTTP status:
// a WebSocket handshake that can be upgraded (handshakeRefusal); a query
// string that parses strictly and names each parameter once; the
// presigned SigV4 signature (service ec2-instance-connect, expiry, clock
// skew, session token), the URL's lifetime (at most MaxURLLifetime) and
// the replay guard; parameters parsed and bounded before any arithmetic
// (remotePort 1–65535, maxTunnelDuration 1–MaxDuration); the endpoint (exists,
// usable, an agent connected); the port policy; the address (inside the
// endpoint's VPC, of a family its IpAddressType serves); IAM
// (ec2-instance-connect:OpenTunnel on the endpoint's ARN with its condition
// keys); security groups; the endpoint's concurrency limit. Then an agent
// of the endpoint dials the target while the replay guard's answer is
// awaited, and the request is answered with 101 Switching Protocols while
// the dial and the attempt's durable audit commit (the two overlap) may
// still run: no byte flows either way (client → target, target → client)
// until the dial answered and the attempt's OpenTunnel event is on disk.
// A failed commit then closes the WebSocket (1011); a failed dial ends the
// tunnel on record before its first byte (a CloseTunnel with the dial's
// failure, then 1011 with the reason); a client that leaves meanwhile
// ends the dial (watchGone) and its tunnel (CloseTunnel ClientGone).
// Every attempt, refused or not, is one OpenTunnel event; every tunnel
// whose OpenTunnel succeeded ends with a CloseTunnel event.
package frontdoor

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gobwas/httphead"

	"github.com/postern/postern/internal/server/audit"
	"github.com/postern/postern/internal/server/endpoints"
	"github.com/postern/postern/internal/server/identity"
	"github.com/postern/postern/internal/server/metrics"
	"github.com/postern/postern/internal/server/policy"
	"github.com/postern/postern/internal/server/relay"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/util/idlemem"
	"github.com/postern/postern/internal/util/lazyattr"
	"github.com/postern/postern/internal/util/stackgrow"
	"github.com/postern/postern/internal/wire/awsid"
	"github.com/postern/postern/internal/wire/awsproto"
	"github.com/postern/postern/internal/wire/sigv4"
	"github.com/postern/postern/internal/wire/tunnelproto"
)

// Replay modes for presigned URLs.
const (
	// ReplaySourceIP accepts a URL again only from the address that used
	// it first (the AWS CLI's listener mode presigns each connection with
	// a one-second timestamp, so two connections in one second send the
	// same URL).
	ReplaySourceIP = "source-ip"
	// ReplaySingleUse accepts every URL once.
	ReplaySingleUse = "single-use"
)

// Defaults.
const (
	DefaultMaxDuration = 3600 * time.Second
	// DefaultMaxURLLifetime is how long a presigned URL may be good for
	// (the AWS CLI signs 60 s).
	DefaultMaxURLLifetime = 5 * time.Minute
	// DefaultConcurrency is the default limit of open tunnels per
	// endpoint (AWS's is 20).
	DefaultConcurrency = 10000
	// SigningName is the SigV4 service of openTunnel URLs.
	SigningName = "ec2-instance-connect"
	// ActionOpenTunnel is the IAM action.
	ActionOpenTunnel = "ec2-instance-connect:OpenTunnel"
)

// Config configures the front door.
type Config struct {
	Store         store.Store
	Authenticator *identity.Authenticator
	Authorizer    *identity.Authorizer
	Relay         *relay.Relay
	AccountID     string
	Region        string
	// Ports is the port policy; default DefaultPorts (22 and 3389).
	Ports []PortRange
	// MaxDuration is the longest maxTunnelDuration a request may ask for
	// and the default when it asks none... AWS: both 3600 s. A longer
	// maximum lets requests ask for longer tunnels; requests that ask for
	// nothing still get DefaultMaxDuration.
	MaxDuration time.Duration
	// MaxURLLifetime caps how long a presigned URL is good for (default
	// DefaultMaxURLLifetime): a longer X-Amz-Expires is refused, and a URL
	// without X-Amz-Expires expires this long after its X-Amz-Date.
	MaxURLLifetime time.Duration
	// Concurrency is the default limit of open tunnels per endpoint.
	Concurrency int
	// Replay is ReplaySourceIP (default) or ReplaySingleUse.
	Replay string
	// PingInterval is how often the server pings an idle client (default
	// 30 s); a client silent for three intervals is dropped.
	PingInterval time.Duration
	// CloseGrace is how long a half-closed tunnel may go on (default 5 s).
	CloseGrace time.Duration
	// EndOnSessionExpiry ends a tunnel when the role session that opened
	// it expires (AWS lets it run to its maximum duration).
	EndOnSessionExpiry bool
	// Audit records attempts and closes; default a Writer of its own.
	Audit *audit.Writer
	// Metrics, when set, counts tunnels.
	Metrics *metrics.Metrics
	Logger  *slog.Logger
	Now     func() time.Time
}

// FrontDoor is the http.Handler of GET /openTunnel.
type FrontDoor struct {
	cfg   Config
	log   *slog.Logger
	audit *audit.Writer
	// regions is awsproto.HeaderRegions on every refusal: the regions
	// the Authenticator accepts signatures for, the server's own first.
	regions string

	mu         sync.Mutex
	tunnels    map[string]*tunnel
	dialing    map[string]*dialingTunnel // answered 101, their dial running (dialing.go)
	byEndpoint map[string]int
	stopping   bool
	pinging    bool          // the keepalive goroutine runs
	done       chan struct{} // closed by Shutdown
	closedDone bool
	wg         sync.WaitGroup
	// memRelease gives free memory back to the system once tunnels
	// stopped opening and closing (package idlemem); made with the first
	// tunnel.
	memRelease *idlemem.Releaser

	groups    groupCache    // security-group answers (checkGroups)
	vpcs      vpcCache      // VPCs by id
	endpoints endpointCache // endpoints by id (off on replicated stores)
}

// New returns a FrontDoor.
func New(cfg Config) (*FrontDoor, error) {
	if cfg.Store == nil || cfg.Authenticator == nil || cfg.Authorizer == nil || cfg.Relay == nil || cfg.AccountID == "" || cfg.Region == "" {
		return nil, errors.New("frontdoor: Config needs Store, Authenticator, Authorizer, Relay, AccountID and Region")
	}
	if cfg.Ports == nil {
		cfg.Ports = DefaultPorts
	}
	if cfg.MaxDuration <= 0 {
		cfg.MaxDuration = DefaultMaxDuration
	}
	if cfg.MaxURLLifetime <= 0 {
		cfg.MaxURLLifetime = DefaultMaxURLLifetime
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	switch cfg.Replay {
	case "":
		cfg.Replay = ReplaySourceIP
	case ReplaySourceIP, ReplaySingleUse:
	default:
		return nil, fmt.Errorf("frontdoor: replay mode %q: want %s or %s", cfg.Replay, ReplaySourceIP, ReplaySingleUse)
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = 30 * time.Second
	}
	if cfg.CloseGrace <= 0 {
		cfg.CloseGrace = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Audit == nil {
		cfg.Audit = audit.NewWriter(cfg.Store, nil)
	}
	f := &FrontDoor{cfg: cfg, log: cfg.Logger, audit: cfg.Audit, regions: awsproto.FormatRegions(cfg.Authenticator.Regions()),
		tunnels: map[string]*tunnel{}, byEndpoint: map[string]int{}, done: make(chan struct{})}
	f.groups.changes = store.CacheCounter(cfg.Store, store.ChangeFeed)
	f.vpcs.changes = store.CacheCounter(cfg.Store, store.ChangeFeed)
	f.endpoints.changes = store.CacheCounter(cfg.Store, store.NextRead)
	return f, nil
}

// request is one openTunnel attempt while it is decided.
type request struct {
	id         string // request id (x-amzn-RequestId)
	tunnelID   string
	at         time.Time
	sourceIP   string
	userAgent  string
	principal  *identity.Principal
	akid       string
	params     audit.OpenTunnelParams
	endpoint   store.Endpoint
	addr       netip.Addr
	port       int
	duration   time.Duration
	agentID    string
	endpointRN string
	// openAgentID is the agent the OpenTunnel record names (the first
	// asked); a close names it beside agentID, the carrier, which
	// differs after a fail-over.
	openAgentID string
	// changes is the store's change count as the checks began
	// (FrontDoor.changes): addDialing compares it with the count once
	// the tunnel is listed.
	changes uint64
}

// ServeHTTP serves GET /openTunnel.
func (f *FrontDoor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The checks (the presigned URL's parsing and signature) take
	// net/http's connection goroutine from 8 KiB to 16 KiB of stack: grown
	// here first, in a copy of a few frames, not deep inside them. The
	// goroutine ends with the upgrade (the tunnel runs on its own).
	stackgrow.To16K()
	req := &request{id: awsproto.NewRequestID(), at: f.cfg.Now(), sourceIP: remoteIP(r), userAgent: r.UserAgent()}
	req.tunnelID = awsid.EC2("tnl")
	log := lazyattr.With(f.log, slog.String("request_id", req.id))
	// The request counts in f.wg from here (Shutdown waits for it), unless
	// the server is stopping already: then decide refuses it. Counting
	// starts under f.mu, where Shutdown sets stopping, so no Add can race
	// with Shutdown's Wait.
	f.mu.Lock()
	counted := !f.stopping
	if counted {
		f.wg.Add(1)
	}
	f.mu.Unlock()
	handedOff := false
	defer func() {
		if counted && !handedOff {
			f.wg.Done()
		}
	}()
	dial, ref := f.decide(r, req)
	if ref != nil {
		f.refuse(w, r, req, ref, log)
		return
	}
	// Every check passed and every refusal was decided: serveTunnel
	// answers 101 at once, then waits for the dial and records the attempt
	// before the first byte flows.
	handedOff = counted && f.serveTunnel(w, r, req, dial, log)
}

// pendingDial is the agent's dial of an attempt that passed every check,
// running in a goroutine of its own so that the 101 can be written
// meanwhile.
type pendingDial struct {
	done    chan struct{}
	end     context.CancelFunc // ends the dial's context once it answered
	stream  relay.Stream
	agentID string
	err     error

	chosen     chan struct{} // closed when the relay first chose an agent
	chosenOnce sync.Once
	chosenID   string // that agent (set before chosen is closed)
}

// startDial asks an agent of the endpoint to dial.
func (f *FrontDoor) startDial(ctx context.Context, end context.CancelFunc, endpointID string, dial tunnelproto.DialRequest) *pendingDial {
	p := &pendingDial{done: make(chan struct{}), end: end, chosen: make(chan struct{})}
	chose := func(agentID string) {
		p.chosenOnce.Do(func() {
			p.chosenID = agentID
			close(p.chosen)
		})
	}
	go p.dial(func() (relay.Stream, string, error) {
		return f.cfg.Relay.OpenTold(ctx, endpointID, dial, chose)
	})
	return p
}

// dial runs open, the dial, on startDial's goroutine and keeps its
// answer. The dial request's write to the agent (crypto/tls's seal) takes
// the goroutine's stack to 8 KiB: grown here first, in one shallow copy,
// not in two deep inside the write. The goroutine ends with the answer,
// so no open tunnel holds the larger stack.
func (p *pendingDial) dial(open func() (relay.Stream, string, error)) {
	stackgrow.To8K()
	p.stream, p.agentID, p.err = open()
	close(p.done)
}

// firstAgent waits until the relay chose the agent that dials, or the
// dial answered without one, and returns that agent's id: the first the
// relay asked (see relay.Relay.OpenTold; it fails over to another only
// when that one drains or its link fails before it answers), else the
// one the answer names ("" when no agent could be asked).
func (p *pendingDial) firstAgent() string {
	select {
	case <-p.chosen:
		return p.chosenID
	case <-p.done:
	}
	select {
	case <-p.chosen: // chosen, then answered at once
		return p.chosenID
	default:
		return p.agentID
	}
}

// answered tells whether the dial has answered (wait would not block).
func (p *pendingDial) answered() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait returns the dial's answer (every call the same).
func (p *pendingDial) wait() (relay.Stream, string, error) {
	<-p.done
	p.end()
	return p.stream, p.agentID, p.err
}

// abandon ends a dial whose attempt was refused: it waits for the dial
// (its context is cancelled, so a hanging one ends at once) and ends the
// stream, through which no byte has flowed (the front door sent the agent
// nothing but the dial request).
func (p *pendingDial) abandon() {
	p.end()
	if s, _, err := p.wait(); err == nil {
		_ = s.SendEnd(tunnelproto.CodeInternal, "the tunnel was refused")
		_ = s.Close()
	}
}

// decide runs every check, in order, then starts the agent's dial. On
// success it returns the dial, still running, with a concurrency slot
// held; its failure is no longer a refusal of the request (the caller
// answers 101 first, then closes the WebSocket).
//
// The replay guard's write (a commit) runs while the checks after it
// read the store, and while the agent dials the target once every other
// check passed; its answer is awaited before decide returns, and it wins
// over any later refusal, so the answers are those of the checks run one
// after the other. A replayed URL that passes every other check therefore
// costs its target at most one TCP connection that carries no byte: a
// dial still running when the guard refuses is ended then, a dialled
// stream before the client is answered. (A dial that sends the target a
// PROXY protocol header waits for the guard instead.)
func (f *FrontDoor) decide(r *http.Request, req *request) (pending *pendingDial, ref *Refusal) {
	ctx := r.Context()
	// Read before any check reads the store: a change counted after it
	// is re-decided once the tunnel is listed (addDialing).
	req.changes = f.changes()
	// One parse of the query: url.ParseQuery keeps the pairs it could
	// parse (what r.URL.Query() returns) and reports the first bad one.
	q, qerr := url.ParseQuery(r.URL.RawQuery)
	req.params = audit.OpenTunnelParams{
		InstanceConnectEndpointID: q.Get("instanceConnectEndpointId"),
		RemotePort:                q.Get("remotePort"),
		PrivateIPAddress:          q.Get("privateIpAddress"),
		MaxTunnelDuration:         q.Get("maxTunnelDuration"),
	}
	if c, err := sigv4.ParseCredential(q.Get("X-Amz-Credential")); err == nil {
		req.akid = c.AccessKeyID
	}
	if f.isStopping() {
		return nil, refuse(http.StatusServiceUnavailable, "ServiceUnavailable", ReasonServerStopping, "The Postern server is shutting down; try again.")
	}
	// The handshake is checked here as the upgrader will check it after
	// the dial: a request it cannot upgrade is refused (and recorded) as
	// any other, before its URL is spent, a slot taken or a target dialled.
	if ref := upgradeRefusal(r); ref != nil {
		return nil, ref
	}
	if ref := checkQuery(q, qerr); ref != nil {
		return nil, ref
	}
	// 1. The presigned signature.
	if q.Get("X-Amz-Signature") == "" || r.Header.Get("Authorization") != "" {
		return nil, refuse(http.StatusForbidden, "MissingAuthenticationTokenException", ReasonSignature,
			"openTunnel needs a URL presigned with SigV4 for the service ec2-instance-connect.")
	}
	p, res, err := f.cfg.Authenticator.AuthenticateQuery(ctx, r, nil, q)
	if err != nil {
		var se *sigv4.Error
		if errors.As(err, &se) {
			return nil, signatureRefusal(se)
		}
		f.log.Error("openTunnel authentication failed", "error", err)
		return nil, refuse(http.StatusInternalServerError, "InternalError", ReasonInternal, "The request could not be authenticated.")
	}
	req.principal = p
	if res.Service != SigningName {
		return nil, refuse(http.StatusForbidden, "InvalidSignatureException", ReasonSignature,
			"Credential should be scoped to correct service: '%s'.", SigningName)
	}
	if ref := f.checkLifetime(q, req, res); ref != nil {
		return nil, ref
	}
	// The guard's refusal ends the agent's dial at once: a replayed URL
	// must not hold the slot and the client for as long as a target that
	// does not answer makes the dial last (the deferred call then answers
	// with the refusal). The guard's own goroutine cancels it, so no
	// goroutine waits for the guard's answer only to end the dial.
	// The dial's context outlives decide when the dial is handed over
	// (pendingDial.wait ends it then).
	dialCtx, endDial := context.WithCancel(ctx)
	defer func() {
		if pending == nil {
			endDial()
		}
	}()
	replay := f.startReplayCheck(ctx, req, res, endDial)
	defer func() {
		if rr := replay(); rr != nil {
			// Recorded as when the guard answered before any dial: a
			// dial's agent is not named.
			pending, ref, req.agentID = nil, rr, ""
		}
	}()
	// Parameters.
	if ref := parseParams(req, f.cfg.MaxDuration); ref != nil {
		return nil, ref
	}
	// 2. The endpoint.
	// Which endpoint may carry a tunnel is package endpoints' rule.
	ep, err := f.endpoints.get(ctx, f.cfg.Store, req.params.InstanceConnectEndpointID)
	var refusal error
	if err == nil {
		refusal = endpoints.TunnelRefusal(ep)
	}
	if errors.Is(err, store.ErrNotFound) || errors.Is(refusal, endpoints.ErrEndpointGone) {
		return nil, refuse(http.StatusNotFound, "InvalidInstanceConnectEndpointId.NotFound", ReasonEndpoint,
			"The instance connect endpoint ID '%s' does not exist.", req.params.InstanceConnectEndpointID)
	}
	if err != nil {
		return nil, f.internal("get endpoint", err)
	}
	req.endpoint, req.endpointRN = ep, ep.ARN
	if refusal != nil { // endpoints.ErrEndpointNotUsable
		return nil, refuse(http.StatusConflict, "IncorrectState", ReasonEndpoint,
			"The instance connect endpoint '%s' is in state %s and cannot open tunnels.", ep.EndpointID, ep.State)
	}
	if !f.cfg.Relay.HasAgent(ep.EndpointID) {
		return nil, refuse(http.StatusServiceUnavailable, "EndpointUnavailable", ReasonNoAgent,
			"No endpoint agent of '%s' is connected; start `postern endpoint-agent` in its network.", ep.EndpointID)
	}
	// 3. The port policy.
	if !portAllowed(f.cfg.Ports, req.port) {
		return nil, portRefusal(f.cfg.Ports)
	}
	// 4. The address.
	vpc, err := f.vpcs.get(ctx, f.cfg.Store, ep.VpcID)
	if err != nil {
		return nil, f.internal("get vpc", err)
	}
	if ref := addressInVPC(req.addr, vpc, ep.IPAddressType); ref != nil {
		return nil, ref
	}
	// 5. IAM.
	if ref := f.authorize(ctx, req); ref != nil {
		return nil, ref
	}
	// 6. Security groups.
	if ref := f.checkGroups(ctx, req, vpc); ref != nil {
		return nil, ref
	}
	// The replay guard's commit may still run: the slot and the agent's
	// dial overlap it (startDial; the guard is awaited before decide
	// returns), and its refusal still wins.
	// 7. Concurrency.
	if !f.reserve(req) {
		return nil, refuse(http.StatusTooManyRequests, "ThrottlingException", ReasonConcurrency,
			"The instance connect endpoint '%s' has reached its limit of %d concurrent connections.", ep.EndpointID, f.cfg.Concurrency)
	}
	// Dial: from the client's address when the endpoint preserves it,
	// with a PROXY protocol header when its tags ask for one.
	dial := tunnelproto.DialRequest{TunnelID: req.tunnelID, Address: req.addr.String(), Port: req.port, TimeoutMillis: 10_000}
	proxy, ref := proxyProtocol(ep, req.port)
	if ref != nil {
		f.release(req)
		return nil, ref
	}
	if ep.PreserveClientIP || proxy != "" {
		client, err := netip.ParseAddrPort(r.RemoteAddr)
		if err != nil {
			f.release(req)
			return nil, f.internal("client address", err)
		}
		dial.Client = netip.AddrPortFrom(client.Addr().Unmap(), client.Port()).String()
		dial.PreserveClientIP, dial.ProxyProtocol = ep.PreserveClientIP, proxy
	}
	if proxy != "" {
		// The agent sends the target a PROXY protocol header as soon as it
		// connected: a replayed URL must not cause even that, so this
		// dial waits for the replay guard.
		if ref := replay(); ref != nil {
			f.release(req)
			return nil, ref
		}
	}
	// The dial runs while the guard's write commits; the guard's refusal
	// (its goroutine ends the dial at once) still wins.
	if dialCtx.Err() != nil {
		// The guard may have refused already (its refusal ends the dial's
		// context): then no agent is asked to connect the target.
		if ref := replay(); ref != nil {
			f.release(req)
			return nil, ref
		}
	}
	pd := f.startDial(dialCtx, endDial, ep.EndpointID, dial)
	if ref := replay(); ref != nil {
		pd.abandon()
		f.release(req)
		return nil, ref
	}
	if dial.PreserveClientIP || dial.ProxyProtocol != "" {
		// Whether an agent can preserve the client's address or send a
		// header is the relay's answer (ClientIpPreservationUnavailable,
		// ProxyProtocolUnavailable: a configuration to fix, worded at
		// more length than a close frame holds): such a dial is answered
		// before the upgrade, its failure a refusal as any other.
		if _, agentID, err := pd.wait(); err != nil {
			req.agentID = agentID
			f.release(req)
			return nil, dialRefusal(err, ep.EndpointID)
		}
	}
	return pd, nil
}

func (f *FrontDoor) internal(what string, err error) *Refusal {
	f.log.Error("openTunnel: "+what, "error", err)
	return refuse(http.StatusInternalServerError, "InternalError", ReasonInternal, "An internal error occurred; try again.")
}

// parseParams validates the query parameters into req.
func parseParams(req *request, maxDur time.Duration) *Refusal {
	p := req.params
	if p.InstanceConnectEndpointID == "" {
		return refuse(http.StatusBadRequest, "InvalidParameter", ReasonBadRequest, "The request must contain the parameter instanceConnectEndpointId.")
	}
	if !validEndpointID(p.InstanceConnectEndpointID) {
		return refuse(http.StatusBadRequest, "InvalidInstanceConnectEndpointId.Malformed", ReasonBadRequest,
			"Invalid id: \"%.64s\" (expecting \"eice-...\"). Ensure that you specify the ID in the form eice-xxxxxxxxxxxxxxxxx.", p.InstanceConnectEndpointID)
	}
	if p.RemotePort == "" {
		return refuse(http.StatusBadRequest, "InvalidParameter", ReasonBadRequest, "The request must contain the parameter remotePort.")
	}
	port, ok := boundedInt(p.RemotePort, 1, 65535)
	if !ok {
		return refuse(http.StatusBadRequest, "InvalidParameter", ReasonBadRequest, "The specified RemotePort %q is not a port number.", limit(p.RemotePort, 16))
	}
	req.port = int(port)
	if p.PrivateIPAddress == "" {
		return refuse(http.StatusBadRequest, "InvalidParameter", ReasonBadRequest, "The request must contain the parameter privateIpAddress.")
	}
	addr, err := netip.ParseAddr(p.PrivateIPAddress)
	if err != nil || addr.Zone() != "" {
		return refuse(http.StatusBadRequest, "InvalidParameter", ReasonBadRequest, "The specified PrivateIpAddress %q is not an IP address.", limit(p.PrivateIPAddress, 64))
	}
	req.addr = addr.Unmap()
	req.duration = DefaultMaxDuration
	if p.MaxTunnelDuration == "" {
		req.params.MaxTunnelDuration = strconv.Itoa(int(DefaultMaxDuration / time.Second))
	} else {
		// Bounded before the multiplication, which cannot overflow then.
		maxSeconds := int64(maxDur / time.Second)
		n, ok := boundedInt(p.MaxTunnelDuration, 1, maxSeconds)
		if !ok {
			return refuse(http.StatusBadRequest, "InvalidParameter", ReasonBadRequest,
				"The specified MaxTunnelDuration %q is not valid. Specify a number of seconds from 1 to %d.", limit(p.MaxTunnelDuration, 24), maxSeconds)
		}
		req.duration = time.Duration(n) * time.Second
	}
	return nil
}

// boundedInt parses s, decimal digits only (no sign, no spaces), as a
// number within [lo, hi].
func boundedInt(s string, lo, hi int64) (int64, bool) {
	if s == "" || len(s) > 18 { // 18 digits fit an int64
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, false
	}
	return n, true
}

// checkQuery refuses a query string that does not parse strictly or that
// repeats a parameter (any parameter, X-Amz-* included): a URL signed
// with remotePort twice must not open a tunnel to whichever value a
// parser happens to take.
func checkQuery(q url.Values, parseErr error) *Refusal {
	if parseErr != nil {
		return refuse(http.StatusBadRequest, "InvalidParameter", ReasonBadRequest, "The request's query string could not be parsed.")
	}
	names := make([]string, 0, len(q))
	for k, v := range q {
		if len(v) > 1 {
			names = append(names, k)
		}
	}
	if len(names) > 0 {
		slices.Sort(names)
		return refuse(http.StatusBadRequest, "InvalidParameter", ReasonBadRequest,
			"The parameter %q appears more than once in the request; each parameter may be sent once.", limit(names[0], 64))
	}
	return nil
}

// checkLifetime caps how long the presigned URL is good for: an
// X-Amz-Expires over MaxURLLifetime is refused, and a URL without one
// (the SDKs' form, which sigv4 gives a longer default window) expires
// MaxURLLifetime after its X-Amz-Date. It narrows res.Expires to match.
func (f *FrontDoor) checkLifetime(q url.Values, req *request, res *sigv4.Result) *Refusal {
	maxLife := f.cfg.MaxURLLifetime
	if q.Has("X-Amz-Expires") {
		// sigv4 has parsed it already; bound it before any arithmetic.
		if _, ok := boundedInt(q.Get("X-Amz-Expires"), 1, int64(maxLife/time.Second)); !ok {
			return refuse(http.StatusBadRequest, "InvalidParameter", ReasonSignature,
				"X-Amz-Expires must be at most %d seconds for openTunnel URLs on this server; presign a URL that expires sooner (the AWS CLI signs 60 s).", int64(maxLife/time.Second))
		}
		return nil
	}
	expires := res.SigningTime.Add(maxLife)
	if req.at.After(expires) {
		return refuse(http.StatusForbidden, "InvalidSignatureException", ReasonSignature,
			"Request has expired: a URL without X-Amz-Expires is good for %d seconds after its X-Amz-Date on this server.", int64(maxLife/time.Second))
	}
	if res.Expires.IsZero() || res.Expires.After(expires) {
		res.Expires = expires
	}
	return nil
}

func validEndpointID(id string) bool {
	if len(id) < 6 || len(id) > 64 || id[:5] != "eice-" {
		return false
	}
	for _, c := range id[5:] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_') {
			return false
		}
	}
	return true
}

func limit(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// signatureRefusal maps a signature failure to the JSON error AWS's JSON
// services use.
func signatureRefusal(e *sigv4.Error) *Refusal {
	switch e.Reason {
	case sigv4.ReasonMissingAuth:
		return refuse(http.StatusForbidden, "MissingAuthenticationTokenException", ReasonSignature, "%s", e.Message)
	case sigv4.ReasonIncomplete, sigv4.ReasonMalformed:
		return refuse(http.StatusBadRequest, "IncompleteSignatureException", ReasonSignature, "%s", e.Message)
	case sigv4.ReasonUnknownKey, sigv4.ReasonInvalidToken:
		return refuse(http.StatusForbidden, "UnrecognizedClientException", ReasonSignature, "%s", e.Message)
	case sigv4.ReasonExpiredToken:
		return refuse(http.StatusForbidden, "ExpiredTokenException", ReasonSignature, "%s", e.Message)
	case sigv4.ReasonExpired, sigv4.ReasonSkew:
		return refuse(http.StatusForbidden, "InvalidSignatureException", ReasonSignature, "%s", e.Message)
	}
	return refuse(http.StatusForbidden, "InvalidSignatureException", ReasonSignature, "%s", e.Message)
}

// startReplayCheck runs checkReplay in its own goroutine and returns
// the function that waits for its answer (every call gives the same one).
// On a refusal the goroutine calls onRefuse (it ends the agent's dial)
// before it answers. The goroutine reads only req.at, req.sourceIP and
// res, which no later check changes.
func (f *FrontDoor) startReplayCheck(ctx context.Context, req *request, res *sigv4.Result, onRefuse func()) func() *Refusal {
	// The guard's key: the signature's hash, made once per request.
	sum := sha256.Sum256([]byte(res.Signature))
	if m, ok := f.cfg.Store.(presignMemory); ok {
		if m.KnowsPresignUse(sum[:], req.at.UTC()) {
			// The store answers from memory: the answer is known now,
			// before any agent is asked to dial (decide looks first).
			ref := f.checkReplay(ctx, req, res, sum[:])
			if ref != nil {
				onRefuse()
			}
			return func() *Refusal { return ref }
		}
	}
	done := make(chan *Refusal, 1)
	go func() {
		ref := f.checkReplay(ctx, req, res, sum[:])
		if ref != nil {
			onRefuse()
		}
		done <- ref
	}()
	var once sync.Once
	var ref *Refusal
	return func() *Refusal {
		once.Do(func() { ref = <-done })
		return ref
	}
}

// presignMemory is a store that can tell whether it answers a presigned
// URL's replay guard from memory (sqlstore.Store.KnowsPresignUse).
type presignMemory interface {
	KnowsPresignUse(hash []byte, now time.Time) bool
}

// checkReplay records the URL's first use (hash: its signature's SHA-256)
// and refuses replays: from another address (source-ip mode) or at all
// (single-use mode).
func (f *FrontDoor) checkReplay(ctx context.Context, req *request, res *sigv4.Result, hash []byte) *Refusal {
	expires := res.Expires
	if expires.IsZero() {
		expires = req.at.Add(15 * time.Minute)
	}
	u := store.PresignUse{SignatureHash: hash, SourceIP: req.sourceIP, FirstUsedAt: req.at.UTC(), ExpiresAt: expires.UTC()}
	record := f.cfg.Store.RecordPresignUse
	if us, ok := f.cfg.Store.(store.UnsyncedPresignUses); ok {
		// The guard's write need not wait for the disk: the attempt's
		// record, a durable commit, always follows it before a refusal
		// is answered and before any byte of a tunnel flows (its 101 may
		// come first), and puts it on disk (store.UnsyncedPresignUses).
		record = us.RecordPresignUseUnsynced
	}
	first, isFirst, err := record(ctx, u)
	if err != nil {
		return f.internal("record presigned URL use", err)
	}
	if isFirst {
		return nil
	}
	if f.cfg.Replay == ReplaySingleUse {
		return refuse(http.StatusForbidden, "AccessDeniedException", ReasonReplay,
			"This presigned URL was used already; this server accepts each URL once. Presign a new one.")
	}
	if first.SourceIP != req.sourceIP {
		return refuse(http.StatusForbidden, "AccessDeniedException", ReasonReplay,
			"This presigned URL was used already from another source address. Presign a new one.")
	}
	return nil
}

// authorize evaluates ec2-instance-connect:OpenTunnel.
func (f *FrontDoor) authorize(ctx context.Context, req *request) *Refusal {
	cx := policy.Context{}
	cx.Set("ec2-instance-connect:remotePort", strconv.Itoa(req.port))
	cx.Set("ec2-instance-connect:privateIpAddress", req.addr.String())
	cx.Set("ec2-instance-connect:maxTunnelDuration", strconv.Itoa(int(req.duration/time.Second)))
	for _, t := range req.endpoint.Tags {
		cx.Set("aws:ResourceTag/"+t.Key, t.Value)
		cx.Set("ec2:ResourceTag/"+t.Key, t.Value)
	}
	info := identity.RequestInfo{SourceIP: req.sourceIP, Secure: true}
	dec, err := f.cfg.Authorizer.Authorize(ctx, req.principal, info, ActionOpenTunnel, req.endpointRN, cx)
	if errors.Is(err, identity.ErrPrincipalGone) {
		// Deleted since the URL was authenticated: refused as its
		// credential now is.
		f.log.Info("openTunnel: the identity was deleted during the request", "principal", req.principal.ARN)
		return signatureRefusal(&sigv4.Error{Reason: sigv4.ReasonInvalidToken, Message: "The security token included in the request is invalid."})
	}
	if err != nil {
		return f.internal("authorize", err)
	}
	if dec.Allowed {
		return nil
	}
	why := "because no identity-based policy allows the " + ActionOpenTunnel + " action"
	if dec.Effect == policy.Deny {
		why = "with an explicit deny in an identity-based policy"
	}
	return refuse(http.StatusForbidden, "AccessDeniedException", ReasonIAM,
		"User: %s is not authorized to perform: %s on resource: %s %s", req.principal.ARN, ActionOpenTunnel, req.endpointRN, why)
}

// checkGroups applies the endpoint's egress rules and, when the target is
// a registered instance, its ingress rules.
func (f *FrontDoor) checkGroups(ctx context.Context, req *request, vpc store.Vpc) *Refusal {
	return f.groups.check(ctx, groupKey(req.endpoint, vpc.VpcID, req), func(ctx context.Context) *Refusal {
		return f.readGroups(ctx, req, vpc)
	})
}

// readGroups is checkGroups reading the store.
func (f *FrontDoor) readGroups(ctx context.Context, req *request, vpc store.Vpc) *Refusal {
	ep := req.endpoint
	var target *store.Instance
	inst, err := f.cfg.Store.FindInstanceByAddress(ctx, vpc.VpcID, req.addr.String())
	switch {
	case err == nil:
		target = &inst
	case !errors.Is(err, store.ErrNotFound):
		return f.internal("find instance", err)
	}
	rules, err := f.cfg.Store.ListSecurityGroupRules(ctx, ep.SecurityGroupIDs)
	if err != nil {
		return f.internal("list endpoint rules", err)
	}
	if len(ep.SecurityGroupIDs) == 0 || !egressAllows(rules, req.addr, req.port, target) {
		return refuse(http.StatusForbidden, "AccessDeniedException", ReasonSecurityGroup,
			"The security groups of instance connect endpoint '%s' do not allow outbound TCP to %s port %d.", ep.EndpointID, req.addr, req.port)
	}
	if target == nil {
		return nil
	}
	irules, err := f.cfg.Store.ListSecurityGroupRules(ctx, target.SecurityGroupIDs)
	if err != nil {
		return f.internal("list instance rules", err)
	}
	src := ingressSource{groups: ep.SecurityGroupIDs}
	if ep.PreserveClientIP {
		src.clientIP, _ = netip.ParseAddr(req.sourceIP)
	} else {
		sub, err := f.cfg.Store.GetSubnet(ctx, ep.SubnetID)
		if err != nil {
			return f.internal("get subnet", err)
		}
		for _, c := range []string{sub.CidrBlock, sub.Ipv6CidrBlock} {
			if p, err := netip.ParsePrefix(c); err == nil {
				src.nets = append(src.nets, p)
			}
		}
	}
	if len(target.SecurityGroupIDs) == 0 || !ingressAllows(irules, req.port, src) {
		return refuse(http.StatusForbidden, "AccessDeniedException", ReasonSecurityGroup,
			"The security groups of instance %s do not allow inbound TCP port %d from instance connect endpoint '%s'.", target.InstanceID, req.port, ep.EndpointID)
	}
	return nil
}

// dialRefusal words a failed dial.
func dialRefusal(err error, endpointID string) *Refusal {
	var de *relay.DialError
	switch {
	case errors.Is(err, relay.ErrNoAgent):
		return refuse(http.StatusServiceUnavailable, "EndpointUnavailable", ReasonNoAgent,
			"No endpoint agent of '%s' could take the tunnel; try again.", endpointID)
	case errors.As(err, &de):
		status := http.StatusBadGateway
		switch de.Code {
		case tunnelproto.CodeTimeout:
			status = http.StatusGatewayTimeout
		case tunnelproto.CodeNotAllowed:
			status = http.StatusForbidden
		case tunnelproto.CodePreserveUnavailable, tunnelproto.CodeProxyUnavailable:
			status = http.StatusServiceUnavailable
		}
		return refuse(status, de.Code, ReasonDial, "%s", de.Message)
	}
	return refuse(http.StatusBadGateway, "EndpointUnavailable", ReasonDial, "The endpoint agent could not be reached: %v", err)
}

// reserve takes a concurrency slot of the endpoint.
func (f *FrontDoor) reserve(req *request) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.byEndpoint[req.endpoint.EndpointID] >= f.cfg.Concurrency {
		return false
	}
	f.byEndpoint[req.endpoint.EndpointID]++
	return true
}

func (f *FrontDoor) release(req *request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n := f.byEndpoint[req.endpoint.EndpointID]; n <= 1 {
		delete(f.byEndpoint, req.endpoint.EndpointID)
	} else {
		f.byEndpoint[req.endpoint.EndpointID] = n - 1
	}
}

func (f *FrontDoor) isStopping() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stopping
}

func (f *FrontDoor) meta(req *request) audit.Meta {
	return audit.Meta{AccountID: f.cfg.AccountID, Region: f.cfg.Region, Principal: req.principal, AccessKeyID: req.akid,
		SourceIP: req.sourceIP, UserAgent: req.userAgent, RequestID: req.id, Time: req.at}
}

// refuse answers a refused attempt, after recording it.
func (f *FrontDoor) refuse(w http.ResponseWriter, r *http.Request, req *request, ref *Refusal, log *slog.Logger) {
	f.noteRefusal(r, req, ref, log)
	f.writeRefusal(w, req.id, ref)
}

// noteRefusal records, counts and logs a refused attempt.
func (f *FrontDoor) noteRefusal(r *http.Request, req *request, ref *Refusal, log *slog.Logger) {
	if req.params.MaxTunnelDuration == "" {
		req.params.MaxTunnelDuration = strconv.Itoa(int(DefaultMaxDuration / time.Second))
	}
	rec := audit.OpenTunnel(f.meta(req), req.params, req.endpointRN, audit.OpenTunnelData{AgentID: req.agentID}, ref.Code, ref.Message)
	if err := f.audit.Write(context.WithoutCancel(r.Context()), rec, "", req.params.InstanceConnectEndpointID); err != nil {
		log.Error("could not record a refused tunnel", "error", err)
	}
	lvl := slog.LevelInfo
	if ref.Status >= 500 {
		lvl = slog.LevelWarn
	}
	principal := ""
	if req.principal != nil {
		principal = req.principal.ARN
	}
	f.cfg.Metrics.TunnelRefused(ref.Reason)
	log.Log(r.Context(), lvl, "tunnel refused", "reason", ref.Reason, "code", ref.Code, "status", ref.Status,
		"principal", principal, "source", req.sourceIP, "endpoint", req.params.InstanceConnectEndpointID,
		"target", net.JoinHostPort(req.params.PrivateIPAddress, req.params.RemotePort), "message", ref.Message)
}

// writeRefusal writes the JSON error body the AWS CLI prints, with the
// regions the server accepts (awsproto.HeaderRegions), which AWS's
// clients ignore and the postern CLI reads for its wrong-region hint.
func (f *FrontDoor) writeRefusal(w http.ResponseWriter, requestID string, ref *Refusal) {
	body, _ := json.Marshal(struct {
		ErrorCode string `json:"ErrorCode"`
		Message   string `json:"Message"`
	}{ref.Code, ref.Message})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("x-amzn-RequestId", requestID)
	w.Header().Set(awsproto.HeaderRegions, f.regions)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	if ref.Reason == ReasonReplay {
		w.Header().Set(tunnelproto.HeaderReplay, "refused")
	}
	if ref.Reason == ReasonHandshake {
		// The client meant to leave HTTP: whatever it sends next (frames)
		// is no request. net/http closes the connection after the answer.
		w.Header().Set("Connection", "close")
		if ref.Status == http.StatusUpgradeRequired {
			w.Header().Set("Sec-WebSocket-Version", "13")
		}
	}
	w.WriteHeader(ref.Status)
	_, _ = w.Write(body)
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Unmap().String()
	}
	return host
}

// ReasonHandshake labels the refusal of a WebSocket handshake that
// cannot be upgraded (handshakeRefusal).
const ReasonHandshake = "handshake"

// handshakeRefusal refuses a WebSocket handshake that the upgrader
// (ws.HTTPUpgrader, in serveTunnel) would refuse, with the checks it makes,
// in its order, on the same header values (the first of each): HTTP/1.1 or
// later on a connection it can take over (HTTP/1.x), a Host, "Upgrade:
// websocket", a Connection header naming upgrade, a Sec-WebSocket-Key
// (RFC 6455: 16 bytes, base64; the upgrader checks its length only) and
// Sec-WebSocket-Version 13 (another version is 426 Upgrade Required with
// the version this server speaks, as RFC 6455 §4.4 asks). The upgrade's
// result is thus known before the dial: a bad handshake is a refusal
// decided before any other check, not an attempt that dials and fails.
func handshakeRefusal(r *http.Request) *Refusal {
	bad := func(status int, format string, args ...any) *Refusal {
		return refuse(status, "InvalidParameter", ReasonHandshake, format, args...)
	}
	if r.ProtoMajor != 1 || r.ProtoMinor < 1 {
		return bad(http.StatusBadRequest, "openTunnel's WebSocket handshake needs HTTP/1.1.")
	}
	if r.Host == "" {
		return bad(http.StatusBadRequest, "The WebSocket handshake needs a Host header.")
	}
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		return bad(http.StatusBadRequest, "The WebSocket handshake's Upgrade header must be websocket.")
	}
	if c := r.Header.Get("Connection"); c != "Upgrade" {
		switch has, wellFormed := listHasToken(c, "upgrade"); {
		case has:
		case c == "":
			return bad(http.StatusBadRequest, "The WebSocket handshake needs a Connection header naming Upgrade.")
		case !wellFormed:
			return bad(http.StatusBadRequest, "The WebSocket handshake's Connection header %q is no comma-separated list of tokens before Upgrade; send Connection: Upgrade.", limit(c, 64))
		default:
			return bad(http.StatusBadRequest, "The WebSocket handshake's Connection header must name Upgrade (in its first Connection line).")
		}
	}
	key := r.Header.Get("Sec-WebSocket-Key")
	if k, err := base64.StdEncoding.DecodeString(key); err != nil || len(k) != 16 || len(key) != 24 {
		return bad(http.StatusBadRequest, "The WebSocket handshake needs a Sec-WebSocket-Key of 16 bytes in base64.")
	}
	switch v := r.Header.Get("Sec-WebSocket-Version"); v {
	case "13":
	case "":
		return bad(http.StatusBadRequest, "The WebSocket handshake needs Sec-WebSocket-Version: 13.")
	default:
		return bad(http.StatusUpgradeRequired, "WebSocket version %q is not supported; this server speaks version 13.", limit(v, 16))
	}
	return nil
}

// listHasToken reports whether a header value, read as a comma-separated
// list of tokens (RFC 9110's 1#token) with the upgrader's own lexer
// (httphead.ScanTokens), holds token (case-insensitive), so that the
// front door and the upgrader agree. The lexer stops at the first item
// that is no token (a quoted string, a separator other than a comma):
// wellFormed is false when it stopped there before finding token, or when
// v holds no token at all.
func listHasToken(v, token string) (has, wellFormed bool) {
	wellFormed = httphead.ScanTokens([]byte(v), func(t []byte) bool {
		has = strings.EqualFold(string(t), token)
		return !has
	})
	return has, wellFormed
}

// upgradeRefusal refuses an openTunnel request that is no WebSocket
// upgrade (a GET with an Upgrade header), then one whose handshake the
// upgrader would refuse (handshakeRefusal); nil when it can be upgraded.
// The headers are read once, by handshakeRefusal: the first question only
// asks whether the client meant an upgrade, so that a malformed
// Connection or Upgrade header is refused with what is wrong with it.
func upgradeRefusal(r *http.Request) *Refusal {
	if r.Method != http.MethodGet || len(r.Header.Values("Upgrade")) == 0 {
		return refuse(http.StatusBadRequest, "InvalidParameter", ReasonBadRequest, "openTunnel must be a WebSocket upgrade request (a GET with Upgrade: websocket and Connection: Upgrade).")
	}
	return handshakeRefusal(r)
}
