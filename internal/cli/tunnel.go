package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/util/bufpool"
	"github.com/postern/postern/internal/util/idlemem"
	"github.com/postern/postern/internal/util/stackgrow"
	"github.com/postern/postern/internal/util/textpages"
)

// tunnelShortcut is `postern tunnel`, open-tunnel under a shorter name.
func tunnelShortcut(env *Env) *cobra.Command {
	c := openTunnelCommand(env)
	c.Use = "tunnel"
	c.Short = "Open a tunnel (alias of `ec2-instance-connect open-tunnel`)"
	return c
}

var instanceIDRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^i-[0-9a-zA-Z]+$`) })

// tunnelOptions are open-tunnel's flags, as the AWS CLI names them.
type tunnelOptions struct {
	instanceID, endpointID, dnsName, privateIP   string
	remotePort, localPort, maxDuration, maxConns int
	// maxDurationSet: --max-tunnel-duration was given (its 0 is refused,
	// not taken as unset).
	maxDurationSet bool
}

func openTunnelCommand(env *Env) *cobra.Command {
	var o tunnelOptions
	cmd := &cobra.Command{
		Use:   "open-tunnel",
		Short: "Open a WebSocket tunnel to a private instance through an Instance Connect Endpoint",
		Long: `Open a tunnel to a TCP port of a private instance through an Instance Connect Endpoint.

Without --local-port the tunnel uses stdin and stdout, for ssh's ProxyCommand:
  ssh -o ProxyCommand='postern ec2-instance-connect open-tunnel --instance-id %h' ec2-user@i-0123456789abcdef0
