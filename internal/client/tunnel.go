package client

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/gobwas/ws"

	"github.com/postern/postern/internal/util/bufpool"
	"github.com/postern/postern/internal/wire/tlsbatch"
	"github.com/postern/postern/internal/wire/tunnelproto"
	"github.com/postern/postern/internal/wire/wsframe"
)

// Dialer opens tunnels.
type Dialer struct {
	Credentials aws.CredentialsProvider
	Region      string
	// TLS is the client TLS configuration (trusted CAs); ServerName is
	// set per tunnel.
	TLS       *tls.Config
	UserAgent string
	// Now is the signing clock; default time.Now.
	Now func() time.Time
	// DialAddr, when set, replaces the address derived from the dnsName
	// (tests).
	DialAddr string
	// LocalAddr, when set, is the local address to dial from.
	LocalAddr net.Addr
	// NetDial, when set, gives the connection a tunnel is opened on, and
	// the WebSocket handshake then runs on it as plain HTTP (ws://, no
	// TLS): for a caller inside the server's process that dials it over
	// an in-memory connection. The presigned URL is the same (its
	// signature does not cover the scheme). DialAddr, LocalAddr and TLS
	// are then unused.
	NetDial func(ctx context.Context) (net.Conn, error)

	// sessions resumes the TLS sessions of this Dialer's tunnels, unless
	// TLS brings a ClientSessionCache of its own: a resumed handshake
	// skips the server's certificate signature and the client's chain
	// verification. It is the Dialer's own, never shared between Dialers,
	// because a resumed session is not verified again: it must only be
	// resumed under the trust (TLS.RootCAs) it was first verified with.
	sessionsOnce sync.Once
	sessions     tls.ClientSessionCache
	// uniqueURLs: the server refused a URL as used already (Dial), so
	// this Dialer's URLs carry a nonce (PresignUniqueURL).
	uniqueURLs atomic.Bool
	// urls is the last URL without a nonce, reused within its second
	// (presigncache.go).
	urls urlCache

	// configs are the TLS configurations of the servers dialed (name and
	// address), made once per server: every tunnel's connection keeps its
	// configuration, and a clone per tunnel cost memory and time.
	configsMu sync.Mutex
	configs   map[spareKey]*tunnelTLS

	// spares are connections made ready before a tunnel needs them
	// (spare.go).
	sparesOnce sync.Once
	sparesUsed atomic.Bool
	spares     sparePool
}

// tunnelTLS are the TLS configurations of one server (name and address):
// full has the default key exchanges, classical offers X25519 alone
// (dialTLS). Both keep their sessions under the name and the port
// (serverSessions).
type tunnelTLS struct {
	full, classical *tls.Config
}

// maxConfigs bounds the servers whose TLS configurations a Dialer keeps;
// others get new ones per tunnel.
const maxConfigs = 64

// tlsConfigs returns the TLS configurations for tunnels to key's server
// (key.sni at key.addr), made from d.TLS on first use (d.TLS must not
// change once the Dialer is used).
func (d *Dialer) tlsConfigs(key spareKey) *tunnelTLS {
	d.configsMu.Lock()
	defer d.configsMu.Unlock()
	if c, ok := d.configs[key]; ok {
		return c
	}
	full := &tls.Config{MinVersion: tls.VersionTLS12}
	if d.TLS != nil {
		full = d.TLS.Clone()
	}
	full.ServerName = key.sni
	full.NextProtos = []string{"http/1.1"}
	cache := full.ClientSessionCache
	if cache == nil {
		cache = d.sessionCache()
	}
	full.ClientSessionCache = newServerSessions(cache, key.addr)
	c := &tunnelTLS{full: full}
	if full.CurvePreferences == nil {
		c.classical = full.Clone()
		c.classical.CurvePreferences = []tls.CurveID{tls.X25519}
	}
	if d.configs == nil {
		d.configs = map[spareKey]*tunnelTLS{}
	}
	if len(d.configs) < maxConfigs {
		d.configs[key] = c
	}
	return c
}

// sessionCache is the Dialer's TLS session cache.
func (d *Dialer) sessionCache() tls.ClientSessionCache {
	d.sessionsOnce.Do(func() { d.sessions = tls.NewLRUClientSessionCache(64) })
	return d.sessions
}

