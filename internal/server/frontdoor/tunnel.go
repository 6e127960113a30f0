package frontdoor

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"github.com/postern/postern/internal/server/audit"
	"github.com/postern/postern/internal/server/httpedge"
	"github.com/postern/postern/internal/server/relay"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/util/bufpool"
	"github.com/postern/postern/internal/util/netutil"
	"github.com/postern/postern/internal/util/sockwait"
	"github.com/postern/postern/internal/wire/tlsbatch"
	"github.com/postern/postern/internal/wire/tunnelproto"
	"github.com/postern/postern/internal/wire/wsframe"
)

// tunnel is an open tunnel: the client's WebSocket and the agent's stream.
type tunnel struct {
	req     *request
	conn    net.Conn
	rd      *wsframe.Reader
	in      clientReader // rd's source
	wr      *wsframe.Writer
	stream  relay.Stream
	started time.Time
	log     *slog.Logger // the front door's, shared (see logInfo)

	// bytesIn counts the client's bytes handed to the agent's stream (the
	// bytes the endpoint carried), not those read after the agent's side
	// ended and dropped (upGone).
	bytesIn  atomic.Int64 // client → target
	bytesOut atomic.Int64 // target → client
	lastRead atomic.Int64 // unix nanoseconds of the client's last frame
	// upGone: the agent's side takes no more of the client's bytes (it
	// ended the tunnel, its stream broke, or a send to it failed): what
	// the client still sends until it answers our close is read and
	// dropped, not carried for the close grace. (Beside mu: no growth.)
	upGone atomic.Bool

	mu          sync.Mutex
	ended       bool   // the outcome is decided
	code        int    // close code sent to the client
	reason      string // tunnelproto code or "Normal"
	message     string // reason text sent to the client
	clientClose bool   // the client sent its close frame
	targetEOF   bool   // the target half-closed
	aside       bool   // an aborted end owes the client its close frame (closeLeft)
	finished    chan struct{}

	closeBy time.Time     // the read deadline for the client's answer to our close (mu)
	grace   time.Duration // how long the client has to answer our close (Config.CloseGrace)
	// poll is the Waiter of the client's socket (beneath TLS) in the
	// process's sockwait.Poller, while the client's frames are read
	// without a goroutine parked between them (clientIdler); nil: a
	// goroutine waits (mu). finish and timeOut close it: a read deadline
	// does not end its wait, and the reader then waits on a goroutine,
	// bounded by the deadline.
	poll *sockwait.Waiter
}

// TunnelInfo describes an open tunnel.
type TunnelInfo struct {
	TunnelID, EndpointID, AgentID string
	Principal, SourceIP           string
	Address                       string
	Port                          int
	Started                       time.Time
	Deadline                      time.Time
	BytesIn, BytesOut             int64
}

// Tunnels lists the open tunnels.
func (f *FrontDoor) Tunnels() []TunnelInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]TunnelInfo, 0, len(f.tunnels))
	for _, t := range f.tunnels {
		p := ""
		if t.req.principal != nil {
			p = t.req.principal.ARN
		}
		out = append(out, TunnelInfo{TunnelID: t.req.tunnelID, EndpointID: t.req.endpoint.EndpointID, AgentID: t.req.agentID,
			Principal: p, SourceIP: t.req.sourceIP, Address: t.req.addr.String(), Port: t.req.port, Started: t.started,
			Deadline: t.started.Add(t.req.duration), BytesIn: t.bytesIn.Load(), BytesOut: t.bytesOut.Load()})
	}
	for _, d := range f.dialing { // on record as open already
		out = append(out, d.info())
	}
	return out
}

// Terminate ends open tunnels that match, with a close code and reason.
// A tunnel whose dial still runs has its dial ended and closes before its
// first byte, with the close code closeCodeFor(reason) gives. It returns
// how many it ended.
func (f *FrontDoor) Terminate(match func(TunnelInfo) bool, code int, reason, message string) int {
	var ts []*tunnel
	var dials []*pendingDial
	for _, info := range f.Tunnels() {
		if match(info) {
			f.mu.Lock()
			if t := f.tunnels[info.TunnelID]; t != nil {
				ts = append(ts, t)
			} else if d := f.terminateDialingLocked(info.TunnelID, reason, message); d != nil {
				dials = append(dials, d)
			}
			f.mu.Unlock()
		}
	}
	for _, d := range dials {
		d.end()
	}
	for _, t := range ts {
		t.finishAside(code, reason, message)
	}
	return len(ts) + len(dials)
}

