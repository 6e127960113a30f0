package linkmux

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/yamux"

	"github.com/postern/postern/internal/util/bufpool"
	"github.com/postern/postern/internal/wire/tlsbatch"
	"github.com/postern/postern/internal/wire/tunnelproto"
)

var _ tunnelproto.Lender = (*Stream)(nil)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t testing.TB) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := ln.Accept()
		ch <- res{c, err}
	}()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() { a.Close(); r.c.Close() })
	return a, r.c
}

// tlsPair returns both ends of a TLS 1.3 connection over loopback TCP,
// each over a tlsbatch.Conn as in the server and the agent.
func tlsPair(t testing.TB, beneath func(net.Conn) net.Conn) (net.Conn, net.Conn) {
	t.Helper()
	a, b := tcpPair(t)
	return tlsOn(t, a, b, beneath)
}

// tlsOn runs a TLS 1.3 handshake over a and b (each over a tlsbatch.Conn)
// and returns the client's end and the server's.
func tlsOn(t testing.TB, a, b net.Conn, beneath func(net.Conn) net.Conn) (net.Conn, net.Conn) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "link"},
		DNSNames: []string{"link.test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	if beneath == nil {
		beneath = func(c net.Conn) net.Conn { return c }
	}
	srv := tls.Server(tlsbatch.Wrap(beneath(b)), &tls.Config{MinVersion: tls.VersionTLS13,
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}})
	cli := tls.Client(tlsbatch.Wrap(a), &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool, ServerName: "link.test"})
	errc := make(chan error, 1)
	go func() { errc <- srv.Handshake() }()
	if err := cli.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	return cli, srv
}

// opener and acceptor are what the interop test pairs: this package's
// session or upstream yamux's, on either side.
type opener func(context.Context) (net.Conn, error)
type acceptor func() (net.Conn, error)

func ours(t *testing.T, c net.Conn, open bool) (opener, acceptor) {
	var s *Session
	if open {
		s, _ = Opener(c, Config{})
	} else {
		s, _ = Acceptor(c, Config{})
	}
	t.Cleanup(func() { s.Close() })
	return s.Open, s.Accept
}

