package client

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"
)

// APIClient is an HTTP client for the AWS SDK (aws.HTTPClient) that
// carries open-tunnel's look-up calls over one kept-alive TLS connection
// of its own and then gives that connection to its Dialer for the tunnel
// (HandOff): Postern serves the API and the endpoints' dnsName on one
// listener, so the tunnel's upgrade goes over the connection the look-up
// used, with no second TCP connect and TLS handshake on the client or
// the server. net/http's Transport never hands out its connections, so
// this sends each request with net/http's own Request.Write and reads
// the answer with http.ReadResponse, one request at a time.
//
// The connection is made and verified as a tunnel's (Dialer.dialTLS with
// the Dialer's TLS settings for the URL's host name: the same roots as
// the SDK's client when the Dialer's TLS is the SDK's). A request it does
// not carry goes to Fallback: not https, one a proxy is set for, one with
// a body of unknown or large size, one made while another is in flight,
// and every request after HandOff or Close.
//
// A request that fails on a kept connection before any byte of its
// answer came (the server closed it meanwhile) is sent once more on a new
// connection, so it must be one that may be sent twice: the look-up's
// calls are reads.
type APIClient struct {
	// Dialer makes the connections and takes the last one (HandOff).
	Dialer *Dialer
	// Fallback carries the requests APIClient does not (the SDK's own
	// HTTP client).
	Fallback interface {
		Do(*http.Request) (*http.Response, error)
	}
	// Proxy, when set, is Fallback's proxy choice
	// (http.ProxyFromEnvironment): a request it names a proxy for goes
	// to Fallback.
	Proxy func(*http.Request) (*url.URL, error)
	// ConnectTimeout bounds a connection's connect and TLS handshake,
	// ReadTimeout the wait for an answer's header; 0: no bound (as the
	// SDK client's dial and response-header timeouts).
	ConnectTimeout, ReadTimeout time.Duration

	mu   sync.Mutex
	idle *apiConn // the kept connection between two requests
	busy bool     // a request is in flight (its answer not read to its end)
	done bool     // HandOff or Close: Fallback carries everything
}

// apiConn is APIClient's connection.
type apiConn struct {
	tc   *tls.Conn
	br   *bufio.Reader
	key  spareKey  // the URL's host name and dial address
	read int64     // bytes read from tc so far
	used time.Time // when its last answer was read
	// headerEnd, while an answer's header is read, is the count of read
	// past which the header is too large (0: no bound).
	headerEnd int64
}

// maxAPIHeader bounds an answer's header (with its informational answers
// before it), as net/http's Transport bounds MaxResponseHeaderBytes by
// default: a server that sends header lines without end fails the call
// instead of growing the client's memory.
const maxAPIHeader = 10 << 20

// errHeaderTooLarge is the error of an answer whose header passed
// maxAPIHeader.
var errHeaderTooLarge = errors.New("the server's answer header is larger than 10 MiB")

// Read reads from the TLS connection, counting what it read (a failed
// request that read nothing of its answer may be sent again).
func (c *apiConn) Read(p []byte) (int, error) {
	if c.headerEnd > 0 {
		if c.read >= c.headerEnd {
			return 0, errHeaderTooLarge
		}
		p = p[:min(int64(len(p)), c.headerEnd-c.read)]
	}
	n, err := c.tc.Read(p)
	c.read += int64(n)
	return n, err
}

// maxAPIBody bounds the request bodies APIClient carries: it keeps the
// body to send it again (the look-up's bodies are a few hundred bytes).
const maxAPIBody = 64 << 10

// Do sends req and returns its answer; the answer's body must be read to
// its end or closed before the connection carries another request.
func (c *APIClient) Do(req *http.Request) (*http.Response, error) {
	if !c.carries(req) {
		return c.Fallback.Do(req)
	}
	c.mu.Lock()
	if c.busy || c.done {
		c.mu.Unlock()
		return c.Fallback.Do(req)
	}
	c.busy = true
	ac := c.idle
	c.idle = nil
	c.mu.Unlock()
	resp, err := c.roundTrip(req, ac)
	if err != nil {
		c.release(nil)
		return nil, &url.Error{Op: urlOp(req.Method), URL: req.URL.String(), Err: err}
	}
	return resp, nil
}

