//go:build linux

package client

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"golang.org/x/sys/unix"

	"github.com/postern/postern/internal/util/netutil"
)

// spareServer is a real TLS WebSocket server (httptest, crypto/tls) that
// reports the connections it accepts and closes, and the upgrade
// requests it gets with the connection each came on.
type spareServer struct {
	srv      *httptest.Server
	roots    *x509.CertPool
	accepted chan net.Conn // the server's side of each accepted connection
	closed   chan string   // the client address of each closed one
	requests chan *http.Request
}

// waitTimeout bounds every wait of these tests for the other side.
const waitTimeout = 20 * time.Second

func newSpareServer(t *testing.T, tickets bool) *spareServer {
	t.Helper()
	return newSpareServerWith(t, tickets, nil)
}

// newSpareServerWith is newSpareServer with cert as its certificate
// (nil: httptest's, which the test's roots trust).
func newSpareServerWith(t *testing.T, tickets bool, cert *tls.Certificate) *spareServer {
	t.Helper()
	cfg := &tls.Config{SessionTicketsDisabled: !tickets}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return newSpareServerTLS(t, cfg)
}

// newSpareServerTLS is newSpareServer with cfg as its TLS configuration
// (httptest's certificate unless cfg names one).
func newSpareServerTLS(t *testing.T, cfg *tls.Config) *spareServer {
	t.Helper()
	s := &spareServer{accepted: make(chan net.Conn, 64), closed: make(chan string, 64), requests: make(chan *http.Request, 64)}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests <- r
		conn, _, _, err := ws.UpgradeHTTP(r, w)
		if err != nil {
			return
		}
		defer conn.Close()
		_ = wsutil.WriteServerBinary(conn, []byte("hi"))
		_ = ws.WriteFrame(conn, ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, "")))
	}))
	s.srv.Config.ConnState = func(c net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			s.accepted <- c
		case http.StateClosed, http.StateHijacked:
			if st == http.StateClosed {
				s.closed <- c.RemoteAddr().String()
			}
		}
	}
	s.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.srv.TLS = cfg
	s.srv.StartTLS()
	t.Cleanup(s.srv.Close)
	s.roots = x509.NewCertPool()
	s.roots.AddCert(s.srv.Certificate()) // valid for example.com
	return s
}

// dialer is a Dialer of tunnels to example.com, dialed at s.
func (s *spareServer) dialer() *Dialer {
	return &Dialer{TLS: &tls.Config{RootCAs: s.roots}, DialAddr: s.srv.Listener.Addr().String(),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""),
		Region:      "us-east-1"}
}

func (s *spareServer) nextAccepted(t *testing.T) net.Conn {
	t.Helper()
	select {
	case c := <-s.accepted:
		return c
	case <-time.After(waitTimeout):
		t.Fatal("no connection reached the server")
		return nil
	}
}

func (s *spareServer) nextClosed(t *testing.T) string {
	t.Helper()
	select {
	case a := <-s.closed:
		return a
	case <-time.After(waitTimeout):
		t.Fatal("the server saw no connection close")
		return ""
	}
}

func (s *spareServer) nextRequest(t *testing.T) *http.Request {
	t.Helper()
	select {
	case r := <-s.requests:
		return r
	case <-time.After(waitTimeout):
		t.Fatal("no request reached the server")
		return nil
	}
}

// readSpare waits until d's first spare is made (its handshake done:
// crypto/tls has read the session ticket the server sent with its
// flight, or reads it with the upgrade's answer).
func readSpare(t *testing.T, d *Dialer) {
	t.Helper()
	p := d.pool()
	p.mu.Lock()
	if len(p.list) == 0 {
		p.mu.Unlock()
		t.Fatal("no spare")
	}
	s := p.list[0]
	p.mu.Unlock()
	select {
	case <-s.ready:
	case <-time.After(waitTimeout):
		t.Fatal("the spare was never made")
	}
	if s.err != nil {
		t.Fatalf("spare: %v", s.err)
	}
}

// readTunnel reads the test server's "hi" through tun.
func readTunnel(t *testing.T, tun *Tunnel) {
	t.Helper()
	defer tun.Close()
	if got, err := io.ReadAll(tun); string(got) != "hi" || err != nil {
		t.Fatalf("read %q, %v", got, err)
	}
}

