package httpedge

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestSource(t *testing.T) {
	tests := []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 1}, "192.0.2.7"},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.7"), Port: 1}, "192.0.2.7"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:3:4:5:6"), Port: 1}, "2001:db8:1:2::/64"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:ffff::1"), Port: 2}, "2001:db8:1:2::/64"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:3::1"), Port: 2}, "2001:db8:1:3::/64"},
		{&net.UnixAddr{Name: "@x", Net: "unix"}, "@x"},
	}
	for _, tc := range tests {
		if got := Source(tc.addr); got != tc.want {
			t.Errorf("Source(%v) = %q, want %q", tc.addr, got, tc.want)
		}
	}
}

// harness is a Limiter's listener on loopback and the server side of the
// connections it accepted.
type harness struct {
	t        *testing.T
	l        *Limiter
	ln       net.Listener
	accepted chan net.Conn
}

func start(t *testing.T, cfg Config) *harness {
	t.Helper()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, l: New(cfg), accepted: make(chan net.Conn, 16)}
	h.ln = h.l.Listener(raw)
	t.Cleanup(func() { h.ln.Close() })
	go func() {
		for {
			c, err := h.ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
			h.accepted <- c
		}
	}()
	return h
}

// dial connects and reports whether the server kept the connection: a
// refused one is closed by the server, a kept one is handed to the test.
func (h *harness) dial() (client net.Conn, server net.Conn) {
	h.t.Helper()
	c, err := net.Dial("tcp", h.ln.Addr().String())
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { c.Close() })
	// Either the listener hands the connection over, or it closes it
	// and the client reads the end.
	done := make(chan error, 1)
	go func() {
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Second)) // a hang guard
		_, err := c.Read(make([]byte, 1))
		done <- err
	}()
	select {
	case s := <-h.accepted:
		return c, s
	case err := <-done:
		if errors.Is(err, io.EOF) || isReset(err) {
			return c, nil
		}
		h.t.Fatalf("neither accepted nor refused: %v", err)
	}
	return nil, nil
}

func isReset(err error) bool { return err != nil && strings.Contains(err.Error(), "reset") }

func TestLimiterCountsUntilTrustOrClose(t *testing.T) {
	var refused atomic.Int32
	var logs bytes.Buffer
	// LogEvery far longer than the test, however slow the machine: the
	// one-line count below does not depend on how long the test takes.
	h := start(t, Config{Max: 2, Logger: slog.New(slog.NewTextHandler(&logs, nil)), Refused: func() { refused.Add(1) }, LogEvery: time.Hour})
	_, s1 := h.dial()
	_, s2 := h.dial()
	if s1 == nil || s2 == nil {
		t.Fatal("a connection within the limit was refused")
	}
	if _, s := h.dial(); s != nil {
		t.Fatal("a third connection was accepted")
	}
	if got := h.l.Untrusted("127.0.0.1"); got != 2 {
		t.Fatalf("Untrusted = %d, want 2", got)
	}

	// Trust frees a place, once.
	ctx := ConnContext(context.Background(), s1)
	Trust(ctx)
	Trust(ctx)
	s1.Close() // a trusted connection's close changes nothing
	if got := h.l.Untrusted("127.0.0.1"); got != 1 {
		t.Fatalf("after Trust: Untrusted = %d, want 1", got)
	}
	_, s3 := h.dial()
	if s3 == nil {
		t.Fatal("refused after a connection was trusted")
	}
	if _, s := h.dial(); s != nil {
		t.Fatal("accepted beyond the limit after Trust")
	}

	// Close frees a place, once.
	s2.Close()
	s2.Close()
	if got := h.l.Untrusted("127.0.0.1"); got != 1 {
		t.Fatalf("after Close: Untrusted = %d, want 1", got)
	}
	if _, s := h.dial(); s == nil {
		t.Fatal("refused after a connection closed")
	}
	if _, s := h.dial(); s != nil {
		t.Fatal("accepted beyond the limit after Close")
	}

	if got := refused.Load(); got != 3 {
		t.Fatalf("Refused called %d times, want 3", got)
	}
	// One line for three refusals within LogEvery.
	if n := strings.Count(logs.String(), "refused a connection"); n != 1 {
		t.Fatalf("%d log lines about refusals, want 1:\n%s", n, logs.String())
	}
}

func TestNoLimit(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if ln := New(Config{Max: -1}).Listener(raw); ln != raw {
		t.Fatal("a Limiter without a limit wrapped the listener")
	}
	Trust(context.Background()) // no connection: nothing happens
}

// Trust finds the connection beneath TLS, and what lies beneath it stays
// reachable through NetConn.
func TestConnContextThroughTLS(t *testing.T) {
	h := start(t, Config{Max: 1})
	_, s := h.dial()
	if s == nil {
		t.Fatal("refused")
	}
	tc := tls.Server(s, &tls.Config{})
	ctx := ConnContext(context.Background(), tc)
	if got := h.l.Untrusted("127.0.0.1"); got != 1 {
		t.Fatalf("Untrusted = %d, want 1", got)
	}
	Trust(ctx)
	if got := h.l.Untrusted("127.0.0.1"); got != 0 {
		t.Fatalf("after Trust through TLS: Untrusted = %d, want 0", got)
	}
	if _, ok := s.(*Conn).NetConn().(*net.TCPConn); !ok {
		t.Fatalf("NetConn is %T, want the accepted *net.TCPConn", s.(*Conn).NetConn())
	}
}
