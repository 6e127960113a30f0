// Package inproc serves the server's own HTTP handler to callers inside
// the server process (the console) over in-memory connections. A call
// made this way passes the same path as a network client's request:
// SigV4 authentication, IAM authorization, the audit trail, the tunnel
// front door. Each connection reports the remote address the caller names
// (the browser's), so records and aws:SourceIp conditions see the person,
// not the server.
//
// The connections carry plain HTTP/1.1: they never leave the process.
// Their requests are marked as received over TLS (r.TLS is set), so
// aws:SecureTransport holds: every caller is the console, which is served
// on the TLS listener only, and acts for a browser connected over TLS.
package inproc

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// ErrClosed is returned by Dial after Close.
var ErrClosed = errors.New("inproc: closed")

// Loop serves one handler on in-memory connections.
type Loop struct {
	srv    *http.Server
	conns  chan net.Conn
	done   chan struct{}
	once   sync.Once
	served chan struct{}
}

// New starts serving h. Close stops it.
func New(h http.Handler, logger *slog.Logger) *Loop {
	l := &Loop{conns: make(chan net.Conn), done: make(chan struct{}), served: make(chan struct{})}
	l.srv = &http.Server{
		Handler:           secure(h),
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	go func() {
		defer close(l.served)
		_ = l.srv.Serve(listener{l})
	}()
	return l
}

// Dial returns the client end of a new connection whose server end
// reports remote as its RemoteAddr.
func (l *Loop) Dial(ctx context.Context, remote netip.AddrPort) (net.Conn, error) {
	c, s := net.Pipe()
	sc := &conn{Conn: s, remote: net.TCPAddrFromAddrPort(remote)}
	select {
	case l.conns <- sc:
		return c, nil
	case <-l.done:
		c.Close()
		s.Close()
		return nil, ErrClosed
	case <-ctx.Done():
		c.Close()
		s.Close()
		return nil, ctx.Err()
	}
}

// Client returns an HTTP client whose requests reach the handler from
// remote. It keeps no idle connections: each request has its own.
func (l *Loop) Client(remote netip.AddrPort) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return l.Dial(ctx, remote)
		},
		DisableKeepAlives: true,
		ForceAttemptHTTP2: false,
	}}
}

// Close stops accepting connections and closes those that are idle;
// running requests (tunnels) end when the server's own shutdown ends them.
func (l *Loop) Close() error {
	l.once.Do(func() { close(l.done) })
	err := l.srv.Close()
	<-l.served
	return err
}

// secure marks each request as received over TLS (see the package doc).
func secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			host := r.Host
			if hh, _, err := net.SplitHostPort(host); err == nil {
				host = hh
			}
			r.TLS = &tls.ConnectionState{HandshakeComplete: true, Version: tls.VersionTLS13, ServerName: host}
		}
		h.ServeHTTP(w, r)
	})
}

type listener struct{ l *Loop }

func (ln listener) Accept() (net.Conn, error) {
	select {
	case c := <-ln.l.conns:
		return c, nil
	case <-ln.l.done:
		return nil, net.ErrClosed
	}
}

func (ln listener) Close() error {
	ln.l.once.Do(func() { close(ln.l.done) })
	return nil
}

func (ln listener) Addr() net.Addr { return pipeAddr{} }

type conn struct {
	net.Conn
	remote net.Addr
}

func (c *conn) RemoteAddr() net.Addr { return c.remote }
func (c *conn) LocalAddr() net.Addr  { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "inproc" }
func (pipeAddr) String() string  { return "inproc" }

// Request is one API call as an AWS SDK sends it: the signing name of
// the service ("ec2", "iam", "sts", "ec2-instance-connect",
// "cloudtrail"), the wire body, its content type, and for JSON protocols
// the X-Amz-Target header.
type Request struct {
	Service     string
	Region      string
	Host        string // the Host header the call is signed for (the server's DNS name)
	ContentType string // default application/x-www-form-urlencoded; charset=utf-8
	Target      string // X-Amz-Target, for JSON services
	Body        []byte
}

// Caller is who makes a call: the credentials it is signed with, and the
// address and user agent the server records.
type Caller struct {
	Credentials aws.Credentials
	Remote      netip.AddrPort
	UserAgent   string
}

// Call signs req with SigV4 as c and sends it to the handler (POST /).
// The response is the API's own: status, headers and body, which the
// caller must close.
func (l *Loop) Call(ctx context.Context, c Caller, req Request) (*http.Response, error) {
	host := req.Host
	if host == "" {
		host = "localhost"
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+host+"/", bytes.NewReader(req.Body))
	if err != nil {
		return nil, fmt.Errorf("inproc: build %s request: %w", req.Service, err)
	}
	ct := req.ContentType
	if ct == "" {
		ct = "application/x-www-form-urlencoded; charset=utf-8"
	}
	hr.Header.Set("Content-Type", ct)
	if req.Target != "" {
		hr.Header.Set("X-Amz-Target", req.Target)
	}
	if c.UserAgent != "" {
		hr.Header.Set("User-Agent", c.UserAgent)
	}
	sum := sha256.Sum256(req.Body)
	if err := v4.NewSigner().SignHTTP(ctx, c.Credentials, hr, hex.EncodeToString(sum[:]), req.Service, req.Region, time.Now()); err != nil {
		return nil, fmt.Errorf("inproc: sign %s request: %w", req.Service, err)
	}
	resp, err := l.Client(c.Remote).Do(hr)
	if err != nil {
		return nil, fmt.Errorf("inproc: %s call: %w", req.Service, err)
	}
	return resp, nil
}