With --local-port it listens on localhost and opens one tunnel per connection, e.g. for RDP
or a database (when the server allows the port):
  postern ec2-instance-connect open-tunnel --instance-id i-0123456789abcdef0 --remote-port 3389 --local-port 13389`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.maxDurationSet = cmd.Flags().Changed("max-tunnel-duration")
			return runOpenTunnel(cmd.Context(), env, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.instanceID, "instance-id", "", "the instance to connect to (its IP, VPC and endpoint are looked up)")
	f.StringVar(&o.endpointID, "instance-connect-endpoint-id", "", "the endpoint to use (default: one in the instance's VPC, same subnet first)")
	f.StringVar(&o.dnsName, "instance-connect-endpoint-dns-name", "", "the endpoint's DNS name (skips the endpoint lookup; needs --instance-connect-endpoint-id)")
	f.StringVar(&o.privateIP, "private-ip-address", "", "the private IPv4 or IPv6 address to connect to (skips the instance lookup; needs --instance-connect-endpoint-id)")
	f.IntVar(&o.remotePort, "remote-port", 22, "the port to connect to on the instance")
	f.IntVar(&o.localPort, "local-port", 0, "listen on this local port instead of using stdin/stdout (0: stdin/stdout)")
	f.IntVar(&o.maxDuration, "max-tunnel-duration", 0, "close the tunnel after this many seconds, 1 to 3600 as with the AWS CLI (default 3600)")
	f.IntVar(&o.maxConns, "max-websocket-connections", 10, "with --local-port, the most tunnels open at once")
	return cmd
}

func runOpenTunnel(ctx context.Context, env *Env, o tunnelOptions) error {
	// Grown once while shallow: the open's look-up and tunnel take this
	// goroutine through the SDK's deep middleware chain, which otherwise
	// grew its stack three times there (−0.16 ms of CPU per ProxyCommand
	// process, internal/bench/tunnelbench/RESULTS.md "s20, UB").
	stackgrow.To64K()
	switch {
	case o.instanceID == "" && o.privateIP == "":
		return usageErr("the following arguments are required: --instance-id or --private-ip-address")
	case o.instanceID != "" && !instanceIDRe().MatchString(o.instanceID):
		return usageErr("--instance-id %q is not an instance id (i-…)", o.instanceID)
	case o.privateIP != "" && o.endpointID == "":
		return usageErr("--private-ip-address needs --instance-connect-endpoint-id")
	case o.dnsName != "" && o.endpointID == "":
		return usageErr("--instance-connect-endpoint-dns-name needs --instance-connect-endpoint-id")
	case o.remotePort < 1 || o.remotePort > 65535:
		return usageErr("--remote-port %d is not a port", o.remotePort)
	case o.maxDurationSet && (o.maxDuration < 1 || o.maxDuration > 3600):
		// The AWS CLI's bounds, refused before any call (as `ssh
		// --eice-options maxTunnelDuration`): 1 to 3600 inclusive,
		// whatever the server's tunnel.max_duration_seconds.
		return usageErr("Invalid max connection timeout specified. Value must be greater than 1 and less than 3600.")
	case o.maxConns < 1:
		return usageErr("--max-websocket-connections must be at least 1")
	case o.localPort < 0 || o.localPort > 65535:
		return usageErr("--local-port %d is not a port", o.localPort)
	}
	if o.privateIP != "" {
		if ip := net.ParseIP(o.privateIP); ip == nil {
			return usageErr("--private-ip-address %q is not an IP address", o.privateIP)
		}
	}
	if o.localPort == 0 {
		if f, ok := env.Stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			return usageErr("This command does not support interactive mode. Use it as ssh's ProxyCommand, pipe data into it, or pass --local-port.")
		}
	}
	cfg, err := env.LoadAWSConfig(ctx)
	if err != nil {
		return err
	}
	// The look-up's API calls and the tunnels share one trust: a tunnel's
	// handshake resumes the API connection's TLS session (tlsresume.go).
	cfg, _ = withSessionCache(cfg, newSharedSessions())
	d := &client.Dialer{Credentials: cfg.Credentials, Region: cfg.Region, TLS: tlsConfigOf(cfg, env.g.noVerifySSL),
		UserAgent: "postern/" + Version + " command/ec2-instance-connect.open-tunnel"}
	defer d.CloseSpares()
	t := client.Target{InstanceID: o.instanceID, EndpointID: o.endpointID, DNSName: o.dnsName, PrivateIP: o.privateIP,
		RemotePort: o.remotePort, MaxTunnelDuration: o.maxDuration}
	if t.PrivateIP == "" || t.DNSName == "" {
		// The look-up's calls go over one connection of their own
		// (lookupClient), which the tunnel then takes (HandOff). Those
		// of the SDK's client (a proxy's, plain HTTP) are closed once
		// it is done: a kept-alive one would hold its TLS state,
		// buffers and two goroutines (and the SDK client they reach)
		// here, and a connection in the server, for the tunnel's whole
		// life.
		var apiConns connSet
		lcfg := withConnSet(cfg, &apiConns)
		one := lookupClient(lcfg, d)
		if one != nil {
			lcfg.HTTPClient = one
		}
		api := ec2.NewFromConfig(lcfg, func(eo *ec2.Options) { setEndpoint(&eo.BaseEndpoint, env.g.endpointURL) })
		err := client.Resolve(ctx, api, &t)
		apiConns.closeAll()
		if one != nil {
			if err == nil {
				one.HandOff()
			} else {
				one.Close()
			}
		}
		if err != nil {
			var re *client.ResolveError
			if errors.As(err, &re) {
				return &exitError{code: ExitOther, msg: re.Message}
			}
			op := "OpenTunnel"
			var oe *client.OpError
			if errors.As(err, &oe) {
				op = oe.Op
			}
			// A server that cannot be reached or trusted, a wrong region or
			// clock fail the whole command, not the look-up: the message
			// names the operation the user asked for. A refusal of the
			// look-up itself (not found, access denied) names the look-up,
			// as the AWS CLI's open-tunnel does.
			var ae smithy.APIError
			if transportError(op, err) != "" || errors.As(err, &ae) && apiHint(err, ae.ErrorCode(), ae.ErrorMessage()) != "" {
				op = "OpenTunnel"
			}
			return apiError(op, err)
		}
	}
	if o.localPort == 0 {
		if err := client.RunStdio(ctx, d, t, env.Stdin, env.Stdout); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return &exitError{code: ExitOther, msg: tunnelErrorLine(err, t, d.Region)}
		}
		return nil
	}
	ln, err := listenLocal(ctx, o.localPort)
	if err != nil {
		return &exitError{code: ExitOther, msg: fmt.Sprintf("Cannot listen on port %d: %v", o.localPort, err)}
	}
	l := &client.Listener{Dialer: d, Target: t, Max: o.maxConns, Out: env.Stdout}
	// The release timers stop when the command returns (none fires into
	// a caller that goes on: tests, a process that runs the CLI inside).
	idle, stopIdle := releaseWhenIdle(l.Active, releaseMemory)
	defer stopIdle()
	l.Idle = idle
	// Open connections too: once tunnels stopped opening, closing and
	// moving bytes for burstQuiet, what the burst's handshakes left goes
	// back (at most once a second, or 20 times what a release took).
	rel := idlemem.New(burstQuiet, time.Second, bufpool.Lends, releaseMemory)
	defer rel.Stop()
	// While a burst of opens runs, the garbage collector runs less often
	// (burstGC).
	gc := newBurstGC()
	l.Queued = gc.begin
	// One P while the client uses little CPU (procsGovernor).
	var procs *procsGovernor
	l.Changed = func() {
		rel.Active()
		gc.opened()
		procs.poke()
	}
	// A bulk transfer on a connection opened long before, with nothing
	// accepted, opened or closed since, is seen too.
	l.Bulk = func() { procs.poke() }
	// And at once when a burst of opens is over, connections still open
	// (with GOGC's percent back first).
	released, stopReleased := releaseAfterBurst(l.Opening, releaseMemory, time.Now)
	defer stopReleased()
	l.Drained = func() {
		gc.end()
		released()
	}
	// A connection to the server is kept ready for the next local
	// connection's tunnel (client.Dialer.KeepSpares); the look-up's, when
	// it was made, is the first. What a spare's handshake left goes back
	// as a burst's does; and once spareWarm after the last open the last
	// spare is closed with none in its place, what that close and the
	// spares before it mapped goes too (once per stop: no release
	// follows it until a tunnel opens again), rather than staying with an
	// idle client for good.
	d.OnSpareMade(rel.Active)
	d.OnSparesStopped(rel.Active)
	d.KeepSpares(t.DNSName)
	// What the start and the look-up left (the SDK's client, its answers)
	// goes too, unless a connection comes first.
	l.Idle()
	procs = startProcsGovernor()
	defer procs.stop()
	if err := l.Serve(ctx, ln); err != nil {
		return &exitError{code: ExitOther, msg: err.Error()}
	}
	return nil
}