// Shutdown refuses new tunnels, ends the open ones with 1001 and waits for
// them to be recorded (or ctx to end).
func (f *FrontDoor) Shutdown(ctx context.Context) error {
	f.mu.Lock()
	f.stopping = true
	f.memRelease.Stop()
	if !f.closedDone {
		f.closedDone = true
		close(f.done)
	}
	f.mu.Unlock()
	f.Terminate(func(TunnelInfo) bool { return true }, wsframe.CloseGoingAway, tunnelproto.CodeServerStop, shuttingDown)
	done := make(chan struct{})
	go func() { f.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// serveTunnel upgrades the connection (the 101 leaves while the agent's
// dial may still run), records the attempt durably while the dial runs,
// waits for both, and only then starts carrying the bytes (run): before
// that no byte is read from the client or from the target. The client's
// first frames are read on the handler's goroutine; the HTTP handler
// returns once the client is idle (its wait armed in the Poller), so that
// net/http's state for the connection and the handler's grown stack are
// freed while the tunnel lives (about 23 KiB per idle tunnel, measured in
// internal/bench/wsbench).
//
// Once the 101 left, the attempt is on record as one that opened (its
// OpenTunnel record commits while the agent dials: every check and the
// replay guard passed, the WebSocket is open). A failed dial then ends
// that tunnel before its first byte (failedOpen): a CloseTunnel whose
// reason and message are the dial's failure (ConnectionRefused, …),
// committed before the WebSocket is closed with the code an open tunnel
// gets when its target fails (1011) and the dial's message. A record
// that cannot be committed closes it with 1011 and no byte flows.
//
// While the dial runs on once the record committed, the client's
// connection is watched (watchGone: whether the client closed or reset
// it, without reading a byte of it): a client that leaves ends the dial
// at once and frees the endpoint's slot, and its tunnel is closed on
// record (CloseTunnel ClientGone). A
// handshake that cannot be upgraded never comes here (handshakeRefusal);
// an upgrade that fails all the same (the client left before the 101
// could be written, or the connection could not be taken over) is
// recorded as an attempt that did not open (errorCode ClientGone), with
// no tunnel.
//
// It reports whether it handed the request's count in f.wg to the
// tunnel's goroutine (which then calls Done when the tunnel is recorded).
func (f *FrontDoor) serveTunnel(w http.ResponseWriter, r *http.Request, req *request, dial *pendingDial, log *slog.Logger) bool {
	// Every check passed: the connection becomes a tunnel and no longer
	// counts among its source's unauthenticated ones. The upgrader
	// clears any deadline net/http left on it.
	httpedge.Trust(r.Context())
	up := ws.HTTPUpgrader{Timeout: 10 * time.Second, Header: http.Header{"x-amzn-RequestId": {req.id}}}
	conn, brw, _, upErr := up.Upgrade(r, w)
	if upErr != nil {
		// The upgrader may have hijacked the connection before it failed
		// and leaves it open: net/http no longer owns it, so close it here.
		var rej *ws.ConnectionRejectedError
		var ref *Refusal
		switch {
		case conn == nil: // not taken over: the upgrader answered 500
			log.Error("openTunnel: the connection could not be taken over", "error", upErr)
			ref = refuse(http.StatusInternalServerError, "InternalError", ReasonInternal, "An internal error occurred; try again.")
		case errors.As(upErr, &rej):
			// A handshake handshakeRefusal let through (they disagree: a
			// bug); the upgrader answered it with its own status.
			log.Error("openTunnel: the upgrader refused a handshake that handshakeRefusal accepted", "error", upErr)
			ref = refuse(rej.StatusCode(), "InvalidParameter", ReasonHandshake, "The WebSocket handshake could not be upgraded: %v", upErr)
		default: // the 101 could not be written: the client is gone
			ref = clientGoneRefusal(upErr)
		}
		if conn != nil {
			_ = conn.Close()
		}
		dial.abandon()
		f.release(req)
		f.noteRefusal(r, req, ref, log)
		return false
	}
	// From here net/http no longer owns the connection: a panic must end
	// the process, not be recovered by net/http (crashOnPanic).
	defer crashOnPanic()
	var rd io.Reader = conn
	if brw != nil && brw.Reader.Buffered() > 0 {
		buffered := make([]byte, brw.Reader.Buffered())
		_, _ = io.ReadFull(brw.Reader, buffered)
		rd = io.MultiReader(bytes.NewReader(buffered), conn)
	}
	// Every check and the replay guard passed: the attempt's record is
	// committed while the agent dials (a round trip on a separate
	// agent's link), both awaited before any byte flows. The record names
	// the agent the relay chose, known before its answer (firstAgent).
	// The write is not cancelled with the request: a write that gave up
	// while its batch still committed would refuse a tunnel the trail
	// (and the store's journal of open tunnels) shows open, with no
	// CloseTunnel.
	upgraded := f.cfg.Now()
	chosen := dial.firstAgent()
	// Every close names it (openAgentId) beside the carrier.
	req.openAgentID = chosen
	decided := f.addDialing(req, chosen, upgraded, dial) // on record as open from its commit: Terminate must find it
	rec := audit.OpenTunnel(f.meta(req), req.params, req.endpointRN, audit.OpenTunnelData{TunnelID: req.tunnelID, AgentID: chosen}, "", "")
	// This goroutine waits for the record's commit (the audit batcher's
	// flush goroutine commits it, with other callers' records when busy)
	// while the dial runs on its own (startDial): no goroutine of the
	// front door's own for the write, and no hand-off of its answer (each
	// was a goroutine start, a stack grown for the record's encoding and a
	// wake-up per open).
	cerr := f.audit.Write(context.WithoutCancel(r.Context()), rec, req.tunnelID, req.endpoint.EndpointID)
	// A client that leaves while the dial still runs ends it (dial.end).
	// The watch (a goroutine) starts once the commit returned, and only
	// for a dial that has not answered by then (on loopback and in most
	// networks the dial answers before the commit's fsync): a client gone
	// during the commit is seen at once then (its FIN or reset stays
	// readable). Otherwise one look, without a goroutine, tells whether
	// the client left before its tunnel opened.
	// A record that could not be committed refuses the attempt: a dial
	// still running is ended at once, not awaited to its timeout with the
	// endpoint's slot and the client held for nothing.
	endedUnrecorded := cerr != nil && !dial.answered()
	if endedUnrecorded {
		dial.end()
	}
	var watch *goneWatch
	if !endedUnrecorded && !dial.answered() {
		watch = watchGone(conn, dial.end)
	}
	stream, agentID, err := dial.wait()
	gone := watch.stop()
	if watch == nil {
		gone = clientGoneNow(conn)
	}
	req.agentID = agentID
	if err == nil && gone != nil {
		_ = stream.SendEnd(codeClientGone, "the client left before the tunnel opened")
		_ = stream.Close()
	}
	if cerr != nil {
		f.takeDialing(req.tunnelID)
		log.Error("could not record the tunnel; refusing it", "error", cerr)
		if err == nil && gone == nil {
			_ = stream.SendEnd(tunnelproto.CodeInternal, "audit failure")
			stream.Close()
		}
		f.release(req)
		// A failed dial or a client that left is counted as failedOpen
		// counts it when the record committed (tunnels_refused_total); a
		// dial that succeeded, or that was ended for the record, is
		// refused for the record, an internal error (the client gets
		// 1011), and counted so.
		if gone != nil {
			f.cfg.Metrics.TunnelRefused(clientGoneRefusal(gone).Reason)
		} else if err != nil && !endedUnrecorded {
			f.cfg.Metrics.TunnelRefused(dialRefusal(err, req.endpoint.EndpointID).Reason)
		} else {
			f.cfg.Metrics.TunnelRefused(ReasonInternal)
		}
		if gone != nil {
			_ = conn.Close()
			return false
		}
		f.closeUnopened(conn, rd, wsframe.CloseInternalError, "The tunnel could not be recorded; try again.")
		return false
	}
	openEventID := rec.EventID
	if gone != nil || err != nil {
		// The tunnel is on record as open; it ends before its first
		// byte (failedOpen). Its close names the agent that answered,
		// else the one the record names.
		if req.agentID == "" {
			req.agentID = chosen
		}
		var ref *Refusal
		code := 0 // no close frame: the client is gone
		if gone != nil {
			ref = clientGoneRefusal(gone)
		} else {
			ref = dialRefusal(err, req.endpoint.EndpointID)
			code = closeCodeFor(ref.Code)
		}
		if term := f.takeDialing(req.tunnelID); term != nil && gone == nil {
			ref, code = term, closeCodeFor(term.Code) // Terminate ended its dial
		}
		f.release(req)
		f.failedOpen(r, req, openEventID, upgraded, code, ref, log)
		if gone != nil {
			_ = conn.Close()
		} else {
			f.closeUnopened(conn, rd, code, ref.Message)
		}
		return false
	}
	req.detach()
	t := &tunnel{req: req, conn: conn, wr: wsframe.NewWriter(conn, false),
		stream: stream, started: f.cfg.Now(), log: f.log, finished: make(chan struct{}), grace: f.cfg.CloseGrace}
	t.in = clientReader{src: rd, conn: conn}
	if rd == io.Reader(conn) {
		t.in.setRaw(netutil.TCPBeneath(conn))
	}
	t.rd = wsframe.NewReader(&t.in, true)
	t.lastRead.Store(time.Now().UnixNano())
	// A change counted since the checks began is re-decided before the
	// first byte (addDialing): a revocation it missed ends the tunnel here.
	decided()
	f.mu.Lock()
	if term := f.takeDialingLocked(req.tunnelID); term != nil {
		// Terminated while it dialled: it ends before its first byte.
		f.mu.Unlock()
		_ = stream.SendEnd(term.Code, term.Message)
		_ = stream.Close()
		f.release(req)
		f.failedOpen(r, req, openEventID, upgraded, closeCodeFor(term.Code), term, log)
		f.closeUnopened(conn, rd, closeCodeFor(term.Code), term.Message)
		return false
	}
	f.tunnels[req.tunnelID] = t
	// Shutdown may have begun while this tunnel was being decided: its
	// Terminate did not see it, so it ends here the same way.
	stopping := f.stopping
	memRelease := f.memRelease // made by addDialing (startSweepsLocked)
	f.mu.Unlock()
	memRelease.Active()
	f.cfg.Metrics.TunnelOpened(f.cfg.Now().Sub(req.at))
	if stopping {
		t.finish(wsframe.CloseGoingAway, tunnelproto.CodeServerStop, shuttingDown, true)
	}
	// The tunnel's first reading of the client runs here, on the
	// handler's goroutine, whose stack crypto/tls has grown already: run
	// returns once the client's next bytes are waited for in the Poller
	// (or hands the reading to a goroutine of its own where there is
	// none), so the handler still returns while the tunnel lives.
	f.run(t, openEventID)
	return true
}

// codeClientGone is the reason of a tunnel whose client left: the
// CloseTunnel reason of an open tunnel, the errorCode of an attempt whose
// client left before it opened.
const codeClientGone = "ClientGone"

// ReasonClientGone labels (metrics) an attempt whose client left before
// its tunnel opened.
const ReasonClientGone = "client_gone"

// clientGoneRefusal is the record of an attempt whose client left (why:
// err) after every check passed, before its tunnel opened. Nothing is
// answered (the status is never sent: nginx's "client closed request").
func clientGoneRefusal(err error) *Refusal {
	why := "it closed its connection"
	if !errors.Is(err, io.EOF) {
		why = err.Error()
	}
	return refuse(499, codeClientGone, ReasonClientGone, "The client disconnected before the tunnel opened: %s.", why)
}

// failedOpen records, counts and logs the end of a tunnel whose OpenTunnel
// record (openEventID) was committed while its dial ran, and that ended
// before its first byte: its dial failed (ref is the refusal the failure
// was before the 101 came first, code the close frame it gets) or its
// client left (code 0: no close frame). The trail shows a tunnel that
// opened and ended at once: a CloseTunnel whose reason and message are
// ref's code and message, which also closes it in the store's journal of
// open tunnels. It is committed before the client's close frame is
// written, so that a client reading the trail once closed finds it (the
// console's terminal does). The failure is counted as before the record
// overlapped the dial, a refusal with ref's reason (tunnels_refused),
// never an opened or closed tunnel.
func (f *FrontDoor) failedOpen(r *http.Request, req *request, openEventID string, opened time.Time, code int, ref *Refusal, log *slog.Logger) {
	end := f.cfg.Now()
	d := audit.CloseDetails{TunnelID: req.tunnelID, AgentID: req.agentID, OpenAgentID: req.openAgentID,
		DurationSeconds: end.Sub(opened).Seconds(), Reason: ref.Code, CloseCode: code, Message: ref.Message, OpenEventID: openEventID,
		OpenedAt: opened.UTC().Format(time.RFC3339Nano), RemotePort: strconv.Itoa(req.port), PrivateIP: req.addr.String(),
		EndpointID: req.endpoint.EndpointID}
	m := f.meta(req)
	m.Time = end
	rec := audit.CloseTunnel(m, d, req.endpointRN)
	if err := f.audit.Write(context.WithoutCancel(r.Context()), rec, req.tunnelID, req.endpoint.EndpointID); errors.Is(err, store.ErrCloseRecovered) {
		log.Warn("a tunnel's close was already recorded by recovery", "tunnel", req.tunnelID, "error", err)
	} else if err != nil {
		log.Error("could not record the close of a tunnel whose dial failed", "tunnel", req.tunnelID, "error", err)
	}
	f.cfg.Metrics.TunnelRefused(ref.Reason)
	lvl := slog.LevelInfo
	if ref.Status >= 500 {
		lvl = slog.LevelWarn
	}
	principal := ""
	if req.principal != nil {
		principal = req.principal.ARN
	}
	log.Log(r.Context(), lvl, "tunnel ended at its dial", "tunnel", req.tunnelID, "reason", ref.Reason, "code", ref.Code,
		"principal", principal, "source", req.sourceIP, "endpoint", req.endpoint.EndpointID, "agent", req.agentID,
		"target", net.JoinHostPort(req.addr.String(), strconv.Itoa(req.port)), "message", ref.Message)
}

// closeUnopened ends a WebSocket that was answered 101 but never carried a
// byte: a close frame with code and reason, then, so that the client reads
// the frame rather than a reset (it may have sent frames the server never
// read), the client's frames (read from rd, the connection's) are dropped
// until its close frame answers, it goes, or CloseGrace passes.
func (f *FrontDoor) closeUnopened(conn net.Conn, rd io.Reader, code int, reason string) {
	defer conn.Close()
	// The client's frames are read (and dropped) while the close frame is
	// written: a client that writes before it reads (an SSH client's
	// version) on a connection without a buffer (the console's in-memory
	// one) would otherwise wait for this side to read while this side
	// waits for it to read the close frame.
	_ = conn.SetReadDeadline(time.Now().Add(f.cfg.CloseGrace))
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		frames := wsframe.NewReader(rd, true)
		for { // bounded by the read deadline
			fr, err := frames.Next()
			if err != nil || fr.Kind == wsframe.KindClose {
				return
			}
		}
	}()
	if err := wsframe.NewWriter(conn, false).Close(code, reason); err != nil {
		conn.Close() // ends the reads too
		<-drained
		return
	}
	// Nothing more is sent: a TLS close_notify (a TCP FIN without TLS)
	// tells a client that does not answer close frames (awscrt) to go.
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	<-drained
}

// run carries the tunnel's bytes until it ends, then records its close.
// It reads the client's frames on the caller's goroutine until the client
// has nothing more for now, and returns once their next wait is armed in
// the process's sockwait.Poller (clientIdler) or the tunnel ended; the
// goroutine that reads the client's last frame ends the tunnel and
// records its close. Without a Poller, the client's frames are read on a
// goroutine of its own until the end, and run returns at once.
func (f *FrontDoor) run(t *tunnel, openEventID string) {
	req, stream, conn := t.req, t.stream, t.conn
	principal := ""
	if req.principal != nil {
		principal = req.principal.ARN
	}
	t.logInfo("tunnel open", "principal", principal, "source", req.sourceIP, "endpoint", req.endpoint.EndpointID,
		"agent", req.agentID, "target", net.JoinHostPort(req.addr.String(), strconv.Itoa(req.port)), "max_duration", req.duration)

	maxTimer := time.AfterFunc(req.duration, t.atMaxDuration)
	agentDone := make(chan struct{})
	go func() {
		defer close(agentDone)
		t.agentToClient()
	}()
	// The Waiter is set under t.mu: finish (serveTunnel's, when the
	// server is stopping) may run meanwhile, and then the reading waits on
	// a goroutine from the start.
	poll := clientWaiter(&t.in)
	t.mu.Lock()
	if t.ended {
		poll.Close()
		poll = nil
	}
	t.poll = poll
	t.mu.Unlock()
	end := func() {
		defer f.wg.Done()
		defer f.release(req)
		maxTimer.Stop()
		// The client side is over; give the agent side a moment to finish
		// what it was sending, then close everything.
		select {
		case <-agentDone:
		case <-time.After(f.cfg.CloseGrace):
			t.finish(wsframe.CloseNormal, "Normal", "", true)
		}
		stream.Close()
		<-agentDone
		t.closeLeft()
		t.stopPoll() // before the connection: sockwait does not see its close
		conn.Close()
		f.mu.Lock()
		delete(f.tunnels, req.tunnelID)
		memRelease := f.memRelease
		f.mu.Unlock()
		memRelease.Active()
		f.recordClose(req, openEventID, t)
	}
	// The tunnel's first reading (on serveTunnel's goroutine) waits for
	// the client's first bytes up to clientLinger before it leaves the
	// wait to the Poller: they are usually a moment behind the 101 (the
	// client sends once answered), and the hand-off (an epoll_ctl, the
	// Poller's wake-up and a new goroutine whose stack grows again in
	// crypto/tls) cost every short tunnel ~2–4 % of the server's CPU per
	// open (RESULTS.md, s12 QE).
	first := true
	d := &clientIdler{poll: poll, end: end, work: func(park, woke bool) bool {
		lingerFirst := first
		first = false
		return t.clientToAgent(f.cfg.PingInterval, f.cfg.CloseGrace, agentDone, park, woke, lingerFirst)
	}}
	if poll == nil {
		// The reading waits on its goroutine until the tunnel ends: not
		// the caller's (serveTunnel's HTTP handler, which would hold
		// net/http's state for the connection as long).
		go d.step(false)
		return
	}
	d.step(false)
}

// recordClose stores the CloseTunnel event.
func (f *FrontDoor) recordClose(req *request, openEventID string, t *tunnel) {
	t.mu.Lock()
	code, reason, msg := t.code, t.reason, t.message
	t.mu.Unlock()
	if reason == "" {
		reason = "Normal"
	}
	end := f.cfg.Now()
	d := audit.CloseDetails{TunnelID: req.tunnelID, AgentID: req.agentID, OpenAgentID: req.openAgentID,
		BytesIn: t.bytesIn.Load(), BytesOut: t.bytesOut.Load(),
		DurationSeconds: end.Sub(t.started).Seconds(), Reason: reason, CloseCode: code, Message: msg, OpenEventID: openEventID,
		OpenedAt: t.started.UTC().Format(time.RFC3339Nano), RemotePort: strconv.Itoa(req.port), PrivateIP: req.addr.String(),
		EndpointID: req.endpoint.EndpointID}
	m := f.meta(req)
	m.Time = end
	if t.conn != nil { // it was upgraded, hence counted open
		f.cfg.Metrics.TunnelClosed(reason, d.BytesIn, d.BytesOut)
	}
	rec := audit.CloseTunnel(m, d, req.endpointRN)
	if err := f.audit.Write(context.Background(), rec, req.tunnelID, req.endpoint.EndpointID); errors.Is(err, store.ErrCloseRecovered) {
		// This replica was taken for gone while the tunnel ran and another
		// recorded its close: the trail keeps that one (the error says
		// when, why and how many bytes this real close saw).
		f.log.Warn("a tunnel's close was already recorded by recovery", "tunnel", req.tunnelID, "error", err)
	} else if err != nil {
		f.log.Error("could not record a tunnel's close", "tunnel", req.tunnelID, "error", err)
	}
	if t.log != nil {
		t.logInfo("tunnel closed", "reason", reason, "code", code, "bytes_in", d.BytesIn, "bytes_out", d.BytesOut,
			"duration", end.Sub(t.started).Round(time.Millisecond))
	}
}

// logInfo logs at level Info with the tunnel's request and tunnel ids. An
// open tunnel holds no logger of its own (a slog.Logger.With per tunnel
// costs its handler's copy for as long as the tunnel is open), and a
// message below the level costs nothing.
func (t *tunnel) logInfo(msg string, args ...any) {
	if !t.log.Enabled(context.Background(), slog.LevelInfo) {
		return
	}
	t.log.Info(msg, append([]any{"request_id", t.req.id, "tunnel", t.req.tunnelID}, args...)...)
}

// detach copies the strings an open tunnel keeps that may share the
// memory of its HTTP request: net/http reads the request line and each
// header line into a string of its own, and the query's values and the
// User-Agent are slices of them, so one short id kept for the close
// record would hold the whole signed URL (about 1 KiB) for the tunnel's
// life.
func (req *request) detach() {
	req.userAgent = strings.Clone(req.userAgent)
	req.akid = strings.Clone(req.akid)
	req.params = audit.OpenTunnelParams{
		InstanceConnectEndpointID: strings.Clone(req.params.InstanceConnectEndpointID),
		MaxTunnelDuration:         strings.Clone(req.params.MaxTunnelDuration),
		RemotePort:                strings.Clone(req.params.RemotePort),
		PrivateIPAddress:          strings.Clone(req.params.PrivateIPAddress),
	}
}

// finish decides how the tunnel ends (the first decision wins): it sends
// the client a close frame with code and message and, when abort is set,
// ends the agent's side with the reason. A tunnel ended already without a
// close frame (its client could not be written to) has its reader
// stopped (stopReader): Terminate, shutdown and the maximum duration end
// it at once.
//
// An aborted tunnel's close frame is written by the close grace at the
// latest (closeAborted), so that a client that stopped reading holds the
// caller no longer than that; finishAside does not hold it at all.
func (t *tunnel) finish(code int, reason, message string, abort bool) {
	if !t.decide(code, reason, message, abort) {
		return
	}
	if abort {
		t.closeAborted(code, message, t.closeGrace())
		return
	}
	if code == wsframe.CloseNormal {
		message = ""
	}
	_ = t.wr.Close(code, message)
	// The client has CloseGrace to answer our close frame: a deadline,
	// which a wait in the Poller does not see, so the reader leaves it.
	t.closeGrace()
}

// finishAside ends the tunnel as finish does with abort, for a caller
// that ends many tunnels in turn (Terminate: TerminateTunnel, shutdown;
// revocation) or that must not wait on one client (the maximum
// duration's timer, atMaxDuration): the close frame is written on a goroutine of its own,
// which lives at most the close grace, because the write may wait on a
// client that stopped reading (for its TCP window), and the tunnels after
// this one must not wait with it. The outcome and the agent's side are
// decided before it returns.
//
// A tunnel whose own goroutines decided its end already (the target's
// EOF or failure, the client's close) may be writing its close frame, or
// the target's bytes before it, to a client that stopped reading, for up
// to wsframe.WriteTimeout: that write is cut at the close grace
// (LimitBy), and so is the wait for the client's answer (closeGrace),
// so that Shutdown keeps its budget.
func (t *tunnel) finishAside(code int, reason, message string) {
	if !t.decide(code, reason, message, true) {
		t.wr.LimitBy(time.Now().Add(t.grace))
		return
	}
	go t.closeAborted(code, message, t.closeGrace())
}

// atMaxDuration ends the tunnel at its maximum duration (run's timer) as
// Terminate and revocation do (finishAside): the timer's goroutine is not
// held by a client that stopped reading, and a tunnel already ending on
// its own whose close frame waits on such a client is cut at the close
// grace, so that the maximum duration bounds every tunnel's life to it
// plus the grace. A client that reads gets close 1008 with the reason
// (closeLeft, should the run end first).
func (t *tunnel) atMaxDuration() {
	t.finishAside(wsframe.ClosePolicyViolation, tunnelproto.CodeMaxDuration, tunnelproto.MaxDurationCloseReason(t.req.duration))
}

// decide records the tunnel's outcome unless one was decided already
// (then it stops the reader of a tunnel ended without a close frame,
// stopReader, and reports false). With abort it ends the agent's side,
// and the close frame is owed from the decision on (aside, in the same
// critical section): the agent's side ended, the run may end and close
// the connection before the deciding goroutine writes the frame, and
// closeLeft then writes it first.
func (t *tunnel) decide(code int, reason, message string, abort bool) bool {
	t.mu.Lock()
	if t.ended {
		t.mu.Unlock()
		t.stopReader()
		return false
	}
	t.ended = true
	t.code, t.reason, t.message = code, reason, message
	t.aside = abort
	t.mu.Unlock()
	close(t.finished)
	if abort {
		// The agent's side first, and the client's later bytes dropped
		// (upGone): the close frame's write may wait on a client that
		// stopped reading, and a revoked or terminated tunnel must not
		// carry bytes meanwhile.
		t.upGone.Store(true)
		_ = t.stream.SendEnd(reason, message)
	}
	return true
}

// closeGrace gives the client CloseGrace from now to answer our close
// frame (the reader's deadline, which a wait in the Poller does not see,
// so the reader leaves it), no later than the writer's limit (a tunnel
// ended while its close frame waited: finishAside), and returns that
// deadline.
func (t *tunnel) closeGrace() time.Time {
	by := time.Now().Add(t.grace)
	if l := t.wr.Limit(); !l.IsZero() && l.Before(by) {
		by = l
	}
	t.mu.Lock()
	t.closeBy = by
	_ = t.conn.SetReadDeadline(by)
	t.mu.Unlock()
	t.stopPoll()
	return by
}

// closeAborted writes an aborted tunnel's close frame by the time its
// client must have answered it (by): a write to a client that stopped
// reading, the close frame's or the target's bytes before it, ends then
// (wsframe.Writer.CloseBy), not at wsframe.WriteTimeout. Such a client
// gets no close frame: its connection is closed (end) when its reader's
// deadline, the same by, passes; AWS's clients see the connection end
// without a close (WebSocket 1006, abnormal closure).
func (t *tunnel) closeAborted(code int, message string, by time.Time) {
	if code == wsframe.CloseNormal {
		message = ""
	}
	_ = t.wr.CloseBy(code, message, by)
}

// closeLeft writes, before end closes the connection, the close frame an
// aborted end owes (decide) that its goroutine has not written yet
// (finishAside's, or one still between its decision and its write: a
// client that reads would otherwise see the connection end without it):
// by the close grace at the latest, as that goroutine would. A frame
// written already is not written again (ErrClosed).
func (t *tunnel) closeLeft() {
	t.mu.Lock()
	aside, code, message, by := t.aside, t.code, t.message, t.closeBy
	t.mu.Unlock()
	if !aside {
		return
	}
	if by.IsZero() { // the deciding goroutine has not given the grace yet
		by = time.Now().Add(t.grace)
	}
	t.closeAborted(code, message, by)
}

func (t *tunnel) isEnded() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ended
}

