package client

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/postern/postern/internal/util/netutil"
)

// Spare connections: a connection to the server whose TCP connect and TLS
// handshake are made before a tunnel needs it, so that opening the tunnel
// only sends its upgrade request. What is sent on a spare is exactly what
// a fresh connection would carry: the upgrade request with its presigned
// URL, signed when the tunnel is opened (Dial), never before and never
// for two tunnels. A spare is verified as any connection (the Dialer's TLS
// configuration for its name), and it is used for the name and address it
// was made for; the one an APIClient handed over also for another name
// of the same server (sameServer: same address and port, and a
// certificate valid for that name too).
//
// Two uses:
//   - APIClient.HandOff: the connection open-tunnel's look-up went over,
//     for the tunnel that follows (apiconn.go).
//   - KeepSpares (--local-port): once each tunnel had its first answer
//     (Tunnel.answered), a spare for the next; its number adapts (1 to
//     maxSpares: a tunnel that found none ready raises it, one that
//     expired unused lowers it). A spare is
//     closed and replaced before the server's header timeout
//     (http.header_timeout_seconds, 10 s by default) would close it,
//     and only while tunnels were opened within spareWarm: an idle client
//     holds none after that (and is told, OnSparesStopped).
//
// A spare found closed by the server when it is taken (its socket has
// the server's close, or anything but a session ticket) is dropped and
// the tunnel dialed afresh, with no error; the lifetime of later spares
// is then cut to half the age the server closed that one at, and grows
// back (doubled, up to defaultSpareTTL) each time one is still open when
// its lifetime ends.
const (
	// defaultSpareTTL is how long a spare is kept before it is replaced:
	// below the server's default header timeout (10 s).
	defaultSpareTTL = 4 * time.Second
	// minSpareTTL is the shortest lifetime a spare is cut to.
	minSpareTTL = 200 * time.Millisecond
	// spareWarm is how long after the last tunnel opened spares are
	// still replaced.
	spareWarm = 2 * time.Minute
	// maxSpares bounds the spares kept for one name.
	maxSpares = 4
	// spareDialTimeout bounds a spare's connect and handshake.
	spareDialTimeout = 30 * time.Second
)

// spareKey is what a spare was made for: the TLS server name and the
// address as the tunnel's dnsName gives it.
type spareKey struct{ sni, addr string }

// spareConn is one spare connection, ready once ready is closed.
type spareConn struct {
	key   spareKey
	ready chan struct{} // closed once conn or err is set
	conn  *tls.Conn
	err   error
	made  time.Time // when its handshake completed
	timer *time.Timer
	// resolved: handed over by an APIClient (adopt), made to the address
	// its URL's host resolved to, so also usable for another name of the
	// same server (takeSpare), and not replaced when it expires.
	resolved bool
}

// sparePool holds a Dialer's spares.
type sparePool struct {
	mu      sync.Mutex
	keep    bool          // replace spares after use (KeepSpares)
	want    int           // spares to keep per name (1..maxSpares)
	ttl     time.Duration // lifetime of a spare
	lastUse time.Time     // when a tunnel last asked for a connection
	list    []*spareConn  // not taken yet
	ctx     context.Context
	cancel  context.CancelFunc
	closed  bool
	made    func() // OnSpareMade's
	stopped func() // OnSparesStopped's
}

// OnSpareMade makes d call f each time a spare connection's handshake is
// done (on the goroutine that made it), e.g. to give back, once the
// client is quiet, the memory it used (package idlemem).
func (d *Dialer) OnSpareMade(f func()) {
	p := d.pool()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.made = f
}

// OnSparesStopped makes d call f (on the goroutine of a spare's timer)
// once each time it stops keeping spares (KeepSpares): no tunnel was
// opened for spareWarm, and its last spare expired and was closed with
// none made in its place. The handshakes and closes of the spares it
// kept until then mapped code and left garbage an otherwise idle client
// would hold for good; f is the moment to give that back (package
// idlemem). It is not called again until a tunnel opens (which starts
// spares again) and they stop once more, nor after CloseSpares.
func (d *Dialer) OnSparesStopped(f func()) {
	p := d.pool()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopped = f
}

