package linkbench

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/yamux"
	"github.com/xtaci/smux"

	"github.com/postern/postern/internal/wire/linkmux"
)

// chunk is the write size used by every sender and the read buffer of every
// bulk receiver (the issue asks for 32–64 KiB writes).
const chunk = 64 << 10

// poolSize is how many idle pre-dialled connections a pool agent keeps.
const poolSize = 16

var (
	tlsOnce      sync.Once
	serverTLS    *tls.Config
	clientTLSErr error
	rootPool     *x509.CertPool
)

// tlsConfigs returns a server config with a throwaway ECDSA P-256 certificate
// and a fresh client config (own session cache) that trusts it. TLS 1.3 only.
func tlsConfigs(tb testing.TB) (*tls.Config, *tls.Config) {
	tb.Helper()
	tlsOnce.Do(func() {
		if v := os.Getenv(certEnv); v != "" {
			// A helper process uses its parent's certificate.
			d, k, _ := strings.Cut(v, ":")
			der, err1 := hex.DecodeString(d)
			kb, err2 := hex.DecodeString(k)
			key, err3 := x509.ParseECPrivateKey(kb)
			cert, err4 := x509.ParseCertificate(der)
			if clientTLSErr = errors.Join(err1, err2, err3, err4); clientTLSErr != nil {
				return
			}
			setTLS(der, cert, key)
			return
		}
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			clientTLSErr = err
			return
		}
		tmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(1),
			Subject:               pkix.Name{CommonName: "postern-linkbench"},
			DNSNames:              []string{"postern.test"},
			NotBefore:             time.Now().Add(-time.Hour),
			NotAfter:              time.Now().Add(24 * time.Hour),
			KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
			ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			IsCA:                  true,
			BasicConstraintsValid: true,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			clientTLSErr = err
			return
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			clientTLSErr = err
			return
		}
		setTLS(der, cert, key)
	})
	if clientTLSErr != nil {
		tb.Fatal(clientTLSErr)
	}
	client := &tls.Config{
		MinVersion:         tls.VersionTLS13,
		RootCAs:            rootPool,
		ServerName:         "postern.test",
		ClientSessionCache: tls.NewLRUClientSessionCache(64),
	}
	return serverTLS, client
}

// certEnv passes the certificate and key to a helper process.
const certEnv = "LINKBENCH_CERT"

func setTLS(der []byte, cert *x509.Certificate, key *ecdsa.PrivateKey) {
	rootPool = x509.NewCertPool()
	rootPool.AddCert(cert)
	serverTLS = &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}},
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		clientTLSErr = err
		return
	}
	certForChild = hex.EncodeToString(der) + ":" + hex.EncodeToString(kb)
}

var certForChild string

// serverLink is the server's view of a link: it opens tunnel streams.
type serverLink interface {
	Open() (net.Conn, error)
	Close() error
}

// agentLink is the agent's end; streams arrive at the handler it was given.
type agentLink interface {
	Close() error
}

// candidate is one way to carry tunnels between server and agent.
type candidate struct {
	name string
	// listen wraps a TCP listener; accept waits for the agent and returns the
	// server's end.
	accept func(ln net.Listener, cfg *tls.Config) (serverLink, error)
	// dial connects an agent to addr; every stream the server opens is served
	// by handle in its own goroutine.
	dial func(addr string, cfg *tls.Config, handle func(net.Conn)) (agentLink, error)
	// muxed reports whether streams share one connection.
	muxed bool
	// sameDataPathAs names a candidate that moves bytes identically (only
	// opening differs), so throughput benchmarks skip this one.
	sameDataPathAs string
	// shrinkIdle has both sides call yamux's Stream.Shrink (free the empty
	// receive buffer) before waiting on an idle stream.
	shrinkIdle bool
}

func yamuxConfig(window uint32) *yamux.Config {
	c := yamux.DefaultConfig()
	c.LogOutput = io.Discard
	if window > 0 {
		c.MaxStreamWindowSize = window
	}
	return c
}