var target = Target{InstanceID: "i-0123456789abcdef0", EndpointID: "eice-0123456789abcdef0", DNSName: "example.com",
	PrivateIP: "10.0.0.5", RemotePort: 22}

// With KeepSpares, each tunnel's upgrade goes on a connection the
// Dialer made ready before the tunnel was asked for (the server accepted
// it before Dial), and the next one is made meanwhile; each spare made is
// reported (OnSpareMade: the client then gives back what its handshake
// used). Each tunnel's URL is signed when it is opened, with the
// clock of that moment, and no two are the same.
func TestKeptSpareCarriesTheNextTunnel(t *testing.T) {
	s := newSpareServer(t, true)
	d := s.dialer()
	now := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	d.Now = func() time.Time { return now }
	made := make(chan struct{}, 16)
	d.OnSpareMade(func() { made <- struct{}{} })
	d.KeepSpares("example.com")
	defer d.CloseSpares()
	signatures := map[string]bool{}
	for i := range 4 {
		spare := s.nextAccepted(t).RemoteAddr().String()
		readSpare(t, d)
		now = now.Add(time.Second)
		tun, err := d.Dial(context.Background(), target)
		if err != nil {
			t.Fatalf("tunnel %d: %v", i, err)
		}
		r := s.nextRequest(t)
		if r.RemoteAddr != spare {
			t.Errorf("tunnel %d came on %s, not on the spare %s", i, r.RemoteAddr, spare)
		}
		q, _ := url.ParseQuery(r.URL.RawQuery)
		if got, want := q.Get("X-Amz-Date"), now.Format("20060102T150405Z"); got != want {
			t.Errorf("tunnel %d signed at %s, want %s (when it was opened)", i, got, want)
		}
		sig := q.Get("X-Amz-Signature")
		if sig == "" || signatures[sig] {
			t.Errorf("tunnel %d: signature %q empty or used before", i, sig)
		}
		signatures[sig] = true
		readTunnel(t, tun)
		select { // the spare this tunnel took was reported made
		case <-made:
		case <-time.After(waitTimeout):
			t.Fatalf("tunnel %d: its spare was not reported made (OnSpareMade)", i)
		}
	}
}

// A spare the server closed before it was used (its header timeout) is
// dropped when taken: the tunnel opens on a fresh connection, with no
// error, and later spares live shorter than the age the server closed
// that one at.
func TestDeadSpareIsReplacedByAFreshDial(t *testing.T) {
	tests := []struct {
		name    string
		tickets bool // the server sent a session ticket before it closed
	}{
		{"closed, nothing sent", false},
		{"closed after a session ticket", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSpareServer(t, tc.tickets)
			d := s.dialer()
			d.KeepSpares("example.com")
			defer d.CloseSpares()
			spare := s.nextAccepted(t)
			readSpare(t, d)
			spare.Close()
			if got := s.nextClosed(t); got != spare.RemoteAddr().String() {
				t.Fatalf("closed %s, not the spare", got)
			}
			// The spare's socket now has the server's end.
			p := d.pool()
			p.mu.Lock()
			var sc *tls.Conn
			if len(p.list) > 0 {
				sc = p.list[0].conn
			}
			p.mu.Unlock()
			if sc == nil {
				t.Fatal("the spare left the list before the tunnel took it")
			}
			waitEnd(t, sc)
			tun, err := d.Dial(context.Background(), target)
			if err != nil {
				t.Fatalf("a dead spare gave an error: %v", err)
			}
			if r := s.nextRequest(t); r.RemoteAddr == spare.RemoteAddr().String() {
				t.Error("the tunnel went on the dead spare")
			}
			readTunnel(t, tun)
			p.mu.Lock()
			ttl := p.ttl
			p.mu.Unlock()
			if ttl >= defaultSpareTTL {
				t.Errorf("spare lifetime %v, want it cut below %v", ttl, defaultSpareTTL)
			}
		})
	}
}

// waitEnd waits (bounded) until c's socket has received the peer's end
// (TCP state CLOSE_WAIT after its FIN, CLOSE after its reset: a server
// that closes with bytes unread resets), without reading from it.
func waitEnd(t *testing.T, c *tls.Conn) {
	t.Helper()
	rc, err := netutil.TCPBeneath(c).(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(waitTimeout)
	for time.Now().Before(deadline) {
		var state uint8
		_ = rc.Control(func(fd uintptr) {
			if info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
				state = info.State
			}
		})
		if state == tcpCloseWait || state == tcpClose {
			return
		}
		runtime.Gosched()
	}
	t.Fatal("the server's close never reached the spare's socket")
}