// connSet holds the connections a transport dialed, to close them.
type connSet struct {
	mu    sync.Mutex
	conns []net.Conn
}

func (s *connSet) add(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conns = append(s.conns, c)
}

// lookupClient is the look-up's HTTP client: a client.APIClient on the
// tunnel's Dialer (its TLS settings are the SDK client's: tlsConfigOf),
// with cfg's SDK client for what it does not carry, bound by the same
// timeouts; nil when cfg's HTTP client is of another kind.
func lookupClient(cfg aws.Config, d *client.Dialer) *client.APIClient {
	bc, ok := cfg.HTTPClient.(*awshttp.BuildableClient)
	if !ok {
		return nil
	}
	c := &client.APIClient{Dialer: d, Fallback: bc}
	if tr := bc.GetTransport(); tr != nil {
		c.Proxy, c.ConnectTimeout, c.ReadTimeout = tr.Proxy, tr.TLSHandshakeTimeout, tr.ResponseHeaderTimeout
	}
	return c
}

// closeAll closes every connection dialed so far.
func (s *connSet) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		_ = c.Close()
	}
	s.conns = nil
}

// withConnSet returns cfg with its SDK HTTP client's connections noted in
// s (an HTTP client of another kind is left as it is).
func withConnSet(cfg aws.Config, s *connSet) aws.Config {
	bc, ok := cfg.HTTPClient.(*awshttp.BuildableClient)
	if !ok {
		return cfg
	}
	cfg.HTTPClient = bc.WithTransportOptions(func(t *http.Transport) {
		dial := t.DialContext
		if dial == nil {
			dial = (&net.Dialer{}).DialContext
		}
		t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dial(ctx, network, addr)
			if err == nil {
				s.add(c)
			}
			return c, err
		}
	})
	return cfg
}