// carries tells whether req is one for APIClient's own connection.
func (c *APIClient) carries(req *http.Request) bool {
	if req.URL == nil || req.URL.Scheme != "https" || c.Dialer == nil || c.Dialer.NetDial != nil {
		return false
	}
	if req.Body != nil && req.Body != http.NoBody && (req.ContentLength < 0 || req.ContentLength > maxAPIBody) {
		return false
	}
	if c.Proxy != nil {
		if u, err := c.Proxy(req); err != nil || u != nil {
			return false
		}
	}
	return true
}

// urlOp is net/http's word for a method in a *url.Error ("Post").
func urlOp(method string) string {
	if method == "" {
		return "Get"
	}
	return method[:1] + strings.ToLower(method[1:])
}

// roundTrip sends req on ac (when it is still open and for req's host)
// or on a new connection.
func (c *APIClient) roundTrip(req *http.Request, ac *apiConn) (*http.Response, error) {
	ctx := req.Context()
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		var err error
		body, err = io.ReadAll(io.LimitReader(req.Body, maxAPIBody+1))
		req.Body.Close()
		if err == nil && int64(len(body)) != req.ContentLength {
			err = fmt.Errorf("request body of %d bytes, want %d", len(body), req.ContentLength)
		}
		if err != nil {
			if ac != nil {
				_ = ac.tc.Close()
			}
			return nil, err
		}
	}
	_, sni, addr := HostPort(req.URL.Host)
	key := spareKey{sni, addr}
	if ac != nil && (ac.key != key || ac.br.Buffered() > 0 || !spareAlive(ac.tc)) {
		_ = ac.tc.Close()
		ac = nil
	}
	for reused := ac != nil; ; reused = false {
		if ac == nil {
			var err error
			if ac, err = c.dial(ctx, key); err != nil {
				return nil, err
			}
		}
		before := ac.read
		resp, err := c.exchange(ctx, ac, req, body)
		if err == nil {
			return resp, nil
		}
		_ = ac.tc.Close()
		if !reused || ac.read != before || ctx.Err() != nil || !connGone(err) {
			return nil, err
		}
		ac = nil // the server closed the kept connection: once more on a new one
	}
}

// connGone tells whether err is a connection the peer closed or reset.
func connGone(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// dial makes a verified TLS connection for key within ConnectTimeout.
func (c *APIClient) dial(ctx context.Context, key spareKey) (*apiConn, error) {
	if c.ConnectTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.ConnectTimeout)
		defer cancel()
	}
	// Gated, as a spare's: HandOff's connection is then probed as one
	// when the tunnel takes it (spareAlive).
	conn, err := c.Dialer.dialTLS(ctx, "tcp", key.addr, c.Dialer.tlsConfigs(key), true)
	if err != nil {
		return nil, err
	}
	ac := &apiConn{tc: conn.(*tls.Conn), key: key}
	ac.br = bufio.NewReader(ac)
	return ac, nil
}

// exchange writes req (with body) on ac and reads its answer's header; the
// answer's body is read from ac until its end (apiBody).
func (c *APIClient) exchange(ctx context.Context, ac *apiConn, req *http.Request, body []byte) (*http.Response, error) {
	// ctx's end ends the connection's I/O at once; the answer's body keeps
	// the watch until it is read (apiBody.finish).
	_ = ac.tc.SetDeadline(time.Time{})
	if dl, ok := ctx.Deadline(); ok {
		_ = ac.tc.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = ac.tc.SetDeadline(aLongTimeAgo) })
	fail := func(err error) (*http.Response, error) {
		stop()
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr
		}
		return nil, err
	}
	out := *req
	out.Body, out.ContentLength = nil, int64(len(body))
	if body != nil {
		out.Body = io.NopCloser(bytes.NewReader(body))
	}
	if err := out.Write(ac.tc); err != nil {
		return fail(err)
	}
	if c.ReadTimeout > 0 {
		at := time.Now().Add(c.ReadTimeout)
		if dl, ok := ctx.Deadline(); !ok || at.Before(dl) {
			_ = ac.tc.SetReadDeadline(at)
		}
	}
	ac.headerEnd = ac.read + int64(ac.br.Buffered()) + maxAPIHeader
	resp, err := http.ReadResponse(ac.br, req)
	// Informational answers (100 Continue, 103 Early Hints: a proxy may
	// send them unasked) come before the final one on the same
	// connection: skipped, as net/http's Transport does (up to 5), rather
	// than failing the call (the SDK then sent it again on a new one).
	for n := 0; err == nil && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols && n < 5; n++ {
		resp, err = http.ReadResponse(ac.br, req)
	}
	ac.headerEnd = 0
	if err != nil {
		return fail(err)
	}
	if resp.StatusCode < 200 {
		resp.Body.Close()
		return fail(fmt.Errorf("unexpected answer %q", resp.Status))
	}
	// The header came in time; the body is bounded by ctx alone, as
	// net/http's ResponseHeaderTimeout.
	_ = ac.tc.SetReadDeadline(time.Time{})
	if dl, ok := ctx.Deadline(); ok {
		_ = ac.tc.SetReadDeadline(dl)
	}
	if !stop() {
		return fail(ctx.Err())
	}
	stop = context.AfterFunc(ctx, func() { _ = ac.tc.SetDeadline(aLongTimeAgo) })
	resp.Body = &apiBody{c: c, ac: ac, rc: resp.Body, keep: !resp.Close && !req.Close, stop: stop}
	return resp, nil
}

