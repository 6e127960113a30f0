package wsbench

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// Sizes of the AWS CLI workload (docs/aws-compat.md §1.3, §7).
const (
	clientFrame = 65000    // largest payload the AWS CLI puts in one frame
	serverChunk = 64 << 10 // bytes the server reads from the agent per read, one frame each
	headroom    = 10       // largest unmasked server frame header (64-bit length)
	copyBufSize = 32 << 10 // buffer used to stream a client frame into the sink
)

// chunkPool holds server→client buffers with headroom for the frame header,
// so that header and payload go out in one Write without copying the payload.
var chunkPool = sync.Pool{New: func() any {
	b := make([]byte, headroom+serverChunk)
	return &b
}}

// copyPool holds the buffers that carry a client frame's payload from the
// TLS connection into the sink. They are taken per frame, so an idle tunnel
// holds none.
var copyPool = sync.Pool{New: func() any {
	b := make([]byte, copyBufSize)
	return &b
}}

// tunnel is what the front door connects a WebSocket to: src stands for the
// agent-side stream (agent → client), sink for the other direction.
type tunnel struct {
	src  io.Reader // io.EOF: the server sends CLOSE 1000 "eof"
	sink io.Writer
	done func() // called once both directions have stopped
}

// waitReader is an optional interface of a tunnel source: WaitRead blocks
// until Read would not block. The pump calls it before taking a buffer from
// chunkPool, so an idle tunnel does not hold a 64 KiB buffer.
type waitReader interface {
	WaitRead() error
}

// serveFunc upgrades the request with one library and runs the tunnel until
// it ends.
type serveFunc func(w http.ResponseWriter, r *http.Request, t tunnel)

// writerOnly hides io.ReaderFrom so that copies behave as they would into a
// TLS connection to an agent.
type writerOnly struct{ io.Writer }

func closeSource(src io.Reader) {
	if c, ok := src.(io.Closer); ok {
		_ = c.Close()
	}
}

// blockingSource never yields data; Close makes Read return io.EOF.
type blockingSource struct {
	once sync.Once
	ch   chan struct{}
}

func newBlockingSource() *blockingSource { return &blockingSource{ch: make(chan struct{})} }

func (s *blockingSource) WaitRead() error { <-s.ch; return nil }
func (s *blockingSource) Read([]byte) (int, error) {
	<-s.ch
	return 0, io.EOF
}
func (s *blockingSource) Close() error { s.once.Do(func() { close(s.ch) }); return nil }

// countSource yields n reads of len(p) bytes (contents left as they are) and
// then io.EOF.
type countSource struct{ n int }

func (s *countSource) Read(p []byte) (int, error) {
	if s.n <= 0 {
		return 0, io.EOF
	}
	s.n--
	return len(p), nil
}

// chanSource yields queued chunks, then blocks until finish (io.EOF) or
// Close. onIdle is called the first time it blocks with nothing queued.
type chanSource struct {
	mu     sync.Mutex
	queue  [][]byte
	onIdle func()
	fin    chan struct{}
	once   sync.Once
}

func newChanSource(onIdle func(), chunks ...[]byte) *chanSource {
	return &chanSource{queue: chunks, onIdle: onIdle, fin: make(chan struct{})}
}

func (s *chanSource) finish()      { s.once.Do(func() { close(s.fin) }) }
func (s *chanSource) Close() error { s.finish(); return nil }

func (s *chanSource) WaitRead() error {
	s.mu.Lock()
	empty := len(s.queue) == 0
	idle := s.onIdle
	if empty {
		s.onIdle = nil
	}
	s.mu.Unlock()
	if !empty {
		return nil
	}
	if idle != nil {
		idle()
	}
	<-s.fin
	return nil
}