// KeepSpares makes d keep spare connections for the names it opens
// tunnels to, starting with dnsName's now (unless it holds one already:
// an APIClient's, HandOff): once a tunnel had its first answer, a
// connection for the next one is made ready. For a long-running client
// of many tunnels (--local-port); CloseSpares ends it.
func (d *Dialer) KeepSpares(dnsName string) {
	if d.NetDial != nil {
		return
	}
	p := d.pool()
	p.mu.Lock()
	p.keep = true
	p.lastUse = time.Now()
	prepared := len(p.list) > 0 // the first tunnel takes it (takeSpare)
	p.mu.Unlock()
	if prepared {
		return
	}
	_, sni, addr := HostPort(dnsName)
	if d.DialAddr != "" {
		addr = d.DialAddr
	}
	d.replenish(spareKey{sni, addr})
}

// CloseSpares closes d's spares and stops making new ones.
func (d *Dialer) CloseSpares() {
	p := d.pool()
	p.mu.Lock()
	list := p.list
	p.list, p.closed, p.keep = nil, true, false
	p.cancel()
	p.mu.Unlock()
	for _, s := range list {
		s.discard()
	}
}

// pool returns d's spare pool, made on first use.
func (d *Dialer) pool() *sparePool {
	d.sparesOnce.Do(func() {
		d.spares.want, d.spares.ttl = 1, defaultSpareTTL
		d.spares.ctx, d.spares.cancel = context.WithCancel(context.Background())
		d.sparesUsed.Store(true)
	})
	return &d.spares
}

// startSpareLocked makes a spare for key (at key.addr) on its own
// goroutine; p.mu is held.
func (d *Dialer) startSpareLocked(p *sparePool, key spareKey) {
	s := &spareConn{key: key, ready: make(chan struct{})}
	p.list = append(p.list, s)
	cfgs := d.tlsConfigs(key)
	go func() {
		ctx, cancel := context.WithTimeout(p.ctx, spareDialTimeout)
		defer cancel()
		c, err := d.dialTLS(ctx, "tcp", key.addr, cfgs, true)
		p.mu.Lock()
		if made := p.made; made != nil {
			defer made() // after the unlock
		}
		defer p.mu.Unlock()
		if err == nil {
			s.conn, s.made = c.(*tls.Conn), time.Now()
		} else {
			s.err = err
		}
		close(s.ready)
		i := slices.Index(p.list, s)
		switch {
		case p.closed:
			s.discard()
		case i < 0: // taken while it was being made: the taker has it
		case err != nil:
			p.list = slices.Delete(p.list, i, i+1)
			s.discard()
		default:
			ttl := p.ttl
			s.timer = time.AfterFunc(ttl, func() { d.expire(p, s) })
		}
	}()
}

// expire closes a spare that was not used within its lifetime and, while
// tunnels are still being opened (spareWarm), makes a new one; once they
// no longer are and it was the last, it calls OnSparesStopped's function
// (with p.mu released: the function may take time or call back into d).
func (d *Dialer) expire(p *sparePool, s *spareConn) {
	var stopped func() // OnSparesStopped's, when this ends spare-keeping
	p.mu.Lock()
	defer func() {
		p.mu.Unlock()
		if stopped != nil {
			stopped()
		}
	}()
	i := slices.Index(p.list, s)
	if i < 0 {
		return // taken
	}
	p.list = slices.Delete(p.list, i, i+1)
	if p.ttl < defaultSpareTTL && s.conn != nil && spareAlive(s.conn) {
		// The server held it open for its whole lifetime: a lifetime cut
		// by an early close (a restart) grows back, rather than spares
		// being remade every minSpareTTL for good.
		p.ttl = min(2*p.ttl, defaultSpareTTL)
	}
	s.discard()
	if p.want > 1 {
		p.want-- // more than needed: one went unused
	}
	if !p.keep || p.closed {
		return
	}
	if time.Since(p.lastUse) < spareWarm {
		if !s.resolved && p.countLocked(s.key) < p.want {
			d.startSpareLocked(p, s.key)
		}
		return
	}
	// Spare-keeping is over (OnSparesStopped) once the last spare is
	// gone: with several, only the expiry that empties the list calls
	// it, and spares start again only with a tunnel's open, which makes
	// spareWarm begin again: one call per stop.
	if len(p.list) == 0 {
		stopped = p.stopped
	}
}