// RefusedError is an openTunnel refused before the upgrade: the server's
// HTTP status and JSON body.
type RefusedError struct {
	Status    int
	ErrorCode string
	Message   string
	RequestID string
	// Header is the refusal's HTTP header (nil when it could not be
	// read): a Postern server names there the regions it accepts.
	Header http.Header
}

func (e *RefusedError) Error() string {
	if e.ErrorCode != "" {
		return fmt.Sprintf("the tunnel was refused (HTTP %d): %s: %s", e.Status, e.ErrorCode, e.Message)
	}
	return fmt.Sprintf("the tunnel was refused (HTTP %d): %s", e.Status, e.Message)
}

// ErrClosedByClient is what Read returns once the tunnel was closed by
// this side (Close) rather than by the server or the network: no closure
// reason to report. It is a net.ErrClosed.
var ErrClosedByClient = fmt.Errorf("the tunnel was closed by this client: %w", net.ErrClosed)

// ClosedError is a tunnel the server closed with a code other than 1000.
type ClosedError struct {
	Code   int
	Reason string
}

func (e *ClosedError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("the tunnel was closed (code %d)", e.Code)
	}
	return "the tunnel was closed: " + e.Reason
}

// Dial presigns the URL and opens the tunnel's WebSocket. An open in the
// same second as the last, to the same target with the same credentials,
// reuses its URL (the same bytes a signing would make: urlCache).
func (d *Dialer) Dial(ctx context.Context, t Target) (*Tunnel, error) {
	creds, err := d.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	now := time.Now
	if d.Now != nil {
		now = d.Now
	}
	unique := d.uniqueURLs.Load()
	u, err := d.presign(ctx, creds, t, now(), unique)
	if err != nil {
		return nil, err
	}
	tun, err := d.DialURL(ctx, u, t.DNSName)
	var refused *RefusedError
	if err != nil && !unique && errors.As(err, &refused) && refused.Header.Get(tunnelproto.HeaderReplay) != "" {
		// A Postern server that accepts each URL once (tunnel.replay:
		// single-use) refused this one as used: another open in the same
		// second to the same target made the same URL. From now on this
		// Dialer's URLs carry a nonce of their own; this open tries once
		// more with one.
		d.uniqueURLs.Store(true)
		if u, err = d.presign(ctx, creds, t, now(), true); err != nil {
			return nil, err
		}
		return d.DialURL(ctx, u, t.DNSName)
	}
	return tun, err
}

// presign is PresignURL, or PresignUniqueURL when unique.
func (d *Dialer) presign(ctx context.Context, creds aws.Credentials, t Target, now time.Time, unique bool) (string, error) {
	if unique {
		return PresignUniqueURL(ctx, creds, d.Region, t, now)
	}
	return d.urls.get(ctx, creds, d.Region, t, now)
}