// tunnelErrorLine words a failed tunnel: a server that cannot be reached
// or trusted as for the API calls, an endpoint without an agent with the
// commands that start one, the rest as client.ErrorLine does.
func tunnelErrorLine(err error, t client.Target, region string) string {
	endpointID := t.EndpointID
	var re *client.RefusedError
	if errors.As(err, &re) && re.ErrorCode == "EndpointUnavailable" {
		return client.ErrorLine(err) + fmt.Sprintf(" A new agent needs a join token: \"postern ec2 create-endpoint-join-token --instance-connect-endpoint-id %s\", "+
			"then \"postern endpoint-agent --join-token TOKEN\" on a machine in its network.", endpointID)
	}
	if errors.As(err, &re) {
		return client.ErrorLine(err) + refusalHint(re, region)
	}
	var ue *url.Error
	if !errors.As(err, &ue) {
		err = &url.Error{Op: "GET", URL: "wss://" + t.DNSName + "/openTunnel", Err: err}
	}
	if msg := transportError("OpenTunnel", err); msg != "" {
		return trimNL(msg)
	}
	return client.ErrorLine(err)
}

// tlsConfigOf returns the TLS settings the SDK's HTTP client uses (the
// trusted CA bundle), for the tunnel's own connection.
func tlsConfigOf(cfg aws.Config, insecure bool) *tls.Config {
	out := &tls.Config{MinVersion: tls.VersionTLS12}
	if bc, ok := cfg.HTTPClient.(*awshttp.BuildableClient); ok {
		if tr := bc.GetTransport(); tr != nil && tr.TLSClientConfig != nil {
			out = tr.TLSClientConfig.Clone()
		}
	} else if hc, ok := cfg.HTTPClient.(*http.Client); ok {
		if tr, ok := hc.Transport.(*http.Transport); ok && tr.TLSClientConfig != nil {
			out = tr.TLSClientConfig.Clone()
		}
	}
	if insecure {
		out.InsecureSkipVerify = true //nolint:gosec // the user asked for --no-verify-ssl
	}
	return out
}

// idleRelease is how long a --local-port client waits, once its last
// connection has closed, before it gives its free memory back.
const idleRelease = 50 * time.Millisecond

// burstQuiet is how long a --local-port client's tunnels must stay
// without opening, closing or moving bytes before it gives back the
// memory a burst of opens left (the garbage collector lets the heap grow
// to twice what is live: at 1,000 open connections, most of the
// client's memory).
const burstQuiet = 250 * time.Millisecond

// releaseMemory gives the client's free memory back to the system: a
// collection, then debug.FreeOSMemory's (which returns every free page).
// Two, because a collection only moves what the sync.Pools hold (the
// tunnels' 64 KiB buffers, crypto/tls's and the WebSocket library's) to
// their victim caches; the next one frees it. Then the pages of the
// binary the start, the look-up and the burst ran, which the process
// would keep mapped for as long as it lives (textpages: most of an idle
// client's resident memory); what runs next maps its pages again from
// the page cache. Its error is ignored: the pages stay mapped then, as
// before it.
func releaseMemory() {
	runtime.GC()
	debug.FreeOSMemory()
	_, _ = textpages.Release()
}

// burstRelease is the least time between two of releaseAfterBurst's
// releases (or 20 times what the last one took, if longer).
const burstRelease = time.Second

// burstSettle is how long a burst of opens must have stayed over before
// releaseAfterBurst releases: connections that come a little slower than
// they open drain the burst for a moment, and a release in the middle of
// a burst costs a collection and page faults for nothing.
const burstSettle = 50 * time.Millisecond

// releaseAfterBurst returns a Listener's Drained: once a burst of opens has
// been over (opening() is 0) for burstSettle, it calls release
// (releaseMemory) on a goroutine of its own, so that what the burst's
// handshakes left, which the garbage collector's headroom keeps (twice
// the live heap: at 1,000 connections opened at once about a quarter of
// the client's memory), goes back while the connections stay open,
// rather than after burstQuiet with nothing happening. Not while one
// runs, nor within burstRelease or 20 times what the last one took (a
// collection of a large heap takes long) of the start of the last one: a
// burst that ends then is released once that time has come, unless opens
// are in flight again (their burst's end releases). stop stops its timers:
// no release starts after it.
func releaseAfterBurst(opening func() int64, release func(), now func() time.Time) (drained, stop func()) {
	b := &burstReleaser{release: release, now: now, opening: opening}
	var retry debouncer
	b.after = func(d time.Duration, f func()) { retry.start(d, f) }
	settle := &debouncer{d: burstSettle, f: func() { b.settled(opening) }}
	return settle.call, func() {
		settle.stop()
		retry.stop()
	}
}