// countLocked is the number of spares for key; p.mu is held.
func (p *sparePool) countLocked(key spareKey) int {
	n := 0
	for _, s := range p.list {
		if s.key == key {
			n++
		}
	}
	return n
}

// discard closes s once it is made (now, if it is).
func (s *spareConn) discard() {
	if s.timer != nil {
		s.timer.Stop()
	}
	select {
	case <-s.ready:
		if s.conn != nil {
			_ = s.conn.Close()
		}
	default:
		go func() {
			<-s.ready
			if s.conn != nil {
				_ = s.conn.Close()
			}
		}()
	}
}

// takeSpare returns a spare for key, waiting for one still being made,
// or nil when there is none, it failed, or the server has closed it.
// Without KeepSpares, the spares for other names are closed: they will
// not be used.
func (d *Dialer) takeSpare(ctx context.Context, key spareKey) net.Conn {
	if !d.hasPool() {
		return nil
	}
	p := d.pool()
	p.mu.Lock()
	p.lastUse = time.Now()
	at := -1
	for i, c := range p.list {
		if c.key != key {
			continue
		}
		if at < 0 || c.conn != nil {
			at = i // the first one, or a ready one
		}
		if c.conn != nil {
			break
		}
	}
	var s *spareConn
	if at >= 0 {
		s = p.list[at]
		p.list = slices.Delete(p.list, at, at+1)
		if s.timer != nil {
			s.timer.Stop()
		}
	}
	// Without one for key, one an APIClient handed over for another name
	// of the server (the API's name, when the endpoint's dnsName is
	// another one) may do (sameServer).
	var other *spareConn
	if s == nil {
		if i := slices.IndexFunc(p.list, func(c *spareConn) bool { return c.resolved }); i >= 0 {
			other = p.list[i]
			p.list = slices.Delete(p.list, i, i+1)
			if other.timer != nil {
				other.timer.Stop()
			}
		}
	}
	var others []*spareConn
	if !p.keep {
		others, p.list = p.list, nil
	}
	if s == nil && other == nil && p.keep && p.want < maxSpares {
		p.want++ // a tunnel found none: keep more
	}
	p.mu.Unlock()
	for _, o := range others {
		o.discard()
	}
	if other != nil {
		if c := d.sameServer(ctx, other, key); c != nil {
			return c
		}
		other.discard()
		return nil
	}
	if s == nil {
		return nil
	}
	select {
	case <-s.ready:
	case <-ctx.Done():
		s.discard()
		return nil
	}
	if s.conn == nil {
		return nil
	}
	if !spareAlive(s.conn) {
		_ = s.conn.Close()
		age := time.Since(s.made)
		p.mu.Lock()
		if t := age / 2; t < p.ttl {
			p.ttl = max(t, minSpareTTL)
		}
		p.mu.Unlock()
		return nil
	}
	return s.conn
}