// apiBody is an answer's body: read to its end, its connection is kept
// for the next request; closed before that, it is closed.
type apiBody struct {
	c    *APIClient
	ac   *apiConn
	rc   io.ReadCloser
	keep bool // the answer leaves the connection open
	stop func() bool

	once sync.Once
}

// Read reads the body; at its end the connection is kept (finish).
func (b *apiBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil {
		b.finish(err == io.EOF)
	}
	return n, err
}

// Close ends the body: what is left of a short one is read first (the
// SDK's decoders may stop before the body's end), so that its
// connection can be kept.
func (b *apiBody) Close() error {
	n, err := io.Copy(io.Discard, io.LimitReader(b.rc, 4<<10))
	b.finish(err == nil && n < 4<<10)
	return nil
}

// finish gives the connection back to its client (atEnd: the body was
// read to its end), or closes it.
func (b *apiBody) finish(atEnd bool) {
	b.once.Do(func() {
		stopped := b.stop()
		ac := b.ac
		if !atEnd || !b.keep || !stopped || ac.br.Buffered() > 0 {
			// Closed first: net/http's body reads what is left on Close.
			_ = ac.tc.Close()
			ac = nil
		} else {
			_ = ac.tc.SetDeadline(time.Time{})
			ac.used = time.Now()
		}
		_ = b.rc.Close()
		b.c.release(ac)
	})
}

// release ends a request: ac (nil: none) is the connection to keep.
func (c *APIClient) release(ac *apiConn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.busy = false
	if c.done {
		if ac != nil {
			_ = ac.tc.Close()
		}
		return
	}
	c.idle = ac
}

// HandOff ends the client's own use of its connection: a kept one that is
// still open goes to the Dialer for the next tunnel, as a connection made
// ready at an address resolved already: the tunnel takes
// it for its dnsName when that is the connection's own name and address,
// or another name the connection's certificate is valid for that
// resolves to the very address it reached (sameServer); otherwise it is
// closed. Requests after HandOff go to Fallback.
func (c *APIClient) HandOff() {
	c.mu.Lock()
	ac := c.idle
	c.idle, c.done = nil, true
	c.mu.Unlock()
	if ac == nil {
		return
	}
	if ac.br.Buffered() > 0 || !spareAlive(ac.tc) {
		_ = ac.tc.Close()
		return
	}
	c.Dialer.adopt(ac.tc, ac.key, ac.used)
}

// Close closes the client's connection; requests after it go to
// Fallback.
func (c *APIClient) Close() {
	c.mu.Lock()
	ac := c.idle
	c.idle, c.done = nil, true
	c.mu.Unlock()
	if ac != nil {
		_ = ac.tc.Close()
	}
}

// adopt takes conn, made and verified for key's name at key's address
// (an APIClient's), as a spare made at a resolved address.
func (d *Dialer) adopt(conn *tls.Conn, key spareKey, made time.Time) {
	p := d.pool()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		_ = conn.Close()
		return
	}
	s := &spareConn{key: key, ready: make(chan struct{}), conn: conn, made: made, resolved: true}
	close(s.ready)
	s.timer = time.AfterFunc(p.ttl, func() { d.expire(p, s) })
	p.list = append(p.list, s)
}