// keepalive pings, every interval, the clients that were silent for an
// interval (one goroutine for every tunnel), and ends the tunnels of
// clients silent for three intervals (timeOut): an idle client's reader
// waits in the sockwait.Poller, which sees no read deadline.
//
// The pings are written by a goroutine of their own (ping): a ping to a
// client that stopped reading waits for the write deadline
// (wsframe.WriteTimeout, 60 s, longer than a ping interval), and the
// sweep that ends silent clients must not wait with it (each reader's
// read deadline did not); nor do the other clients' pings (ping goes on
// without a stuck one). A sweep whose pings find it still busy with the
// last ones leaves its own to the next.
func (f *FrontDoor) keepalive() {
	tick := time.NewTicker(f.cfg.PingInterval)
	defer tick.Stop()
	pings := make(chan []*tunnel, 1)
	go f.ping(pings)
	for {
		select {
		case <-f.done:
			return
		case now := <-tick.C:
			f.mu.Lock()
			ts := make([]*tunnel, 0, len(f.tunnels))
			for _, t := range f.tunnels {
				ts = append(ts, t)
			}
			f.mu.Unlock()
			idle := now.Add(-f.cfg.PingInterval).UnixNano()
			silent := now.Add(-3 * f.cfg.PingInterval).UnixNano()
			var quiet []*tunnel
			for _, t := range ts {
				switch last := t.lastRead.Load(); {
				case last <= silent:
					// Also for an ended tunnel: one ended without a close
					// frame may have its reader armed in the Poller still.
					t.timeOut()
				case t.isEnded():
				case last <= idle:
					quiet = append(quiet, t)
				}
			}
			if len(quiet) > 0 {
				select {
				case pings <- quiet:
				default: // the pinger still waits on an earlier sweep's
				}
			}
		}
	}
}