// debounce returns a function that calls f (on a goroutine of its own)
// once d has passed since it was last called: a series of calls closer
// together than d calls f once; stop stops it: f is not called after
// stop returns, unless it had started already.
func debounce(d time.Duration, f func()) (call, stop func()) {
	b := &debouncer{d: d, f: f}
	return b.call, b.stop
}

// debouncer is debounce's timer.
type debouncer struct {
	d time.Duration
	f func()

	mu      sync.Mutex
	timer   *time.Timer
	stopped bool
}

// call (re)starts the timer for d.
func (b *debouncer) call() { b.start(b.d, b.f) }

// start (re)starts the timer: f once d has passed, unless stopped.
func (b *debouncer) start(d time.Duration, f func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped {
		return
	}
	b.f = f
	if b.timer == nil {
		b.timer = time.AfterFunc(d, b.fire)
		return
	}
	b.timer.Reset(d)
}

// fire is the timer's: f, unless stop came first.
func (b *debouncer) fire() {
	b.mu.Lock()
	f := b.f
	if b.stopped {
		f = nil
	}
	b.mu.Unlock()
	if f != nil {
		f()
	}
}

// stop stops the timer for good.
func (b *debouncer) stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stopped = true
	if b.timer != nil {
		b.timer.Stop()
	}
}

// burstReleaser is releaseAfterBurst's state.
type burstReleaser struct {
	release func()
	now     func() time.Time
	// opening is the number of opens in flight or waiting (nil: none);
	// after runs f once d has passed (time.AfterFunc; nil: a burst that
	// ends too soon after a release is not released later).
	opening func() int64
	after   func(d time.Duration, f func())

	mu      sync.Mutex
	next    time.Time // no release before this
	running bool
	retry   bool // a later try is set (after)
}

// retried is the later try drained set: a release if no open is in
// flight or waiting by then (if some are, their burst's end releases).
func (b *burstReleaser) retried() {
	b.mu.Lock()
	b.retry = false
	b.mu.Unlock()
	if b.opening == nil || b.opening() == 0 {
		b.drained()
	}
}

// settled starts a release if no open is in flight or waiting (opening),
// as drained does; it tells whether it started one.
func (b *burstReleaser) settled(opening func() int64) bool {
	return opening() == 0 && b.drained()
}

// drained starts a release unless one runs or the last was too recent;
// it tells whether it started one.
func (b *burstReleaser) drained() bool {
	b.mu.Lock()
	start := b.now()
	if b.running || start.Before(b.next) {
		// Too soon: try again when a release may start (while one runs,
		// its end is not known yet: after the least interval).
		if !b.retry && b.after != nil {
			b.retry = true
			wait := burstRelease
			if !b.running {
				wait = b.next.Sub(start)
			}
			b.after(max(wait, burstSettle), b.retried)
		}
		b.mu.Unlock()
		return false
	}
	b.running = true
	b.mu.Unlock()
	go func() {
		b.release()
		took := b.now().Sub(start)
		b.mu.Lock()
		b.running = false
		b.next = start.Add(max(burstRelease, 20*took))
		b.mu.Unlock()
	}()
	return true
}

// burstGCExtra is how much more heap growth, in percent of the live heap,
// burstGC lets the garbage collector allow while a burst of opens runs
// (on top of GOGC's: 100 by default, so the heap may grow to 3 times what
// is live instead of twice), and burstGCHeadroom bounds what that lets
// the heap use beyond GOGC's growth. Measured on the binaries at 1,000
// connections opened at once (internal/bench/tunnelbench, RESULTS.md):
// the client's CPU per open −4 to −13 %, its memory per open connection,
// once the burst's memory is given back, +2–3 KiB (the live objects of a
// burst are spread over more pages); 300 cut no more CPU for +7 KiB.
const (
	burstGCExtra    = 100
	burstGCHeadroom = 32 << 20
	// burstGCEvery is how many of the Listener's Changed calls go
	// between two looks at the live heap (burstGC.opened).
	burstGCEvery = 16
)