func (s *chanSource) Read(p []byte) (int, error) {
	s.mu.Lock()
	if len(s.queue) > 0 {
		n := copy(p, s.queue[0])
		s.queue[0] = s.queue[0][n:]
		if len(s.queue[0]) == 0 {
			s.queue[0] = nil // do not keep the chunk alive
			s.queue = s.queue[1:]
			if len(s.queue) == 0 {
				s.queue = nil
			}
		}
		s.mu.Unlock()
		return n, nil
	}
	s.mu.Unlock()
	<-s.fin
	return 0, io.EOF
}

// signalSink counts bytes and calls onTotal once when want bytes arrived.
type signalSink struct {
	mu      sync.Mutex
	n, want int
	onTotal func()
}

func (s *signalSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	s.n += len(p)
	var f func()
	if s.n >= s.want && s.onTotal != nil {
		f, s.onTotal = s.onTotal, nil
	}
	s.mu.Unlock()
	if f != nil {
		f()
	}
	return len(p), nil
}

// putServerHeader writes an unmasked FIN frame header for an n-byte payload
// that starts at buf[headroom] and returns the whole frame.
func putServerHeader(buf []byte, op ws.OpCode, n int) []byte {
	var start int
	switch {
	case n < 126:
		start = headroom - 2
		buf[start+1] = byte(n)
	case n <= 0xffff:
		start = headroom - 4
		buf[start+1] = 126
		binary.BigEndian.PutUint16(buf[start+2:], uint16(n))
	default:
		start = headroom - 10
		buf[start+1] = 127
		binary.BigEndian.PutUint64(buf[start+2:], uint64(n))
	}
	buf[start] = 0x80 | byte(op)
	return buf[start : headroom+n]
}

// --- TLS material ---

var (
	certOnce sync.Once
	certTLS  tls.Certificate
	certPEM  []byte
	certErr  error
)

func testCert(tb testing.TB) (tls.Certificate, []byte) {
	tb.Helper()
	certOnce.Do(func() {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			certErr = err
			return
		}
		tmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(1),
			Subject:               pkix.Name{CommonName: "wsbench"},
			NotBefore:             time.Now().Add(-time.Hour),
			NotAfter:              time.Now().Add(24 * time.Hour),
			KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
			ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			BasicConstraintsValid: true,
			IsCA:                  true,
			DNSNames:              []string{"localhost"},
			IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			certErr = err
			return
		}
		certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
		certTLS = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	})
	if certErr != nil {
		tb.Fatal(certErr)
	}
	return certTLS, certPEM
}

func clientTLSConfig(caPEM []byte) (*tls.Config, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("bad CA PEM")
	}
	return &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS13}, nil
}

// --- server ---

// startServer serves /openTunnel over TLS 1.3 on 127.0.0.1 with serve,
// asking newTunnel for the two ends of each tunnel. It returns the address.
func startServer(tb testing.TB, serve serveFunc, newTunnel func(r *http.Request) tunnel) string {
	tb.Helper()
	return startServerTLS(tb, true, serve, newTunnel)
}

// startServerTLS is startServer, over plain TCP if useTLS is false.
func startServerTLS(tb testing.TB, useTLS bool, serve serveFunc, newTunnel func(r *http.Request) tunnel) string {
	tb.Helper()
	cert, _ := testCert(tb)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /openTunnel", func(w http.ResponseWriter, r *http.Request) {
		serve(w, r, newTunnel(r))
	})
	srv := &http.Server{
		Handler:  mux,
		ErrorLog: log.New(io.Discard, "", 0),
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{cert},
			MinVersion:   tls.VersionTLS13,
			NextProtos:   []string{"http/1.1"},
		},
	}
	sl := ln
	if useTLS {
		sl = tls.NewListener(ln, srv.TLSConfig)
	}
	go func() { _ = srv.Serve(sl) }()
	tb.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// --- raw client (what the AWS CLI sends) ---

type rawClient struct {
	conn net.Conn
	br   *bufio.Reader
	hb   []byte // header read buffer
	mask [4]byte
}