// clientToAgent reads the client's frames until the client closes or goes
// (it returns true), or, with park set, until the client has nothing more
// to give for now (false: the caller arms the wait in the Poller,
// clientIdler). Without park it waits for the client's bytes itself. woke
// says the Poller saw the socket readable: the first frame is read at
// once (a read with the deadline in the past, as held makes, fails
// before it reads the socket). With lingerFirst (the tunnel's first
// reading) a parked reading waits up to clientLinger for the client's
// first bytes on its own goroutine before it leaves the wait to the
// Poller.
func (t *tunnel) clientToAgent(pingEvery, grace time.Duration, agentDone <-chan struct{}, park, woke, lingerFirst bool) bool {
	var bp *[]byte
	defer func() {
		if bp != nil {
			bufpool.Put(bp)
		}
	}()
	var readBy time.Time
	// restore sets the client's read deadline: the close's once finish
	// set one, else this frame's.
	restore := func() {
		t.mu.Lock()
		if t.closeBy.IsZero() {
			_ = t.conn.SetReadDeadline(readBy)
		} else {
			_ = t.conn.SetReadDeadline(t.closeBy)
		}
		t.mu.Unlock()
	}
	// copied: data was read since the last wait (clientLinger); the
	// tunnel's first wait lingers as if it had been (lingerFirst).
	copied := lingerFirst
	for {
		if !t.isEnded() {
			readBy = time.Now().Add(3 * pingEvery)
			restore()
		}
		switch {
		case park && woke:
			woke = false
		case park:
			if !t.in.held(restore) {
				if !copied || !t.in.waitBriefly(clientLinger, restore) {
					return false
				}
				copied = false
			}
		default:
			err := t.in.wait(restore)
			if err == nil {
				break
			}
			// Idle, the goroutine waits off crypto/tls's stack (clientReader).
			t.clientGone(err)
			return true
		}
		fr, err := t.rd.Next()
		if err != nil {
			t.clientGone(err)
			return true
		}
		t.lastRead.Store(time.Now().UnixNano())
		switch fr.Kind {
		case wsframe.KindData:
			copied = true
			for t.rd.Remaining() > 0 {
				if bp == nil {
					// A large frame (Postern's client in a bulk transfer)
					// goes to the agent in large link frames.
					bp = bufpool.GetFor(int(min(t.rd.Remaining(), bufpool.BigChunk)))
				}
				buf := *bp
				n, err := t.rd.ReadPayload(buf[tunnelproto.HeaderLen : tunnelproto.HeaderLen+bufpool.ChunkOf(bp)])
				// Once the agent's side is gone (upGone) the bytes are
				// read (the client's close frame follows them) and dropped.
				if n > 0 && !t.upGone.Load() {
					if werr := t.stream.SendData(buf[:tunnelproto.HeaderLen+n]); werr == nil {
						t.bytesIn.Add(int64(n))
					} else {
						t.upGone.Store(true)
						t.sendFailed(werr, agentDone)
					}
				}
				if err != nil {
					t.clientGone(err)
					return true
				}
			}
			// Between frames the tunnel holds no buffer.
			if bp != nil {
				bufpool.Put(bp)
				bp = nil
			}
		case wsframe.KindText:
			t.finish(wsframe.CloseUnsupportedData, "ProtocolError", "Text frames are not supported; send binary frames", true)
		case wsframe.KindPing:
			_ = t.wr.Pong(fr.Control)
		case wsframe.KindPong:
		case wsframe.KindClose:
			t.mu.Lock()
			t.clientClose = true
			ended, eof := t.ended, t.targetEOF
			t.mu.Unlock()
			if ended || eof {
				// Our close frame was answered (or crossed theirs).
				if !ended {
					t.finish(wsframe.CloseNormal, "Normal", "", false)
				}
				_ = t.stream.SendEOF()
				return true
			}
			// The client is done sending: half-close toward the target and
			// let the target's last bytes reach the client before we
			// answer the close.
			_ = t.stream.SendEOF()
			select {
			case <-agentDone:
			case <-time.After(grace):
			}
			t.finish(wsframe.CloseNormal, "Normal", "", false)
			return true
		}
	}
}