func upstream(t *testing.T, c net.Conn, open bool) (opener, acceptor) {
	cfg := yamux.DefaultConfig()
	cfg.LogOutput = io.Discard
	cfg.MaxStreamWindowSize = DefaultStreamWindow
	var s *yamux.Session
	var err error
	if open {
		s, err = yamux.Client(c, cfg)
	} else {
		s, err = yamux.Server(c, cfg)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return func(context.Context) (net.Conn, error) { return s.OpenStream() }, func() (net.Conn, error) { return s.AcceptStream() }
}

// echoAll serves accepted streams: each echoes until the peer's FIN.
func echoAll(accept acceptor) {
	for {
		s, err := accept()
		if err != nil {
			return
		}
		go func() {
			defer s.Close()
			_, _ = io.Copy(s, s)
		}()
	}
}

// The link speaks yamux's protocol: this package's session against
// upstream hashicorp/yamux both ways round and against itself, over
// loopback TCP and TLS, echoes concurrent streams of 1 B to 3 MiB intact
// (more than the window, so window updates flow both ways), and each
// stream's close reaches the other side as EOF.
func TestInteropWithUpstream(t *testing.T) {
	type side func(*testing.T, net.Conn, bool) (opener, acceptor)
	cases := []struct {
		name       string
		open, serv side
		tls        bool
	}{
		{"ours-ours-tcp", ours, ours, false},
		{"ours-ours-tls", ours, ours, true},
		{"ours-upstream", ours, upstream, true},
		{"upstream-ours", upstream, ours, true},
	}
	sizes := []int{1, 100, 16 << 10, 16<<10 + 1, 300 << 10, 3 << 20}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var a, b net.Conn
			if tc.tls {
				a, b = tlsPair(t, nil)
			} else {
				a, b = tcpPair(t)
			}
			open, _ := tc.open(t, a, true)
			_, accept := tc.serv(t, b, false)
			go echoAll(accept)
			var wg sync.WaitGroup
			errs := make(chan error, len(sizes))
			for _, n := range sizes {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- echoOnce(open, n)
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// echoOnce opens a stream, sends n random bytes, reads them back, and
// checks that the peer's close is EOF.
func echoOnce(open opener, n int) error {
	s, err := open(context.Background())
	if err != nil {
		return err
	}
	defer s.Close()
	msg := make([]byte, n)
	rand.Read(msg)
	werr := make(chan error, 1)
	go func() {
		_, err := s.Write(msg)
		werr <- err
	}()
	got := make([]byte, n)
	if _, err := io.ReadFull(s, got); err != nil {
		return fmt.Errorf("%d bytes: read: %v", n, err)
	}
	if err := <-werr; err != nil {
		return fmt.Errorf("%d bytes: write: %v", n, err)
	}
	if !bytes.Equal(got, msg) {
		return fmt.Errorf("%d bytes: the echo differs", n)
	}
	return nil
}

// A close reaches the peer as EOF after every byte, both ways round and
// with upstream yamux on the other side.
func TestCloseIsEOF(t *testing.T) {
	for _, up := range []bool{false, true} {
		t.Run(fmt.Sprintf("upstream=%v", up), func(t *testing.T) {
			a, b := tlsPair(t, nil)
			open, _ := ours(t, a, true)
			var accept acceptor
			if up {
				_, accept = upstream(t, b, false)
			} else {
				_, accept = ours(t, b, false)
			}
			s, err := open(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			msg := bytes.Repeat([]byte("x"), 70000)
			if _, err := s.Write(msg); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			r, err := accept()
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("read %d bytes, %v; want %d and EOF", len(got), err, len(msg))
			}
			if _, err := r.Write([]byte("late")); err != nil && !up {
				// Our side allows writes after the peer's FIN (half-close).
				t.Fatalf("write after the peer's FIN: %v", err)
			}
			r.Close()
		})
	}
}

// recorder counts the writes that reach the socket.
type recorder struct {
	net.Conn
	mu     sync.Mutex
	writes []int
}

func (r *recorder) Write(b []byte) (int, error) {
	r.mu.Lock()
	r.writes = append(r.writes, len(b))
	r.mu.Unlock()
	return r.Conn.Write(b)
}

func (r *recorder) take() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.writes
	r.writes = nil
	return w
}

// A frame leaves in one system call with its header: a small one as one
// TLS record (header copied in front of the body), a large one as one
// batch of records (no copy of the body).
func TestFrameIsOneWrite(t *testing.T) {
	var rec *recorder
	a, b := tlsPair(t, func(c net.Conn) net.Conn { rec = &recorder{Conn: c}; return rec })
	cli, _ := Opener(a, Config{})
	defer cli.Close()
	// The stream's ACK rides with its first frame below, not on its own
	// whenever FlagDelay passes.
	srv, _ := Acceptor(b, Config{FlagDelay: time.Hour})
	defer srv.Close()
	s, err := cli.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	st, err := srv.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(st, make([]byte, 5)); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{100, 200 << 10} {
		msg := make([]byte, n)
		rand.Read(msg)
		rec.take()
		if _, err := st.Write(msg); err != nil {
			t.Fatal(err)
		}
		if w := rec.take(); len(w) != 1 {
			t.Errorf("a frame of %d bytes left in %d writes %v, want 1", n, len(w), w)
		}
		got := make([]byte, n)
		if _, err := io.ReadFull(s, got); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("%d bytes: %v, or they differ", n, err)
		}
	}
}

// A stream nobody reads buffers at most its window on the receiving side
// (the writer waits), in pooled chunks at least 7/8 full but the last;
// another stream on the link still echoes meanwhile; everything
// arrives intact once read, and then the stream holds no buffer.
func TestUnreadStreamBuffersAtMostTheWindow(t *testing.T) {
	a, b := tlsPair(t, nil)
	cli, _ := Opener(a, Config{})
	defer cli.Close()
	srv, _ := Acceptor(b, Config{})
	defer srv.Close()
	lent := bufpool.Lent()

	stalled, err := cli.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	const total = 8 << 20
	msg := make([]byte, total)
	rand.Read(msg)
	wrote := make(chan error, 1)
	go func() {
		_, err := stalled.Write(msg)
		wrote <- err
	}()
	sr, err := srv.Accept()
	if err != nil {
		t.Fatal(err)
	}
	st := sr.(*Stream)
	// After each frame received, until the window is used up (bounded:
	// the writer has 8 MiB, the window is 1 MiB).
	arrived := make(chan struct{}, 1)
	hook := func(*Stream) { notify(arrived) }
	testHookData.Store(&hook)
	defer testHookData.Store(nil)
	for i := 0; ; i++ {
		st.mu.Lock()
		buf, capacity := st.buffered, 0
		for _, c := range st.rq {
			capacity += cap(*c.bp)
		}
		st.mu.Unlock()
		if buf > DefaultStreamWindow {
			t.Fatalf("the unread stream buffers %d bytes, more than the window %d", buf, DefaultStreamWindow)
		}
		if capacity > DefaultStreamWindow*8/7+bufpool.BigSize {
			t.Fatalf("the unread stream holds %d bytes of chunks for %d buffered", capacity, buf)
		}
		if buf == DefaultStreamWindow {
			break
		}
		if i > total {
			t.Fatalf("the window was not used up: %d bytes buffered", buf)
		}
		select {
		case <-arrived:
		case <-time.After(10 * time.Second):
			t.Fatalf("no more bytes arrived with %d buffered", buf)
		}
	}
	select {
	case err := <-wrote:
		t.Fatalf("the writer finished (%v) while the reader held the window", err)
	default:
	}
	// Another stream still works.
	go echoAll(srv.Accept)
	if err := echoOnce(cli.Open, 100<<10); err != nil {
		t.Fatalf("a stream beside the stalled one: %v", err)
	}
	got := make([]byte, total)
	if _, err := io.ReadFull(sr, got); err != nil {
		t.Fatal(err)
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatal("the stalled stream's bytes differ")
	}
	if n := bufpool.Lent() - lent; n != 0 {
		t.Errorf("%d buffers still lent after everything was read", n)
	}
}

// Borrow lends the received bytes in place; the window reopens only as
// they are consumed, so a borrowing reader moves any amount intact; a
// Close during a borrow keeps the lent chunk until Consume.
func TestBorrow(t *testing.T) {
	a, b := tlsPair(t, nil)
	cli, _ := Opener(a, Config{})
	defer cli.Close()
	srv, _ := Acceptor(b, Config{})
	defer srv.Close()
	lent := bufpool.Lent()
	s, err := cli.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	msg := make([]byte, 5<<20)
	rand.Read(msg)
	go func() { _, _ = s.Write(msg) }()
	r, err := srv.Accept()
	if err != nil {
		t.Fatal(err)
	}
	st := r.(*Stream)
	var got []byte
	for len(got) < len(msg) {
		p, err := st.Borrow(100 << 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(p) == 0 || len(p) > 100<<10 {
			t.Fatalf("borrowed %d bytes", len(p))
		}
		if _, err := st.Borrow(1); err == nil {
			t.Fatal("a second Borrow before Consume succeeded")
		}
		got = append(got, p...)
		if err := st.Consume(len(p)); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got, msg) {
		t.Fatal("borrowed bytes differ")
	}
	// A close while a borrow is out.
	if _, err := s.Write([]byte("tail")); err != nil {
		t.Fatal(err)
	}
	p, err := st.Borrow(10)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if string(p) != "tail" {
		t.Fatalf("borrowed %q after Close, want it intact", p)
	}
	if err := st.Consume(len(p)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Borrow(1); !errors.Is(err, ErrStreamClosed) {
		t.Fatalf("Borrow after Close: %v, want ErrStreamClosed", err)
	}
	if n := bufpool.Lent() - lent; n != 0 {
		t.Errorf("%d buffers still lent", n)
	}
}

// stallConn stops reading once stall is closed, until it is closed.
type stallConn struct {
	net.Conn
	stall  chan struct{}
	closed chan struct{}
	once   sync.Once
}

func (c *stallConn) Read(b []byte) (int, error) {
	select {
	case <-c.stall:
		<-c.closed
		return 0, net.ErrClosed
	default:
	}
	return c.Conn.Read(b)
}

func (c *stallConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// Once the peer stops reading the link, a stream's write fails within the
// write timeout and the session ends (a half-written frame would lose the
// link's framing).
func TestStalledLinkEndsTheSession(t *testing.T) {
	a, b := tcpPair(t)
	// Socket buffers far below the stream's window, so the writes meet
	// the stalled connection, not an exhausted window; no keepalive.
	_ = a.(*net.TCPConn).SetWriteBuffer(16 << 10)
	_ = b.(*net.TCPConn).SetReadBuffer(16 << 10)
	cli, _ := Opener(a, Config{WriteTimeout: time.Second, KeepAliveInterval: time.Hour})
	defer cli.Close()
	peer := &stallConn{Conn: b, stall: make(chan struct{}), closed: make(chan struct{})}
	_, accept := upstream(t, peer, false)
	s, err := cli.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := accept(); err != nil {
		t.Fatal(err)
	}
	close(peer.stall)
	buf := make([]byte, 1<<20)
	var werr error
	for i := 0; i < 1024 && werr == nil; i++ { // at most 1 GiB
		_, werr = s.Write(buf)
	}
	if !errors.Is(werr, os.ErrDeadlineExceeded) {
		t.Fatalf("writes to a peer that stopped reading: %v, want the write timeout", werr)
	}
	select {
	case <-cli.Done():
	case <-time.After(10 * time.Second):
		t.Fatalf("the session did not end after its write failed (%v)", werr)
	}
}

// silentPeer reads and drops everything, and never answers.
func silentPeer(c net.Conn) { _, _ = io.Copy(io.Discard, c) }

// A session whose peer answers no ping ends after the keepalive interval
// and the write timeout.
func TestKeepaliveEndsADeadLink(t *testing.T) {
	a, b := tcpPair(t)
	go silentPeer(b)
	cli, _ := Opener(a, Config{KeepAliveInterval: 50 * time.Millisecond, WriteTimeout: 100 * time.Millisecond})
	defer cli.Close()
	select {
	case <-cli.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the session outlived an unanswered keepalive")
	}
	if _, err := cli.Open(context.Background()); !errors.Is(err, ErrSessionShutdown) {
		t.Fatalf("Open on an ended session: %v", err)
	}
}

// Pings are answered: both ways round, ours and upstream.
func TestPing(t *testing.T) {
	a, b := tcpPair(t)
	cli, _ := Opener(a, Config{})
	defer cli.Close()
	cfg := yamux.DefaultConfig()
	cfg.LogOutput = io.Discard
	up, err := yamux.Server(b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	if _, err := cli.Ping(); err != nil {
		t.Fatalf("our ping: %v", err)
	}
	if _, err := up.Ping(); err != nil {
		t.Fatalf("upstream's ping: %v", err)
	}
}

// An open the peer never acknowledges ends the link after the open
// timeout; a close the peer never answers resets the stream after the
// close timeout (it leaves the session).
func TestUnansweredOpenAndClose(t *testing.T) {
	t.Run("open", func(t *testing.T) {
		a, b := tcpPair(t)
		go silentPeer(b)
		cli, _ := Opener(a, Config{})
		defer cli.Close()
		cli.open = 100 * time.Millisecond
		if _, err := cli.Open(context.Background()); err != nil {
			t.Fatal(err)
		}
		select {
		case <-cli.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("the link outlived an unacknowledged open")
		}
	})
	t.Run("close", func(t *testing.T) {
		a, b := tcpPair(t)
		cli, _ := Opener(a, Config{})
		defer cli.Close()
		cli.closeT = 100 * time.Millisecond
		s, err := cli.Open(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		// The peer (raw frames, never a FIN back) sees the SYN with the
		// FIN (the stream's first frame; or the SYN alone first, had
		// FlagDelay passed before the Close), then the RST of the close
		// timeout.
		_ = b.SetReadDeadline(time.Now().Add(10 * time.Second))
		var seen []uint16
		for len(seen) == 0 || seen[len(seen)-1] != flagRST {
			var h header
			if _, err := io.ReadFull(b, h[:]); err != nil {
				t.Fatalf("after frames with flags %v: %v", seen, err)
			}
			if h.typ() == typeWindowUpdate && h.streamID() == 1 {
				seen = append(seen, h.flags())
			}
			if len(seen) > 3 {
				t.Fatalf("frames with flags %v, want SYN, FIN, RST", seen)
			}
		}
		if !slices.Equal(seen, []uint16{flagSYN | flagFIN, flagRST}) && !slices.Equal(seen, []uint16{flagSYN, flagFIN, flagRST}) {
			t.Fatalf("frames with flags %v, want SYN|FIN (or SYN, FIN), RST", seen)
		}
		if n := cli.NumStreams(); n != 0 {
			t.Fatalf("%d streams left in the session", n)
		}
	})
}

// Bytes sent to a stream this side closed reset it, so the peer's writer
// stops instead of waiting for a window that never reopens.
func TestWriteToAClosedStreamIsReset(t *testing.T) {
	a, b := tcpPair(t)
	cli, _ := Opener(a, Config{})
	defer cli.Close()
	_, accept := upstream(t, b, false)
	s, err := cli.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r, err := accept()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	lent := bufpool.Lent()
	s.Close()
	buf := make([]byte, 64<<10)
	var werr error
	for i := 0; i < 1024 && werr == nil; i++ { // 64 MiB at most; the window is 1 MiB
		_, werr = r.Write(buf)
	}
	if !errors.Is(werr, yamux.ErrConnectionReset) && !errors.Is(werr, yamux.ErrStreamClosed) {
		t.Fatalf("the peer's writes to a closed stream: %v, want a reset", werr)
	}
	if n := bufpool.Lent() - lent; n != 0 {
		t.Errorf("%d buffers held for a closed stream", n)
	}
}

// A frame with a bad version, an unknown type or more bytes than the
// window ends the session (with a go-away), never a panic.
func TestProtocolErrors(t *testing.T) {
	cases := map[string][]byte{
		"version":  {1, typeData, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0},
		"type":     {0, 9, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0},
		"window":   append([]byte{0, typeData, 0, flagSYN, 0, 0, 0, 3, 0, 0x10, 0, 0}, make([]byte, 1<<20)...),
		"dup-open": {0, typeWindowUpdate, 0, flagSYN, 0, 0, 0, 3, 0, 0, 0, 0, 0, typeWindowUpdate, 0, flagSYN, 0, 0, 0, 3, 0, 0, 0, 0},
		// Ids of this side's parity (even: an acceptor's) or 0: a stream
		// this side opens later would take the peer's place.
		"own-id":  {0, typeWindowUpdate, 0, flagSYN, 0, 0, 0, 2, 0, 0, 0, 0},
		"zero-id": {0, typeWindowUpdate, 0, flagSYN, 0, 0, 0, 0, 0, 0, 0, 0},
		// A window beyond a uint32 (the initial one and 4 GiB more).
		"window-overflow": {0, typeWindowUpdate, 0, flagSYN, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff},
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			a, b := tcpPair(t)
			srv, _ := Acceptor(b, Config{})
			defer srv.Close()
			go silentPeer(a)
			// The session may end, and reset the connection, before all
			// of a long case ("window": 1 MiB) is written: that is the
			// outcome under test, not a failure of the write.
			if _, err := a.Write(in); err != nil && !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
				t.Fatal(err)
			}
			select {
			case <-srv.Done():
			case <-time.After(10 * time.Second):
				t.Fatal("the session survived a protocol error")
			}
		})
	}
}

// A tunnel's frames read with tunnelproto.Conn.RecvFunc over a stream are
// the stream's own chunks (borrowed, no copy): 6 MiB of frames of every
// size arrive intact and in order, then the EOF frame; use's error comes
// back as it is; nothing stays lent.
func TestRecvFuncBorrows(t *testing.T) {
	a, b := tlsPair(t, nil)
	cli, _ := Opener(a, Config{})
	defer cli.Close()
	srv, _ := Acceptor(b, Config{})
	defer srv.Close()
	lent := bufpool.Lent()
	s, err := cli.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	msg := make([]byte, 6<<20)
	rand.Read(msg)
	go func() {
		w := tunnelproto.NewConn(s)
		for off, i := 0, 0; off < len(msg); i++ {
			n := min([]int{1, 100, 64 << 10, bufpool.BigChunk, 5000}[i%5], len(msg)-off)
			if err := w.SendData(append(make([]byte, tunnelproto.HeaderLen), msg[off:off+n]...)); err != nil {
				return
			}
			off += n
		}
		_ = w.SendEOF()
	}()
	r, err := srv.Accept()
	if err != nil {
		t.Fatal(err)
	}
	st := r.(*Stream)
	c := tunnelproto.NewConn(r)
	noGet := func(int) []byte { t.Error("RecvFunc asked for a buffer from a lending stream"); return make([]byte, 1) }
	var got []byte
	for i := 0; ; i++ {
		if i > len(msg) {
			t.Fatal("RecvFunc never reached the EOF frame")
		}
		err := c.RecvFunc(noGet, func(p []byte) error {
			st.mu.Lock()
			inPlace := st.lent
			st.mu.Unlock()
			if !inPlace {
				t.Error("use was called without a borrow")
			}
			got = append(got, p...)
			return nil
		})
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("%d bytes arrived, differing from the %d sent", len(got), len(msg))
	}
	if n := bufpool.Lent() - lent; n != 0 {
		t.Errorf("%d buffers still lent", n)
	}
}

// A peer that floods pings while not reading the answers gets at most
// maxAsync writers waiting: the receive loop goes on reading, and the
// rest are dropped.
func TestPingFloodIsBounded(t *testing.T) {
	a, b := tcpPair(t)
	_ = a.(*net.TCPConn).SetWriteBuffer(4 << 10)
	_ = b.(*net.TCPConn).SetReadBuffer(4 << 10)
	srv, _ := Acceptor(a, Config{KeepAliveInterval: time.Hour})
	defer srv.Close()
	before := runtime.NumGoroutine()
	var flood []byte
	for i := range 20000 {
		flood = append(flood, frame(typePing, flagSYN, 0, uint32(i), nil)...)
	}
	// b never reads: the answers fill the socket, then wait.
	if _, err := b.Write(flood); err != nil {
		t.Fatal(err)
	}
	// The receive loop read all of it: a frame after the flood is seen.
	arrived := make(chan struct{}, 1)
	hook := func(*Stream) { notify(arrived) }
	testHookData.Store(&hook)
	defer testHookData.Store(nil)
	if _, err := b.Write(append(frame(typeWindowUpdate, flagSYN, 1, 0, nil), frame(typeData, 0, 1, 1, []byte("x"))...)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the receive loop stopped behind the ping answers")
	}
	if n := runtime.NumGoroutine() - before; n > maxAsync+16 {
		t.Fatalf("%d more goroutines after the flood, want at most %d answers waiting", n, maxAsync)
	}
}

// syncWith has the raw peer c send a ping and read until its answer: the
// session handled every frame c sent before.
func syncWith(t *testing.T, c net.Conn, id uint32) {
	t.Helper()
	if _, err := c.Write(frame(typePing, flagSYN, 0, id, nil)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	for {
		var h header
		if _, err := io.ReadFull(c, h[:]); err != nil {
			t.Fatal(err)
		}
		if h.typ() == typeData {
			if _, err := io.CopyN(io.Discard, c, int64(h.length())); err != nil {
				t.Fatal(err)
			}
		}
		if h.typ() == typePing && h.flags()&flagACK != 0 && h.length() == id {
			return
		}
	}
}

// A data frame that also carries the peer's RST, or its FIN after this
// side closed, ends the stream: it leaves the session (a peer repeating
// it must not grow the session's table of streams).
func TestFlagsOnDiscardedDataEndTheStream(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flags uint16
		close bool
	}{{"rst", flagRST, false}, {"rst-after-close", flagRST, true}, {"fin-after-close", flagFIN, true}} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := tcpPair(t)
			cli, _ := Opener(a, Config{KeepAliveInterval: time.Hour})
			defer cli.Close()
			s, err := cli.Open(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := b.Write(frame(typeWindowUpdate, flagACK, 1, 0, nil)); err != nil {
				t.Fatal(err)
			}
			syncWith(t, b, 1)
			if tc.close {
				s.Close()
			}
			if _, err := b.Write(frame(typeData, tc.flags, 1, 3, []byte("abc"))); err != nil {
				t.Fatal(err)
			}
			syncWith(t, b, 2)
			if n := cli.NumStreams(); n != 0 {
				t.Fatalf("%d streams left in the session", n)
			}
		})
	}
}

// Misuse of a borrow fails and changes nothing: a Read while it is out
// (it could give the lent chunk back to the pool), a Consume of more than
// was lent or of a negative count (either broke the stream's accounting:
// a panic, a loop under its lock, or bytes dropped unread).
func TestBorrowMisuse(t *testing.T) {
	a, b := tcpPair(t)
	cli, _ := Opener(a, Config{})
	defer cli.Close()
	srv, _ := Acceptor(b, Config{})
	defer srv.Close()
	s, err := cli.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write([]byte("abcdef")); err != nil {
		t.Fatal(err)
	}
	r, err := srv.Accept()
	if err != nil {
		t.Fatal(err)
	}
	st := r.(*Stream)
	p, err := st.Borrow(2)
	if err != nil || string(p) != "ab" {
		t.Fatalf("Borrow: %q, %v", p, err)
	}
	if n, err := st.Read(make([]byte, 10)); err == nil {
		t.Fatalf("Read during a borrow read %d bytes", n)
	}
	for _, n := range []int{-1, 3, 6, 7} {
		if err := st.Consume(n); err == nil {
			t.Fatalf("Consume(%d) of a 2-byte borrow succeeded", n)
		}
	}
	if err := st.Consume(2); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	n, err := st.Read(buf)
	if err != nil || string(buf[:n]) != "cdef" {
		t.Fatalf("Read after the borrow: %q, %v; want \"cdef\"", buf[:n], err)
	}
}

// A stream this side refuses with Reset leaves the session at once (a
// Close would keep it until the peer's FIN or the close timeout), and
// the peer's stream ends with a reset.
func TestResetLeavesTheSessionAtOnce(t *testing.T) {
	a, b := tcpPair(t)
	srv, _ := Acceptor(a, Config{})
	defer srv.Close()
	open, _ := upstream(t, b, true)
	for i := 0; i < 50; i++ { // a peer opening streams in a loop
		p, err := open(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		s, err := srv.Accept()
		if err != nil {
			t.Fatal(err)
		}
		if err := s.(*Stream).Reset(); err != nil {
			t.Fatal(err)
		}
		if n := srv.NumStreams(); n != 0 {
			t.Fatalf("stream %d: %d streams left in the session after Reset", i, n)
		}
		_ = p.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := p.Read(make([]byte, 1)); !errors.Is(err, yamux.ErrConnectionReset) {
			t.Fatalf("stream %d: the peer's read after Reset: %v, want a reset", i, err)
		}
	}
}

// A stream the peer opened and reset before this side accepted it owes
// the peer no ACK: Accept arms no timer that would later send one for a
// stream gone from both sides (a peer opening and resetting streams in a
// loop must not get a frame back for each).
func TestAcceptOfAResetStreamOwesNoACK(t *testing.T) {
	a, b := tcpPair(t)
	srv, _ := Acceptor(a, Config{KeepAliveInterval: time.Hour})
	defer srv.Close()
	if _, err := b.Write(append(frame(typeWindowUpdate, flagSYN, 1, 0, nil), frame(typeWindowUpdate, flagRST, 1, 0, nil)...)); err != nil {
		t.Fatal(err)
	}
	syncWith(t, b, 1)
	s, err := srv.Accept()
	if err != nil {
		t.Fatal(err)
	}
	st := s.(*Stream)
	st.mu.Lock()
	pend, armed := st.pend, st.openTimer != nil
	st.mu.Unlock()
	if pend != 0 || armed {
		t.Fatalf("accepted reset stream: pending flags %#x, timer armed %v; want none", pend, armed)
	}
}
