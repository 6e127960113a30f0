// Package httpedge guards the server's HTTP listener against clients that
// hold connections without using them: it caps, per source address, the
// connections that have not yet made an authenticated request, it bounds
// the time to read a request's body and to write its response, and it
// keeps net/http's per-connection log lines about failed TLS handshakes
// from flooding the log (ErrorLogHandler). Merge serves several listening
// addresses as one listener. The other bounds (the TLS
// handshake, request headers, idle keep-alive connections) are net/http's
// own timeouts, which the server sets.
//
// A connection counts against its source from the moment it is accepted
// until a handler calls Trust with the request's context (after the
// request authenticated, or before the connection is upgraded to a tunnel
// or an agent link whose checks passed) or until it closes.
package httpedge

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/postern/postern/internal/util/netutil"
)

// Config configures a Limiter.
type Config struct {
	// Max is how many untrusted connections one source may hold; a
	// connection accepted beyond it is closed at once. Below 1: no limit.
	Max int
	// Logger receives refusals, at most one line per LogEvery.
	Logger *slog.Logger
	// LogEvery is the least time between two log lines about refusals
	// (default one minute), so that a flood cannot fill the logs.
	LogEvery time.Duration
	// Refused, when set, is called for every refused connection (a
	// metric).
	Refused func()
}

// Limiter counts untrusted connections per source.
type Limiter struct {
	cfg Config

	mu   sync.Mutex
	held map[string]int // source → untrusted connections

	logMu      sync.Mutex
	lastLog    time.Time
	suppressed int // refusals since the last line
}

// New returns a Limiter.
func New(cfg Config) *Limiter {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.LogEvery <= 0 {
		cfg.LogEvery = time.Minute
	}
	return &Limiter{cfg: cfg, held: map[string]int{}}
}

// Listener wraps ln: connections over the limit are closed as they are
// accepted, and the others are *Conn, which Trust and Close release.
// Without a limit, ln is returned as it is.
func (l *Limiter) Listener(ln net.Listener) net.Listener {
	if l.cfg.Max < 1 {
		return ln
	}
	return &listener{Listener: ln, l: l}
}

// Untrusted is how many untrusted connections source holds now.
func (l *Limiter) Untrusted(source string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.held[source]
}

func (l *Limiter) take(src string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held[src] >= l.cfg.Max {
		return false
	}
	l.held[src]++
	return true
}

func (l *Limiter) put(src string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := l.held[src]; n > 1 {
		l.held[src] = n - 1
	} else {
		delete(l.held, src)
	}
}

func (l *Limiter) refused(src string) {
	if l.cfg.Refused != nil {
		l.cfg.Refused()
	}
	l.logMu.Lock()
	now := time.Now()
	if !l.lastLog.IsZero() && now.Sub(l.lastLog) < l.cfg.LogEvery {
		l.suppressed++
		l.logMu.Unlock()
		return
	}
	more := l.suppressed
	l.lastLog, l.suppressed = now, 0
	l.logMu.Unlock()
	l.cfg.Logger.Warn("refused a connection: its source holds too many connections that have not authenticated",
		"source", src, "limit", l.cfg.Max, "other_refusals_since_last_line", more)
}

type listener struct {
	net.Listener
	l *Limiter
}

// Accept returns the next connection within its source's limit, closing
// those beyond it.
func (ln *listener) Accept() (net.Conn, error) {
	for {
		c, err := ln.Listener.Accept()
		if err != nil {
			return nil, err
		}
		src := Source(c.RemoteAddr())
		if ln.l.take(src) {
			return &Conn{Conn: c, l: ln.l, src: src}, nil
		}
		// Count and log before closing: the peer sees the close only
		// after the refusal is on record.
		ln.l.refused(src)
		_ = c.Close()
	}
}

// Conn is an accepted connection that counts against its source until
// Trust or Close.
type Conn struct {
	net.Conn
	l        *Limiter
	src      string
	released atomic.Bool
}

// NetConn returns the wrapped connection (as tls.Conn.NetConn does), so
// that what lies beneath can be found.
func (c *Conn) NetConn() net.Conn { return c.Conn }

// Trust removes the connection from its source's count (idempotent).
func (c *Conn) Trust() {
	if c.released.CompareAndSwap(false, true) {
		c.l.put(c.src)
	}
}

// Close closes the connection and removes it from the count.
func (c *Conn) Close() error {
	c.Trust()
	return c.Conn.Close()
}

// Source is the key a connection counts under: its IPv4 address, or the
// /64 network of its IPv6 address (one host's usual allocation).
func Source(addr net.Addr) string {
	var ip net.IP
	switch a := addr.(type) {
	case *net.TCPAddr:
		ip = a.IP
	default:
		host, _, err := net.SplitHostPort(addr.String())
		if err != nil {
			return addr.String()
		}
		if ip = net.ParseIP(host); ip == nil {
			return host
		}
	}
	if v4 := ip.To4(); v4 != nil {
		return v4.String()
	}
	return (&net.IPNet{IP: ip.Mask(net.CIDRMask(64, 128)), Mask: net.CIDRMask(64, 128)}).String()
}

type ctxKey struct{}

// ConnContext is for http.Server.ConnContext: it lets Trust find the
// request's connection (a *Conn, or a connection wrapping one, such as a
// *tls.Conn, through NetConn).
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	if ec := find(c); ec != nil {
		return context.WithValue(ctx, ctxKey{}, ec)
	}
	return ctx
}

// Trust marks the connection of the request whose context is ctx as
// trusted: it no longer counts against its source. Call it once a request
// authenticated, or before upgrading a connection whose checks passed. It
// does nothing for a context without a counted connection.
func Trust(ctx context.Context) {
	if c, _ := ctx.Value(ctxKey{}).(*Conn); c != nil {
		c.Trust()
	}
}

func find(c net.Conn) *Conn {
	x, _ := netutil.Beneath[*Conn](c)
	return x
}