func smuxConfig(version, frame, stream, session int) *smux.Config {
	c := smux.DefaultConfig()
	c.Version = version
	if frame > 0 {
		c.MaxFrameSize = frame
	}
	if stream > 0 {
		c.MaxStreamBuffer = stream
	}
	if session > 0 {
		c.MaxReceiveBuffer = session
	}
	return c
}

// candidates lists every data path measured. tcp-pool is the unencrypted
// limit; tls-pool is both the per-tunnel-connection candidate and the "plain
// TLS connection, no multiplexing" baseline.
func candidates() []candidate {
	return []candidate{
		poolCandidate("tcp-pool", false),
		poolCandidate("tls-pool", true),
		poolCandidate("tls-pool-x25519", true),
		yamuxCandidate("yamux-default", 0),
		yamuxCandidate("yamux-1M", 1<<20),
		yamuxCandidate("yamux-4M", 4<<20),
		yamuxCandidate("yamux-4M-coalesce", 4<<20),
		yamuxCandidate("yamux-4M-coalesce+shrink", 4<<20),
		smuxCandidate("smux-v1-default", smuxConfig(1, 0, 0, 0)),
		smuxCandidate("smux-v2-default", smuxConfig(2, 0, 0, 0)),
		smuxCandidate("smux-v2-1M", smuxConfig(2, 65535, 1<<20, 64<<20)),
		smuxCandidate("smux-v2-4M", smuxConfig(2, 65535, 4<<20, 256<<20)),
		linkmuxCandidate("linkmux"),
	}
}

func candidateByName(name string) (candidate, bool) {
	for _, c := range candidates() {
		if c.name == name {
			return c, true
		}
	}
	return candidate{}, false
}

// --- multiplexed candidates -------------------------------------------------

// muxSession is what yamux and smux sessions have in common here.
type muxSession interface {
	open() (net.Conn, error)
	accept() (net.Conn, error)
	Close() error
}

type yamuxSess struct{ *yamux.Session }

func (s yamuxSess) open() (net.Conn, error)   { return s.OpenStream() }
func (s yamuxSess) accept() (net.Conn, error) { return s.AcceptStream() }

type smuxSess struct{ *smux.Session }

// linkmuxSess is the product's link (internal/wire/linkmux: yamux's
// protocol, its own session), as the server and the agent configure it.
type linkmuxSess struct{ *linkmux.Session }

func (s linkmuxSess) open() (net.Conn, error)   { return s.Open(context.Background()) }
func (s linkmuxSess) accept() (net.Conn, error) { return s.Accept() }

func linkmuxCandidate(name string) candidate {
	return muxCandidate(name,
		func(c net.Conn) (muxSession, error) {
			s, err := linkmux.Opener(c, linkmux.Config{})
			return linkmuxSess{s}, err
		},
		func(c net.Conn) (muxSession, error) {
			s, err := linkmux.Acceptor(c, linkmux.Config{})
			return linkmuxSess{s}, err
		})
}

func (s smuxSess) open() (net.Conn, error)   { return s.OpenStream() }
func (s smuxSess) accept() (net.Conn, error) { return s.AcceptStream() }

type muxServer struct {
	sess muxSession
	conn net.Conn
}

func (m *muxServer) Open() (net.Conn, error) { return m.sess.open() }
func (m *muxServer) Close() error {
	err := m.sess.Close()
	m.conn.Close()
	return err
}

type muxAgent struct {
	sess muxSession
	conn net.Conn
	wg   sync.WaitGroup
}

func (m *muxAgent) Close() error {
	err := m.sess.Close()
	m.conn.Close()
	m.wg.Wait()
	return err
}