// dialTLS dials addr with TLS, or plain TCP if cfg is nil.
func dialTLS(addr string, cfg *tls.Config) (net.Conn, error) {
	if cfg == nil {
		return net.Dial("tcp", addr)
	}
	return tls.Dial("tcp", addr, cfg)
}

func newRawClient(conn net.Conn, readBuf int) *rawClient {
	c := &rawClient{conn: conn, br: bufio.NewReaderSize(conn, readBuf), hb: make([]byte, 2, ws.MaxHeaderSize-2)}
	c.mask = ws.NewMask()
	return c
}

func acceptKey(key string) string {
	h := sha1.New()
	h.Write([]byte(key))
	h.Write([]byte("258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// upgrade sends the AWS CLI's upgrade request for query and checks the 101.
func (c *rawClient) upgrade(query string) error {
	var k [16]byte
	_, _ = rand.Read(k[:])
	key := base64.StdEncoding.EncodeToString(k[:])
	req := "GET /openTunnel?" + query + " HTTP/1.1\r\n" +
		"Host: localhost\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\n" +
		"Sec-WebSocket-Version: 13\r\n" +
		"User-Agent: aws-cli/2.13.39 Python/3.11.2 Linux/6.1 source/x86_64.debian.12 prompt/off command/ec2-instance-connect.open-tunnel\r\n\r\n"
	if _, err := io.WriteString(c.conn, req); err != nil {
		return err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return fmt.Errorf("upgrade: status %s", resp.Status)
	}
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != acceptKey(key) {
		return fmt.Errorf("upgrade: bad Sec-WebSocket-Accept %q", got)
	}
	if ext := resp.Header.Get("Sec-WebSocket-Extensions"); ext != "" {
		return fmt.Errorf("upgrade: server negotiated extensions %q", ext)
	}
	return nil
}

// maskedFrame builds a complete masked client frame.
func maskedFrame(op ws.OpCode, payload []byte, mask [4]byte) []byte {
	h := ws.Header{Fin: true, OpCode: op, Masked: true, Mask: mask, Length: int64(len(payload))}
	var b bytesWriter
	_ = ws.WriteHeader(&b, h)
	start := len(b.b)
	b.b = append(b.b, payload...)
	ws.Cipher(b.b[start:], mask, 0)
	return b.b
}

type bytesWriter struct{ b []byte }

func (w *bytesWriter) Write(p []byte) (int, error) { w.b = append(w.b, p...); return len(p), nil }

func (c *rawClient) writeFrame(op ws.OpCode, payload []byte) error {
	_, err := c.conn.Write(maskedFrame(op, payload, c.mask))
	return err
}

// readHeader reads a server frame header and checks the server did not mask.
func (c *rawClient) readHeader() (ws.Header, error) {
	h, err := ws.ReadHeaderBuffer(c.br, c.hb)
	if err != nil {
		return h, err
	}
	if h.Masked {
		return h, errors.New("server frame is masked")
	}
	if !h.Fin || h.Rsv != 0 {
		return h, fmt.Errorf("unexpected server frame header %+v", h)
	}
	return h, nil
}

// readFrame reads one whole server frame.
func (c *rawClient) readFrame() (ws.Header, []byte, error) {
	h, err := c.readHeader()
	if err != nil {
		return h, nil, err
	}
	p := make([]byte, h.Length)
	_, err = io.ReadFull(c.br, p)
	return h, p, err
}

// closeHandshake sends CLOSE 1000 and reads until the server's CLOSE,
// discarding data frames. It returns the data bytes discarded.
func (c *rawClient) closeHandshake() (int64, error) {
	if err := c.writeFrame(ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, "")); err != nil {
		return 0, err
	}
	var n int64
	for {
		h, err := c.readHeader()
		if err != nil {
			return n, err
		}
		if h.OpCode == ws.OpClose {
			_, err = c.br.Discard(int(h.Length))
			return n, err
		}
		d, err := c.br.Discard(int(h.Length))
		n += int64(d)
		if err != nil {
			return n, err
		}
	}
}