// DialURL opens a tunnel's WebSocket at a presigned URL.
func (d *Dialer) DialURL(ctx context.Context, rawURL, dnsName string) (*Tunnel, error) {
	_, sni, addr := HostPort(dnsName)
	if d.DialAddr != "" {
		addr = d.DialAddr
	}
	tcfg := d.tlsConfigs(spareKey{sni, addr})
	var refused *RefusedError
	var requestID string
	hdr := http.Header{}
	if d.UserAgent != "" {
		hdr.Set("User-Agent", d.UserAgent)
	}
	// The TLS handshake is made before the upgrade request is written
	// (dialTLS, or a spare's), so the upgrade itself runs as plain
	// WebSocket over the TLS connection (the presigned URL's signature
	// does not cover the scheme).
	secure := strings.HasPrefix(rawURL, "wss://")
	dialer := ws.Dialer{
		Header: ws.HandshakeHeaderHTTP(hdr),
		OnStatusError: func(status int, reason []byte, resp io.Reader) {
			refused = readRefusal(status, resp)
		},
		OnHeader: func(key, value []byte) error {
			if strings.EqualFold(string(key), "x-amzn-RequestId") {
				requestID = string(value)
			}
			return nil
		},
	}
	if rest, ok := strings.CutPrefix(rawURL, "wss://"); ok {
		rawURL = "ws://" + rest
	}
	u, err := url.ParseRequestURI(rawURL)
	if err != nil {
		return nil, fmt.Errorf("open tunnel: %w", err)
	}
	if d.NetDial != nil {
		addr = "the in-process server"
	}
	var br *bufio.Reader
	// One bound from here for the connect and the upgrade together.
	deadline := time.Now().Add(upgradeTimeout)
	conn, kept, err := d.connect(ctx, deadline, secure, sni, addr, tcfg, true)
	if err == nil {
		if br, err = upgrade(ctx, deadline, dialer, conn, u); err != nil {
			conn.Close()
		}
		// A kept connection (a spare, the look-up's) that the server
		// closed as the upgrade went out (its idle timeout, a restart:
		// spareAlive saw it open, the server's end came after) failed
		// before an answer: once more on a new connection, as net/http
		// sends a request again that failed so on a kept connection.
		if err != nil && kept && refused == nil && keptConnGone(err) {
			if conn, _, err = d.connect(ctx, deadline, secure, sni, addr, tcfg, false); err == nil {
				if br, err = upgrade(ctx, deadline, dialer, conn, u); err != nil {
					conn.Close()
				}
			}
		}
	}
	keepSpares := secure && d.NetDial == nil && d.hasPool()
	if err != nil {
		if keepSpares {
			d.replenish(spareKey{sni, addr})
		}
		if refused != nil {
			return nil, refused
		}
		return nil, fmt.Errorf("open tunnel to %s: %w", addr, err)
	}
	t := d.tunnel(conn, br, requestID)
	if keepSpares {
		// The next tunnel's spare, made once this one has its first
		// answer through the tunnel (Tunnel.answered): its TCP connect and
		// TLS handshake, the client's and the server's share, then no
		// longer compete on the same cores with the server's and the
		// agent's work for this tunnel's first bytes (made during the
		// upgrade, or right after it, was measured slower).
		key := spareKey{sni, addr}
		t.setNext(func() { d.replenish(key) })
	}
	return t, nil
}

// upgradeTimeout bounds a tunnel's connect, handshake and upgrade
// together, from the open's start (as the WebSocket library's Dial did).
const upgradeTimeout = 30 * time.Second

// connect returns the connection a tunnel's upgrade goes on: NetDial's,
// a spare made ready for the name and address (spare.go; only with
// spares set, and then kept is true), or a new one (plain TCP unless
// secure, otherwise TLS), made by deadline.
func (d *Dialer) connect(ctx context.Context, deadline time.Time, secure bool, sni, addr string, tcfg *tunnelTLS, spares bool) (conn net.Conn, kept bool, err error) {
	if spares && d.NetDial == nil && secure {
		// A spare carries the upgrade as a fresh connection would; one
		// being made is waited for (its own making is bounded).
		if c := d.takeSpare(ctx, spareKey{sni, addr}); c != nil {
			return c, true, nil
		}
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	switch {
	case d.NetDial != nil:
		conn, err = d.NetDial(ctx)
	case !secure:
		conn, err = d.dialTCP(ctx, "tcp", addr)
	default:
		conn, err = d.dialTLS(ctx, "tcp", addr, tcfg, false)
	}
	return conn, false, err
}

// keptConnGone tells whether an upgrade's err is its connection closed or
// reset by the server before any answer (not a deadline, not ctx's end,
// not an answer cut short).
func keptConnGone(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// aLongTimeAgo is a deadline that has passed: I/O with it fails at once.
var aLongTimeAgo = time.Unix(1, 0)

// upgrade makes the WebSocket upgrade on conn, by deadline and until ctx
// ends: a deadline on conn for both, with no goroutine or timer of its
// own (the WebSocket library's Dial started one of each per tunnel).
func upgrade(ctx context.Context, deadline time.Time, dialer ws.Dialer, conn net.Conn, u *url.URL) (*bufio.Reader, error) {
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(aLongTimeAgo) })
	br, _, err := dialer.Upgrade(&answerConn{Conn: conn, left: maxAnswer}, u)
	if !stop() || err != nil && !time.Now().Before(deadline) {
		// ctx ended (its deadline set conn's), or the deadline passed: the
		// upgrade failed for that, whatever its error.
		if cerr := ctx.Err(); cerr != nil {
			err = cerr
		} else if errors.Is(err, os.ErrDeadlineExceeded) {
			err = context.DeadlineExceeded
		}
		if err == nil {
			err = context.Canceled
		}
		if br != nil {
			ws.PutReader(br)
		}
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	return br, nil
}

// maxAnswer bounds what the upgrade reads of the server's answer: its
// status line and headers, or a refusal's with its body (readRefusal
// keeps 64 KiB of it). A server whose answer goes on is refused there
// (errAnswerTooLong) rather than held in memory until the deadline.
const maxAnswer = 1 << 20

// errAnswerTooLong is the upgrade's error for an answer over maxAnswer.
var errAnswerTooLong = errors.New("the server's answer to the upgrade is over 1 MiB")

// answerConn is conn for the upgrade: its reads end at maxAnswer bytes.
// Bytes beyond the answer that the upgrade's reader did not take stay on
// conn for the tunnel, in order.
type answerConn struct {
	net.Conn
	left int
}

func (c *answerConn) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, errAnswerTooLong
	}
	n, err := c.Conn.Read(p[:min(len(p), c.left)])
	c.left -= n
	return n, err
}