// burstGC lets the garbage collector run less often while a burst of
// opens runs (Listener.Queued to Listener.Drained): each open's TLS
// handshake and presigned URL allocate ~65 KiB that is garbage once it
// is done, so with GOGC's default a burst of 1,000 opens ran a dozen
// collections, each scanning every open connection's heap and goroutine
// stacks: about a fifth of the client's CPU in the burst. Raised, the
// heap may grow by burstGCExtra % of the live heap more, never by more
// than burstGCHeadroom (the percent is lowered as the live heap grows,
// looked at every burstGCEvery calls of opened), so a burst uses at most
// that much more memory while it runs; once it is over, GOGC's percent is
// back before releaseAfterBurst gives the burst's memory back. A GOGC of
// off or 0 is left alone; GOMEMLIMIT still bounds the heap.
type burstGC struct {
	// setPercent is debug.SetGCPercent; read gives the GC percent now
	// (GOGC's; negative: off) and the heap live after the last
	// collection (tests replace both).
	setPercent func(int) int
	read       func() (percent int, live uint64)

	mu     sync.Mutex
	raised bool
	prev   int // the percent before the burst (GOGC's)
	opens  int // opens since the last look at the live heap
}

// newBurstGC returns a burstGC that sets the runtime's GC percent.
func newBurstGC() *burstGC {
	samples := []metrics.Sample{{Name: "/gc/gogc:percent"}, {Name: "/gc/heap/live:bytes"}}
	var mu sync.Mutex
	return &burstGC{setPercent: debug.SetGCPercent, read: func() (int, uint64) {
		mu.Lock()
		defer mu.Unlock()
		metrics.Read(samples)
		if samples[0].Value.Kind() != metrics.KindUint64 || samples[1].Value.Kind() != metrics.KindUint64 {
			return -1, 0 // unknown: left alone
		}
		// The runtime reports GOGC=off as a huge percent.
		percent := samples[0].Value.Uint64()
		if percent > math.MaxInt32 {
			return -1, 0
		}
		return int(percent), samples[1].Value.Uint64()
	}}
}

// percent is the GC percent for a burst over prev, with live bytes live.
func (g *burstGC) percent(prev int, live uint64) int {
	extra := burstGCExtra
	if live > 0 {
		extra = int(min(uint64(burstGCExtra), burstGCHeadroom*100/live))
	}
	return prev + extra
}

// begin raises the GC percent for a burst (Listener.Queued).
func (g *burstGC) begin() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.raised {
		return
	}
	prev, live := g.read()
	next := g.percent(prev, live)
	if prev <= 0 || next <= prev {
		return
	}
	g.setPercent(next)
	g.raised, g.prev, g.opens = true, prev, 0
}

// opened lowers the raised percent as the live heap grows, looking every
// burstGCEvery calls (Listener.Changed: accepts, opens and closes).
func (g *burstGC) opened() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.raised {
		return
	}
	if g.opens++; g.opens < burstGCEvery {
		return
	}
	g.opens = 0
	_, live := g.read()
	g.setPercent(g.percent(g.prev, live))
}

// end puts the GC percent back (Listener.Drained).
func (g *burstGC) end() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.raised {
		return
	}
	g.setPercent(g.prev)
	g.raised = false
}

// releaseWhenIdle returns a Listener's Idle: idleRelease after the last
// connection closed, if none is open then, it calls release
// (releaseMemory: the client runs the garbage collector and returns
// its free memory to the system), so that an idle client holds what it needs and
// not the buffers and TLS state of its last burst of tunnels. A burst
// that ends and starts again within idleRelease costs nothing more. stop
// stops its timer.
func releaseWhenIdle(active func() int64, release func()) (idle, stop func()) {
	return debounce(idleRelease, func() {
		if active() == 0 {
			release()
		}
	})
}

// listenLocal listens on localhost's port for --local-port. Accepted
// connections get no TCP keep-alive (Go's default sets four socket
// options on each accepted connection, four system calls of every open):
// a loopback peer cannot vanish without its end reaching this side (the
// kernel closes a dead process's sockets), which is all keep-alive would
// find. The tunnel's own connection to the server keeps it.
func listenLocal(ctx context.Context, port int) (net.Listener, error) {
	lc := net.ListenConfig{KeepAlive: -1}
	return lc.Listen(ctx, "tcp4", net.JoinHostPort("localhost", strconv.Itoa(port)))
}