// muxCandidate builds a candidate from two session constructors: the server
// side (which opens streams) and the agent side (which accepts them).
func muxCandidate(name string, server, agent func(net.Conn) (muxSession, error)) candidate {
	return candidate{
		name:  name,
		muxed: true,
		accept: func(ln net.Listener, cfg *tls.Config) (serverLink, error) {
			raw, err := ln.Accept()
			if err != nil {
				return nil, err
			}
			tc := tls.Server(raw, cfg)
			if err := tc.HandshakeContext(context.Background()); err != nil {
				raw.Close()
				return nil, err
			}
			s, err := server(tc)
			if err != nil {
				tc.Close()
				return nil, err
			}
			return &muxServer{sess: s, conn: tc}, nil
		},
		dial: func(addr string, cfg *tls.Config, handle func(net.Conn)) (agentLink, error) {
			d := tls.Dialer{Config: cfg}
			c, err := d.DialContext(context.Background(), "tcp", addr)
			if err != nil {
				return nil, err
			}
			s, err := agent(c)
			if err != nil {
				c.Close()
				return nil, err
			}
			a := &muxAgent{sess: s, conn: c}
			a.wg.Add(1)
			go func() {
				defer a.wg.Done()
				for {
					st, err := s.accept()
					if err != nil {
						return
					}
					go handle(st)
				}
			}()
			return a, nil
		},
	}
}

func yamuxCandidate(name string, window uint32) candidate {
	wrap := func(c net.Conn) net.Conn { return c }
	if strings.Contains(name, "-coalesce") {
		wrap = func(c net.Conn) net.Conn { return &coalesceConn{Conn: c} }
	}
	cand := muxCandidate(name,
		func(c net.Conn) (muxSession, error) {
			s, err := yamux.Client(wrap(c), yamuxConfig(window))
			return yamuxSess{s}, err
		},
		func(c net.Conn) (muxSession, error) {
			s, err := yamux.Server(wrap(c), yamuxConfig(window))
			return yamuxSess{s}, err
		})
	if base, ok := strings.CutSuffix(name, "+shrink"); ok {
		cand.shrinkIdle = true
		cand.sameDataPathAs = base
	}
	return cand
}

func smuxCandidate(name string, cfg *smux.Config) candidate {
	return muxCandidate(name,
		func(c net.Conn) (muxSession, error) {
			s, err := smux.Client(c, cfg)
			return smuxSess{s}, err
		},
		func(c net.Conn) (muxSession, error) {
			s, err := smux.Server(c, cfg)
			return smuxSess{s}, err
		})
}

// coalesceConn merges a yamux data-frame header (written on its own by
// yamux's send loop, which costs a TLS record and a syscall) with the body
// written right after it, for bodies up to one TLS record (16 KiB): the
// interactive case, where the extra record doubles the work. Larger bodies
// pass through, as copying them costs more than the record saves. It only
// changes how bytes are grouped into Writes, never their order.
type coalesceConn struct {
	net.Conn
	buf  []byte
	held bool
}

func (c *coalesceConn) Write(b []byte) (int, error) {
	const yamuxHeader, typeData, maxBody = 12, 0, 16 << 10
	if !c.held && len(b) == yamuxHeader && b[1] == typeData {
		if n := binary.BigEndian.Uint32(b[8:]); n == 0 || n > maxBody {
			return c.Conn.Write(b)
		}
		c.buf = append(c.buf[:0], b...)
		c.held = true
		return len(b), nil
	}
	if c.held {
		c.held = false
		c.buf = append(c.buf, b...)
		_, err := c.Conn.Write(c.buf)
		if err != nil {
			return 0, err
		}
		return len(b), nil
	}
	return c.Conn.Write(b)
}

// --- connection-per-tunnel candidate -------------------------------------

// counter is an int with a condition variable, to wait for it without sleeps.
type counter struct {
	mu sync.Mutex
	c  sync.Cond
	n  int
}

func newCounter() *counter {
	k := &counter{}
	k.c.L = &k.mu
	return k
}

func (k *counter) add(d int) {
	k.mu.Lock()
	k.n += d
	k.mu.Unlock()
	k.c.Broadcast()
}

// waitFor blocks until pred(n) holds or done (which may be nil) is closed.
func (k *counter) waitFor(pred func(int) bool, done <-chan struct{}) bool {
	if done != nil {
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			select {
			case <-done:
				k.mu.Lock()
				k.mu.Unlock() //nolint:staticcheck // orders the wake-up after the waiter's check
				k.c.Broadcast()
			case <-stop:
			}
		}()
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for !pred(k.n) {
		select {
		case <-done:
			return false
		default:
		}
		k.c.Wait()
	}
	return true
}