// sameServer returns s's connection for a tunnel to key when s was made
// for another name of the same server: key's host resolves to the very
// address s reached (same port), and the certificate s verified is valid
// for key's name too (the check a fresh handshake would make). The
// tunnel's ClientHello then carried the other name (or none, for an IP
// address): Postern serves its API and its endpoints' dnsName on one
// listener with one certificate and does not route by it. Otherwise, or
// when s failed or is no longer open, it returns nil (and s is left to
// the caller to discard).
func (d *Dialer) sameServer(ctx context.Context, s *spareConn, key spareKey) net.Conn {
	select {
	case <-s.ready:
	case <-ctx.Done():
		return nil
	}
	if s.conn == nil {
		return nil
	}
	remote, ok := s.conn.RemoteAddr().(*net.TCPAddr)
	host, port, err := net.SplitHostPort(key.addr)
	if !ok || err != nil || port != strconv.Itoa(remote.Port) {
		return nil
	}
	cs := s.conn.ConnectionState()
	if cfg := d.tlsConfigs(key).full; !cfg.InsecureSkipVerify {
		if len(cs.PeerCertificates) == 0 || cs.PeerCertificates[0].VerifyHostname(key.sni) != nil {
			return nil
		}
	}
	ip, err := netip.ParseAddr(host)
	var ips []netip.Addr
	if err == nil {
		ips = []netip.Addr{ip}
	} else if ips, err = net.DefaultResolver.LookupNetIP(ctx, "ip", host); err != nil {
		return nil
	}
	rip, _ := netip.AddrFromSlice(remote.IP)
	if !slices.ContainsFunc(ips, func(ip netip.Addr) bool { return ip.Unmap() == rip.Unmap() }) {
		return nil
	}
	if !spareAlive(s.conn) {
		return nil
	}
	return s.conn
}

// hasPool tells whether d's spare pool was ever used.
func (d *Dialer) hasPool() bool { return d.sparesUsed.Load() }

// replenish makes spares for key after a tunnel was opened, up to the
// number kept, when d keeps spares.
func (d *Dialer) replenish(key spareKey) {
	if !d.hasPool() {
		return
	}
	p := d.pool()
	p.mu.Lock()
	defer p.mu.Unlock()
	// lastUse is the last open's (takeSpare), not now: a tunnel's first
	// answer, or its close before one (Tunnel.answered), may come long
	// after its open, and makes no spare once spareWarm has passed.
	if !p.keep || p.closed || time.Since(p.lastUse) >= spareWarm {
		return
	}
	for n := p.countLocked(key); n < p.want; n++ {
		d.startSpareLocked(p, key)
	}
}

// spareAlive tells whether the server still holds c open and has sent
// nothing on it but TLS post-handshake messages (session tickets). When
// its socket has something, crypto/tls reads it through c's gate, which
// answers a read that would wait with a timeout (not a lasting error in
// crypto/tls): a ticket is handled and the connection is alive; a
// close, an alert or application data means the server is done with it.
func spareAlive(c *tls.Conn) bool {
	g, ok := netutil.Beneath[*gate](c)
	if !ok || g.rc == nil {
		return true
	}
	if !readableNow(g.rc) {
		return true
	}
	g.probing.Store(true)
	defer g.probing.Store(false)
	var one [1]byte
	n, err := c.Read(one[:])
	if n > 0 {
		return false // application data before a request: not ours to take
	}
	return errors.Is(err, os.ErrDeadlineExceeded)
}

// gate is the socket beneath a spare's TLS: while probing, a read that
// would wait answers os.ErrDeadlineExceeded at once instead.
type gate struct {
	net.Conn
	rc      syscall.RawConn // the TCP socket beneath, nil if there is none
	probing atomic.Bool
}

func newGate(c net.Conn) *gate {
	g := &gate{Conn: c}
	if raw := netutil.TCPBeneath(c); raw != nil {
		if rc, err := raw.(*net.TCPConn).SyscallConn(); err == nil {
			g.rc = rc
		}
	}
	return g
}

func (g *gate) Read(p []byte) (int, error) {
	if g.probing.Load() {
		n, err, wouldBlock := readNoWait(g.rc, p)
		if wouldBlock {
			return 0, os.ErrDeadlineExceeded
		}
		return n, err
	}
	return g.Conn.Read(p)
}

// NetConn returns the connection beneath (netutil.Beneath).
func (g *gate) NetConn() net.Conn { return g.Conn }