// clientGone handles the end of the client's connection.
func (t *tunnel) clientGone(err error) {
	t.mu.Lock()
	ended := t.ended
	t.mu.Unlock()
	if ended {
		return // we closed first; this is the connection going away
	}
	reason, msg := codeClientGone, "The client disconnected"
	if errors.Is(err, wsframe.ErrProtocol) {
		reason, msg = "ProtocolError", err.Error()
		t.finish(wsframe.CloseProtocolError, reason, msg, true)
		return
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		reason, msg = "ClientTimeout", "The client stopped answering"
	}
	t.mu.Lock()
	if !t.ended {
		t.ended = true
		t.code, t.reason, t.message = 0, reason, msg
		close(t.finished)
	}
	t.mu.Unlock()
	_ = t.stream.SendEnd(reason, msg)
}

// agentToClient copies the target's bytes to the client as binary frames.
// A stream that lends its received bytes (a remote agent's link stream,
// through RecvFunc) has them written from the link's buffer, each frame's
// header its own write in the same batch (no copy); a few bytes (one TLS
// record or less) are copied behind their header instead, to leave as
// one record. Bytes read into a buffer from get (the embedded agent's)
// have their headers written in its headroom.
func (t *tunnel) agentToClient() {
	var bp *[]byte
	get := func(n int) []byte {
		bp = bufpool.GetFor(n)
		return (*bp)[bufpool.Headroom : bufpool.Headroom+min(n, bufpool.ChunkOf(bp))]
	}
	// Frames of several TLS records go out in one system call.
	bc := tlsbatch.Of(t.conn)
	var werr error
	send := func(p []byte) error {
		t.bytesOut.Add(int64(len(p)))
		switch {
		case bp != nil:
			// In our buffer, after its headroom. A big link frame leaves
			// as WebSocket frames of at most 64 KiB (what every client
			// reads well), in one batch.
			frame := (*bp)[:bufpool.Headroom+len(p)]
			werr = bc.Send(len(p), func() error { return t.wr.WriteDataSplit(frame, bufpool.Headroom, bufpool.Chunk) })
		case len(p) <= tlsbatch.Record:
			sb := bufpool.Get()
			frame := append((*sb)[:bufpool.Headroom], p...)
			werr = t.wr.WriteData(frame, bufpool.Headroom)
			bufpool.Put(sb)
		default:
			werr = bc.Send(len(p), func() error { return t.wr.WriteDataParts(p, bufpool.Chunk) })
		}
		return werr
	}
	rf, lends := t.stream.(interface {
		RecvFunc(get func(int) []byte, use func([]byte) error) error
	})
	recv := func() error {
		if lends {
			return rf.RecvFunc(get, send)
		}
		data, err := t.stream.Recv(get)
		if err != nil {
			return err
		}
		return send(data)
	}
	if h := testHookAgentFirstRecv.Load(); h != nil {
		(*h)()
	}
	for {
		err := recv()
		if bp != nil {
			bufpool.Put(bp)
			bp = nil
		}
		if werr != nil {
			if !t.isEnded() {
				t.clientGone(werr)
			}
			return
		}
		if err == nil {
			continue
		}
		var er *tunnelproto.EndReason
		switch {
		case errors.Is(err, io.EOF):
			// The target half-closed: close the WebSocket normally; the
			// client may still send until it answers our close.
			t.mu.Lock()
			t.targetEOF = true
			clientClosed := t.clientClose
			t.mu.Unlock()
			t.finish(wsframe.CloseNormal, "Normal", "", false)
			if clientClosed {
				return
			}
			return
		case errors.As(err, &er):
			// The target is gone: the client's bytes still coming stop
			// here (upGone), before the client hears of the end.
			t.upGone.Store(true)
			t.finish(closeCodeFor(er.Code), er.Code, er.Message, false)
			return
		default:
			t.upGone.Store(true)
			if !t.isEnded() {
				t.finish(wsframe.CloseInternalError, tunnelproto.CodeAgentLost, "The connection to the endpoint agent was lost", false)
			}
			return
		}
	}
}

// closeCodeFor picks the WebSocket close code of an abnormal end.
func closeCodeFor(code string) int {
	switch code {
	case tunnelproto.CodeAgentShutdown, tunnelproto.CodeServerStop:
		return wsframe.CloseGoingAway
	case tunnelproto.CodeRevoked, tunnelproto.CodeMaxDuration:
		return wsframe.ClosePolicyViolation
	}
	return wsframe.CloseInternalError
}