// poolServer hands out connections the agent dialled in advance.
type poolServer struct {
	ln       net.Listener
	idle     chan net.Conn
	nIdle    *counter
	resumed  atomic.Int64
	accepted atomic.Int64
	done     chan struct{}
	once     sync.Once
}

func (p *poolServer) run(cfg *tls.Config) {
	for {
		raw, err := p.ln.Accept()
		if err != nil {
			return
		}
		if tc, ok := raw.(*net.TCPConn); ok {
			tc.SetNoDelay(true)
		}
		go func() {
			c := raw
			if cfg != nil {
				tc := tls.Server(raw, cfg)
				if err := tc.HandshakeContext(context.Background()); err != nil {
					raw.Close()
					return
				}
				p.accepted.Add(1)
				if tc.ConnectionState().DidResume {
					p.resumed.Add(1)
				}
				c = tc
			}
			select {
			case p.idle <- c:
				p.nIdle.add(1)
			case <-p.done:
				c.Close()
			}
		}()
	}
}

// Open takes an idle connection. A real server would also check that the
// connection is still alive (the first read of the agent's reply does).
func (p *poolServer) Open() (net.Conn, error) {
	select {
	case c := <-p.idle:
		p.nIdle.add(-1)
		return c, nil
	case <-p.done:
		return nil, net.ErrClosed
	}
}

func (p *poolServer) Close() error {
	p.once.Do(func() {
		close(p.done)
		p.ln.Close()
		for {
			select {
			case c := <-p.idle:
				c.Close()
			default:
				return
			}
		}
	})
	return nil
}

// poolAgent keeps poolSize idle connections dialled to the server. Each one
// waits in Read for the server's request; when it arrives the agent starts a
// replacement dial and serves the tunnel on the connection.
type poolAgent struct {
	addr   string
	cfg    *tls.Config
	handle func(net.Conn)
	done   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	nDial  *counter // dials in progress
}

func (a *poolAgent) spawn() {
	a.nDial.add(1)
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		c, err := a.dialOne()
		a.nDial.add(-1)
		if err != nil {
			return
		}
		a.mu.Lock()
		select {
		case <-a.done:
			a.mu.Unlock()
			c.Close()
			return
		default:
		}
		a.conns[c] = struct{}{}
		a.mu.Unlock()
		var first [1]byte
		_, err = c.Read(first[:])
		if err == nil {
			select {
			case <-a.done:
			default:
				a.spawn() // the replacement
			}
			a.handle(&prefixConn{Conn: c, first: first[0], has: true})
		}
		c.Close()
		a.mu.Lock()
		delete(a.conns, c)
		a.mu.Unlock()
	}()
}

func (a *poolAgent) dialOne() (net.Conn, error) {
	if a.cfg == nil {
		c, err := net.Dial("tcp", a.addr)
		if err == nil {
			c.(*net.TCPConn).SetNoDelay(true)
		}
		return c, err
	}
	d := tls.Dialer{Config: a.cfg}
	return d.DialContext(context.Background(), "tcp", a.addr)
}

func (a *poolAgent) Close() error {
	a.once.Do(func() {
		a.mu.Lock()
		close(a.done)
		for c := range a.conns {
			hardClose(c)
		}
		a.mu.Unlock()
		a.wg.Wait()
	})
	return nil
}

// hardClose closes a connection without the TLS close_notify alert, which
// waits up to 5 s when the peer has stopped reading.
func hardClose(c net.Conn) error {
	if tc, ok := c.(*tls.Conn); ok {
		return tc.NetConn().Close()
	}
	return c.Close()
}

// prefixConn returns the byte the pool agent already read before the rest.
type prefixConn struct {
	net.Conn
	first byte
	has   bool
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if p.has && len(b) > 0 {
		p.has = false
		b[0] = p.first
		return 1, nil
	}
	return p.Conn.Read(b)
}