// tunnel is the Tunnel on an upgraded conn; br holds what the server sent
// right after its answer, if anything.
func (d *Dialer) tunnel(conn net.Conn, br *bufio.Reader, requestID string) *Tunnel {
	var pre []byte
	if br != nil {
		// Bytes the server sent right after its answer: served first.
		if n := br.Buffered(); n > 0 {
			pre = make([]byte, n)
			_, _ = io.ReadFull(br, pre)
		}
		ws.PutReader(br)
	}
	t := &Tunnel{conn: conn, wr: wsframe.NewWriter(conn, true), RequestID: requestID}
	t.in.init(conn, pre)
	t.rd = wsframe.NewReader(&t.in, false)
	return t
}

// dialTCP connects to addr, from d.LocalAddr when set.
func (d *Dialer) dialTCP(ctx context.Context, network, addr string) (net.Conn, error) {
	nd := net.Dialer{LocalAddr: d.LocalAddr}
	c, err := nd.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return tlsbatch.Wrap(c), nil
}

// dialTLS connects to addr and makes the TLS handshake. When cfgs.full has the
// default key exchanges and its session cache holds a session to resume,
// the handshake offers X25519 alone instead of the hybrid
// X25519MLKEM768, whose ML-KEM key generation and decapsulation are
// about a third of the client's CPU for a resumed handshake. That keeps
// the post-quantum protection: a resumed handshake's keys are derived
// from the resumed session's secret as well as from the new X25519
// exchange, and that secret comes from a handshake that used the hybrid
// exchange (the first, full handshake, and every resumption after it).
// A handshake that does not resume after all (the server no longer
// accepts the session) is therefore abandoned before anything is sent on
// it and made again with the default exchanges, as is one that failed.
//
// With gated, the TLS connection reads its socket through a gate
// (spare.go) that can probe it without waiting.
func (d *Dialer) dialTLS(ctx context.Context, network, addr string, cfgs *tunnelTLS, gated bool) (net.Conn, error) {
	cfg := cfgs.full
	if cfgs.classical != nil && hasSession(cfg) {
		c, err := d.handshake(ctx, network, addr, cfgs.classical, gated)
		if err == nil && c.ConnectionState().DidResume {
			return c, nil
		}
		if c != nil {
			c.Close()
		} else if ctx.Err() != nil || errors.As(err, new(*net.OpError)) {
			return nil, err // no connection: the same again would fail too
		}
	}
	c, err := d.handshake(ctx, network, addr, cfg, gated)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// handshake connects to addr and makes a TLS handshake with cfg; on a
// failed handshake the connection is closed and the error returned.
func (d *Dialer) handshake(ctx context.Context, network, addr string, cfg *tls.Config, gated bool) (*tls.Conn, error) {
	raw, err := d.dialTCP(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if gated {
		raw = newGate(raw)
	}
	c := tls.Client(raw, cfg)
	if err := c.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, err
	}
	return c, nil
}

// OwnSessions is a TLS session cache that can also lend a name the session
// of another (cli's shared cache does: the look-up's API session for the
// tunnel's endpoint name). HasOwn tells whether it holds a session stored
// for name itself.
type OwnSessions interface {
	tls.ClientSessionCache
	HasOwn(name string) bool
}

// hasSession tells whether cfg's session cache holds a session for
// cfg.ServerName that the server is expected to resume: one stored for
// that name. A session lent from another name is resumed only when its
// certificate is valid for this one too, which the cache cannot tell, so
// it does not count (a handshake that then did not resume would be made
// twice).
func hasSession(cfg *tls.Config) bool {
	if cfg.ClientSessionCache == nil || cfg.ServerName == "" {
		return false
	}
	if oc, ok := cfg.ClientSessionCache.(OwnSessions); ok {
		return oc.HasOwn(cfg.ServerName)
	}
	s, ok := cfg.ClientSessionCache.Get(cfg.ServerName)
	return ok && s != nil
}

// TLSState is the tunnel connection's TLS state, when it has one.
func (t *Tunnel) TLSState() (tls.ConnectionState, bool) {
	if c, ok := t.conn.(*tls.Conn); ok {
		return c.ConnectionState(), true
	}
	return tls.ConnectionState{}, false
}

// readRefusal reads the HTTP response of a refused upgrade.
func readRefusal(status int, resp io.Reader) *RefusedError {
	e := &RefusedError{Status: status}
	r, err := http.ReadResponse(bufio.NewReader(resp), nil)
	if err != nil {
		return e
	}
	defer r.Body.Close()
	e.RequestID = r.Header.Get("x-amzn-RequestId")
	e.Header = r.Header
	body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	var j struct {
		ErrorCode string `json:"ErrorCode"`
		Message   string `json:"Message"`
	}
	if json.Unmarshal(body, &j) == nil && (j.ErrorCode != "" || j.Message != "") {
		e.ErrorCode, e.Message = j.ErrorCode, j.Message
	} else {
		e.Message = strings.TrimSpace(string(body))
	}
	return e
}

// Tunnel is an open tunnel: a byte stream over the WebSocket.
type Tunnel struct {
	// RequestID is the server's id of the openTunnel request (its audit
	// record's requestID).
	RequestID string

	conn net.Conn
	in   serverReader // rd's source
	rd   *wsframe.Reader
	wr   *wsframe.Writer

	rmu    sync.Mutex
	closed error // what Read returns once the server closed
	// closing: this side closes the tunnel (Close, or a Listener's
	// shutdown about to close it): a read that fails from then on ends
	// with ErrClosedByClient, not as a server lost.
	closing atomic.Bool

	// next, when set, is called once the tunnel had its first answer:
	// the first wait after the server's first data was read (the bytes
	// are the caller's by then), the server's close, the connection's
	// end, or Close. The Dialer makes the next tunnel's spare there.
	next atomic.Pointer[func()]
	// gotData: a data frame with bytes was read; under rmu.
	gotData bool
	// bulk, when set (before the copies start: Listener.Bulk), is called
	// by a copy of the tunnel's bytes that moved a full chunk at once,
	// either way: a bulk transfer.
	bulk func()
}

// setNext sets what the tunnel calls once it had its first answer (next).
func (t *Tunnel) setNext(f func()) { t.next.Store(&f) }

// answered calls next, once.
func (t *Tunnel) answered() {
	if f := t.next.Swap(nil); f != nil {
		(*f)()
	}
}

// Write sends p as binary frames of at most 64 KiB.
func (t *Tunnel) Write(p []byte) (int, error) {
	bp := bufpool.Get()
	defer bufpool.Put(bp)
	buf := *bp
	max := bufpool.Chunk
	n := 0
	bc := tlsbatch.Of(t.conn)
	for n < len(p) {
		c := copy(buf[bufpool.Headroom:], p[n:min(len(p), n+max)])
		// Several TLS records go out in one system call.
		if err := bc.Send(c, func() error { return t.wr.WriteData(buf[:bufpool.Headroom+c], bufpool.Headroom) }); err != nil {
			return n, err
		}
		n += c
	}
	return n, nil
}

// writeOwned sends buf[bufpool.Headroom:] as one binary frame, with no
// copy: buf (from bufpool) is masked in place and must not be used for
// anything else until it returns. The copy loop of a local connection
// reads straight into such a buffer; in a bulk transfer it is a big one
// (Postern's server reads frames of any size in pieces).
func (t *Tunnel) writeOwned(buf []byte) error {
	// Several TLS records go out in one system call.
	return tlsbatch.Of(t.conn).Send(len(buf)-bufpool.Headroom, func() error { return t.wr.WriteData(buf, bufpool.Headroom) })
}

// Read reads tunnel bytes. It returns io.EOF when the server closed with
// code 1000 (or none), a *ClosedError for other codes.
func (t *Tunnel) Read(p []byte) (int, error) {
	t.rmu.Lock()
	defer t.rmu.Unlock()
	if err := t.awaitData(true, false, nil); err != nil {
		return 0, err
	}
	n, err := t.rd.Read(p)
	if err == io.EOF {
		err = nil
	}
	return n, err
}

// wait returns once Read has bytes to give (or its error), without a
// buffer: an idle tunnel's reader holds none. Without block, it returns
// errIdle instead of waiting for the server's next bytes on the socket:
// the caller waits (t.in.sock.Wait), then calls again with woke set and
// the wait's error in failed, which is reported as Read would.
func (t *Tunnel) wait(block, woke bool, failed error) error {
	t.rmu.Lock()
	defer t.rmu.Unlock()
	return t.awaitData(block, woke, failed)
}

// errIdle is wait's answer when the server's next bytes are still to
// come and it was not to wait for them.
var errIdle = errors.New("client: no bytes from the server yet")

// awaitData reads frames until a data frame has bytes left to read, and
// answers the control frames on the way; t.rmu is held. See wait for
// block, woke and failed.
func (t *Tunnel) awaitData(block, woke bool, failed error) error {
	if t.gotData {
		t.gotData = false
		t.answered() // the first data was the caller's; the next spare
	}
	if t.closed != nil {
		return t.closed
	}
	for {
		if t.rd.Remaining() > 0 {
			return nil
		}
		// Idle, the goroutine waits off crypto/tls's stack (serverReader).
		var err error
		switch {
		case woke: // the socket has bytes (crypto/tls held none), or failed
			err, woke = failed, false
		case t.in.held():
		case !block:
			// Bytes on the socket already (a bulk transfer): read on
			// here rather than hand them to another goroutine.
			if !readableNow(t.in.rc) {
				return errIdle
			}
		default:
			err = t.in.sock.Wait()
		}
		var f wsframe.Frame
		if err == nil {
			f, err = t.rd.Next()
		}
		if err != nil {
			if ne := net.Error(nil); !errors.As(err, &ne) || !ne.Timeout() {
				t.answered() // the connection's end
			}
			if t.wr.Closed() {
				t.closed = io.EOF // we closed; the server went
				return io.EOF
			}
			if t.closing.Load() {
				t.closed = ErrClosedByClient // our own close, not the server's end
				return t.closed
			}
			if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
				return err // a read deadline; the tunnel may go on
			}
			// The connection ended without a WebSocket close (the server
			// died, the network broke): not a normal end, whatever the
			// error (often io.EOF). 1006 is the code WebSocket reserves
			// for an abnormal closure.
			reason := "The connection to the Postern server was lost"
			if !errors.Is(err, io.EOF) {
				reason += ": " + err.Error()
			}
			t.closed = &ClosedError{Code: wsframe.CloseAbnormal, Reason: reason}
			return t.closed
		}
		switch f.Kind {
		case wsframe.KindData:
			if f.Length == 0 {
				continue
			}
			if t.next.Load() != nil {
				t.gotData = true
			}
		case wsframe.KindText:
			t.closed = errors.New("received invalid data from server (a text frame)")
			_ = t.wr.Close(wsframe.CloseUnsupportedData, "")
			return t.closed
		case wsframe.KindPing:
			_ = t.wr.Pong(f.Control)
		case wsframe.KindPong:
		case wsframe.KindClose:
			t.answered()
			if f.Code == wsframe.CloseNormal || f.Code == wsframe.CloseNoStatus {
				t.closed = io.EOF
			} else {
				t.closed = &ClosedError{Code: f.Code, Reason: f.Reason}
			}
			if !t.wr.Closed() {
				code := f.Code
				if code == wsframe.CloseNoStatus {
					code = 0
				}
				_ = t.wr.Close(code, "")
			}
			return t.closed
		}
	}
}

// CloseWrite tells the server this side is done sending (a close frame
// with code 1000); the server's last bytes still arrive through Read.
func (t *Tunnel) CloseWrite() error {
	err := t.wr.Close(wsframe.CloseNormal, "")
	if errors.Is(err, wsframe.ErrClosed) {
		return nil
	}
	return err
}

// Close closes the connection. Read then returns ErrClosedByClient (or
// what ended the tunnel before).
func (t *Tunnel) Close() error {
	t.closing.Store(true)
	t.answered()
	return t.conn.Close()
}

// SetReadDeadline sets the read deadline of the connection.
func (t *Tunnel) SetReadDeadline(d time.Time) error { return t.in.setDeadline(d) }