// Linux's TCP_CLOSE (a reset received) and TCP_CLOSE_WAIT (the peer's
// FIN received) states.
const (
	tcpClose     = 7
	tcpCloseWait = 8
)

// handOff does what an APIClient does for a look-up at dnsName whose
// host resolved to dialAddr, then HandOff: a connection made and verified
// for dnsName's name (Dialer.dialTLS, gated) at dialAddr, adopted by d as
// a spare for dnsName's name and address (d.DialAddr when set). A
// connection that fails (an untrusted certificate) is not handed over,
// as an APIClient's failed look-up hands nothing over. It returns the
// client's address of the connection handed over ("" for none).
func handOff(t *testing.T, d *Dialer, dnsName, dialAddr string) string {
	t.Helper()
	_, sni, addr := HostPort(dnsName)
	if d.DialAddr != "" {
		addr = d.DialAddr
	}
	key := spareKey{sni, addr}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, err := d.dialTLS(ctx, "tcp", dialAddr, d.tlsConfigs(key), true)
	if err != nil {
		return ""
	}
	d.adopt(c.(*tls.Conn), key, time.Now())
	return c.LocalAddr().String()
}

// A handed-over connection is verified as any tunnel's connection, and
// used for the name and address it was made for: one to a server whose
// certificate the client does not trust is never made (the tunnel goes
// to the right server, or fails on the certificate when that is the only
// server).
func TestHandedOffConnectionVerifiedAsAnyTunnel(t *testing.T) {
	tests := []struct {
		name     string
		handOff  func(good, evil *spareServer) (dnsName, dialAddr string)
		dialAt   func(good, evil *spareServer) string // the tunnel's DialAddr
		wantErr  bool
		wantUsed bool // the tunnel came on the handed-over connection
	}{
		{"made at an untrusted server, tunnel to the trusted one",
			func(good, evil *spareServer) (string, string) {
				return "example.com", evil.srv.Listener.Addr().String()
			},
			func(good, evil *spareServer) string { return good.srv.Listener.Addr().String() }, false, false},
		{"only an untrusted server",
			func(good, evil *spareServer) (string, string) {
				return "example.com", evil.srv.Listener.Addr().String()
			},
			func(good, evil *spareServer) string { return evil.srv.Listener.Addr().String() }, true, false},
		{"made for the tunnel's name and address",
			func(good, evil *spareServer) (string, string) {
				return "example.com", good.srv.Listener.Addr().String()
			},
			func(good, evil *spareServer) string { return good.srv.Listener.Addr().String() }, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			good, evil := newSpareServer(t, true), newSpareServerWith(t, true, selfSigned(t, "example.com"))
			d := good.dialer()
			d.DialAddr = tc.dialAt(good, evil)
			name, at := tc.handOff(good, evil)
			prepared := handOff(t, d, name, at)
			defer d.CloseSpares()
			tun, err := d.Dial(context.Background(), target)
			if tc.wantErr {
				var ve *tls.CertificateVerificationError
				if !errors.As(err, &ve) {
					t.Fatalf("Dial: %v, want a certificate verification error", err)
				}
				select {
				case r := <-evil.requests:
					t.Fatalf("a request reached the untrusted server: %s", r.URL)
				default:
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			r := good.nextRequest(t)
			if used := prepared != "" && r.RemoteAddr == prepared; used != tc.wantUsed {
				t.Errorf("the tunnel came on the handed-over connection: %v, want %v", used, tc.wantUsed)
			}
			readTunnel(t, tun)
		})
	}
}

// A kept spare is closed and replaced before its lifetime ends (the
// server's header timeout would close it), and the next tunnel goes on a
// spare; once no tunnel was opened for spareWarm, an expired spare is
// not replaced: an idle client holds no connection.
func TestSpareReplacedBeforeItExpires(t *testing.T) {
	s := newSpareServer(t, true)
	d := s.dialer()
	p := d.pool()
	p.mu.Lock()
	p.ttl = minSpareTTL
	p.mu.Unlock()
	d.KeepSpares("example.com")
	defer d.CloseSpares()
	ready := map[string]bool{}
	first := s.nextAccepted(t).RemoteAddr().String()
	ready[first] = true
	if got := s.nextClosed(t); got != first {
		t.Fatalf("closed %s, want the expired spare %s", got, first)
	}
	ready[s.nextAccepted(t).RemoteAddr().String()] = true // its replacement
	p.mu.Lock()
	p.ttl = defaultSpareTTL
	p.mu.Unlock()
	for more := true; more; { // replacements made before the lifetime was set back
		select {
		case c := <-s.accepted:
			ready[c.RemoteAddr().String()] = true
		default:
			more = false
		}
	}
	tun, err := d.Dial(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	if r := s.nextRequest(t); !ready[r.RemoteAddr] {
		t.Errorf("the tunnel came on %s, not on a spare", r.RemoteAddr)
	}
	readTunnel(t, tun)

	// Idle for longer than spareWarm: the next expiry closes the spare and
	// makes none.
	next := s.nextAccepted(t).RemoteAddr().String() // made after the tunnel
	p.mu.Lock()
	p.lastUse = time.Now().Add(-spareWarm)
	for _, sp := range p.list {
		if sp.timer != nil {
			sp.timer.Reset(0)
		}
	}
	p.mu.Unlock()
	for got := ""; got != next; got = s.nextClosed(t) {
	}
	p.mu.Lock()
	n := len(p.list)
	p.mu.Unlock()
	if n != 0 {
		t.Errorf("%d spares kept by an idle client", n)
	}
}

// selfSigned is a certificate for names (the first is its subject) that
// no test trusts unless it adds it.
func selfSigned(t *testing.T, names ...string) *tls.Certificate {
	name := names[0]
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// A connection an APIClient made at the address the API's name resolved
// to (HandOff) is used for a tunnel to another name of that server only
// when that name
// reaches the same address and port and the certificate the connection
// verified is valid for it as well; otherwise the tunnel dials afresh,
// and a certificate that does not cover its name fails it.
func TestHandedOffForAnotherNameOfTheServer(t *testing.T) {
	tests := []struct {
		name      string
		cert      *tls.Certificate // nil: httptest's (example.com and 127.0.0.1)
		host      string           // the tunnel's dnsName's host; "": 127.0.0.1
		otherPort bool             // the tunnel's dnsName names another port
		wantUsed  bool
		wantErr   bool
	}{
		{"certificate covers both names", nil, "", false, true, false},
		{"a name that resolves to the same address", selfSigned(t, "example.com", "localhost"), "localhost", false, true, false},
		{"certificate covers only the API's name", selfSigned(t, "example.com"), "", false, false, true},
		{"another port", nil, "", true, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			api := newSpareServerWith(t, true, tc.cert)
			if tc.cert != nil {
				leaf, err := x509.ParseCertificate(tc.cert.Certificate[0])
				if err != nil {
					t.Fatal(err)
				}
				api.roots.AddCert(leaf)
			}
			tunnelSrv := api
			if tc.otherPort {
				tunnelSrv = newSpareServer(t, true)
			}
			d := api.dialer()
			d.DialAddr = ""
			apiAddr := api.srv.Listener.Addr().(*net.TCPAddr)
			if handOff(t, d, "example.com:"+strconv.Itoa(apiAddr.Port), apiAddr.String()) == "" {
				t.Fatal("no connection to hand over")
			}
			defer d.CloseSpares()
			prepared := api.nextAccepted(t)
			readSpare(t, d)
			tg := target
			tg.DNSName = tunnelSrv.srv.Listener.Addr().String() // 127.0.0.1:port
			if tc.host != "" {
				tg.DNSName = net.JoinHostPort(tc.host, strconv.Itoa(tunnelSrv.srv.Listener.Addr().(*net.TCPAddr).Port))
			}
			tun, err := d.Dial(context.Background(), tg)
			if tc.wantErr {
				var ve *tls.CertificateVerificationError
				if !errors.As(err, &ve) {
					t.Fatalf("Dial: %v, want a certificate verification error", err)
				}
				select {
				case r := <-api.requests:
					t.Fatalf("a request was sent: %s", r.URL)
				default:
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			r := tunnelSrv.nextRequest(t)
			if used := r.RemoteAddr == prepared.RemoteAddr().String(); used != tc.wantUsed {
				t.Errorf("the tunnel came on the prepared connection: %v, want %v", used, tc.wantUsed)
			}
			readTunnel(t, tun)
		})
	}
}