func poolCandidate(name string, useTLS bool) candidate {
	same := ""
	if strings.HasSuffix(name, "-x25519") {
		same = strings.TrimSuffix(name, "-x25519")
	}
	return candidate{
		name:           name,
		sameDataPathAs: same,
		accept: func(ln net.Listener, cfg *tls.Config) (serverLink, error) {
			if !useTLS {
				cfg = nil
			}
			p := &poolServer{ln: ln, idle: make(chan net.Conn, 1<<16), nIdle: newCounter(), done: make(chan struct{})}
			go p.run(cfg)
			return p, nil
		},
		dial: func(addr string, cfg *tls.Config, handle func(net.Conn)) (agentLink, error) {
			if !useTLS {
				cfg = nil
			} else if strings.HasSuffix(name, "-x25519") {
				// Classical key exchange only: the default hybrid
				// X25519MLKEM768 doubles the cost of a resumed handshake.
				cfg = cfg.Clone()
				cfg.CurvePreferences = []tls.CurveID{tls.X25519}
			}
			a := &poolAgent{addr: addr, cfg: cfg, handle: handle, done: make(chan struct{}),
				conns: map[net.Conn]struct{}{}, nDial: newCounter()}
			for range poolSize {
				a.spawn()
			}
			return a, nil
		},
	}
}

// settle waits until a pool link has poolSize idle connections on the side
// given (no-op for multiplexed links). It returns false if done closes first.
func settle(l any, done <-chan struct{}) bool {
	switch v := l.(type) {
	case *poolServer:
		return v.nIdle.waitFor(func(n int) bool { return n >= poolSize }, done)
	case *poolAgent:
		return v.nDial.waitFor(func(n int) bool { return n == 0 }, done)
	}
	return true
}

// --- the agent's stream handler ---------------------------------------------

// Requests (first byte the server writes on a new stream):
//
//	'E'            echo: reply 'E', then echo everything (512-byte buffer)
//	'S' + uint64 n sink: read n bytes, reply 'K'
//	'G' + uint64 n generate: write n bytes, then wait for EOF
//	'H' + uint64 n stall: read n bytes, then stop reading until the agent stops
//	'P' + uint64 n push: write n bytes, then write until a write makes no
//	               progress for stallWait
//	               (the server has stopped reading), send on full, wait for
//	               the agent to stop
type handler struct {
	done   <-chan struct{}
	full   chan<- struct{}
	zero   []byte
	shrink bool // call Shrink, if the stream has it, before an echo read
}

// stallWait is how long a write must block before the sender counts its
// stream as full. A too-early guess only makes a head-of-line check weaker.
const stallWait = 200 * time.Millisecond

func newHandler(done <-chan struct{}, full chan<- struct{}, shrink bool) *handler {
	return &handler{done: done, full: full, zero: make([]byte, chunk), shrink: shrink}
}

type shrinker interface{ Shrink() }

func (h *handler) serve(c net.Conn) {
	defer c.Close()
	var hdr [9]byte
	if _, err := io.ReadFull(c, hdr[:1]); err != nil {
		return
	}
	switch hdr[0] {
	case 'E':
		buf := make([]byte, 512)
		buf[0] = 'E'
		if _, err := c.Write(buf[:1]); err != nil {
			return
		}
		for {
			if s, ok := c.(shrinker); ok && h.shrink {
				s.Shrink()
			}
			n, err := c.Read(buf)
			if n > 0 {
				if _, werr := c.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	case 'S':
		if _, err := io.ReadFull(c, hdr[1:]); err != nil {
			return
		}
		if err := readN(c, binary.BigEndian.Uint64(hdr[1:]), make([]byte, chunk)); err != nil {
			return
		}
		c.Write([]byte{'K'})
		io.Copy(io.Discard, c)
	case 'G':
		if _, err := io.ReadFull(c, hdr[1:]); err != nil {
			return
		}
		if err := writeN(c, binary.BigEndian.Uint64(hdr[1:]), h.zero); err != nil {
			return
		}
		io.Copy(io.Discard, c)
	case 'H':
		if _, err := io.ReadFull(c, hdr[1:]); err != nil {
			return
		}
		if err := readN(c, binary.BigEndian.Uint64(hdr[1:]), make([]byte, chunk)); err != nil {
			return
		}
		<-h.done
	case 'P':
		if _, err := io.ReadFull(c, hdr[1:]); err != nil {
			return
		}
		if err := writeN(c, binary.BigEndian.Uint64(hdr[1:]), h.zero); err != nil {
			return
		}
		pushUntilFull(c, h.zero)
		h.full <- struct{}{}
		<-h.done
	}
}

// pushUntilFull writes until one write makes no progress for stallWait and
// returns the bytes written. It leaves a write deadline in the past.
func pushUntilFull(c net.Conn, buf []byte) int64 {
	var total int64
	for {
		c.SetWriteDeadline(time.Now().Add(stallWait))
		n, err := c.Write(buf)
		total += int64(n)
		if err != nil {
			return total
		}
	}
}

func readN(r io.Reader, n uint64, buf []byte) error {
	for n > 0 {
		b := buf
		if uint64(len(b)) > n {
			b = b[:n]
		}
		k, err := r.Read(b)
		n -= uint64(k)
		if err != nil {
			if n == 0 && errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
	return nil
}

func writeN(w io.Writer, n uint64, buf []byte) error {
	for n > 0 {
		b := buf
		if uint64(len(b)) > n {
			b = b[:n]
		}
		k, err := w.Write(b)
		n -= uint64(k)
		if err != nil {
			return err
		}
	}
	return nil
}

// --- in-process pair ---------------------------------------------------------

type pair struct {
	server serverLink
	agent  agentLink
	done   chan struct{}
	full   chan struct{} // one send per 'P' stream that filled up
}

// newPair starts a listener, an agent and the server's end on loopback.
func newPair(tb testing.TB, c candidate) *pair {
	tb.Helper()
	srvCfg, cliCfg := tlsConfigs(tb)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &pair{done: make(chan struct{}), full: make(chan struct{}, 64)}
	h := newHandler(p.done, p.full, c.shrinkIdle)
	type res struct {
		a   agentLink
		err error
	}
	ch := make(chan res, 1)
	go func() {
		a, err := c.dial(ln.Addr().String(), cliCfg, h.serve)
		ch <- res{a, err}
	}()
	s, err := c.accept(ln, srvCfg)
	if err != nil {
		ln.Close()
		tb.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		s.Close()
		tb.Fatal(r.err)
	}
	if c.muxed {
		ln.Close()
	}
	p.server, p.agent = s, r.a
	tb.Cleanup(p.close)
	if !settle(s, p.done) || !settle(r.a, p.done) {
		tb.Fatal("pool did not fill")
	}
	return p
}

func (p *pair) close() {
	select {
	case <-p.done:
		return
	default:
	}
	close(p.done)
	p.server.Close()
	p.agent.Close()
}

// request opens a stream and writes a request header.
func request(l serverLink, op byte, n uint64) (net.Conn, error) {
	c, err := l.Open()
	if err != nil {
		return nil, err
	}
	var hdr [9]byte
	hdr[0] = op
	binary.BigEndian.PutUint64(hdr[1:], n)
	size := 9
	if op == 'E' {
		size = 1
	}
	if _, err := c.Write(hdr[:size]); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// openEcho opens a stream and does the 1-byte echo round trip.
func openEcho(l serverLink) (net.Conn, error) {
	c, err := request(l, 'E', 0)
	if err != nil {
		return nil, err
	}
	var b [1]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		c.Close()
		return nil, err
	}
	if b[0] != 'E' {
		c.Close()
		return nil, fmt.Errorf("echo: got %q", b[0])
	}
	return c, nil
}

// sendBulk sends n bytes server→agent and waits for the agent's ack.
func sendBulk(l serverLink, n uint64, buf []byte) error {
	c, err := request(l, 'S', n)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := writeN(c, n, buf); err != nil {
		return err
	}
	var ack [1]byte
	_, err = io.ReadFull(c, ack[:])
	return err
}

// recvBulk has the agent send n bytes agent→server.
func recvBulk(l serverLink, n uint64, buf []byte) error {
	c, err := request(l, 'G', n)
	if err != nil {
		return err
	}
	defer c.Close()
	return readN(c, n, buf)
}
