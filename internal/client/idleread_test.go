package client_test

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/server/config"
	"github.com/postern/postern/internal/testutil/goroutines"
	"github.com/postern/postern/internal/testutil/heldconn"
	"github.com/postern/postern/internal/testutil/tunneltest"
	"github.com/postern/postern/internal/util/bufpool"
	"github.com/postern/postern/internal/util/sockwait"
)

// The idle connections of a --local-port client hold no buffer from
// bufpool (after small echoes and a bulk transfer), and no goroutine:
// each one's two directions wait on their sockets (the server's bytes on
// the socket beneath TLS) in the process's sockwait.Poller. Where there
// is none, each direction waits on a goroutine of its own with no TLS
// work on its stack: a goroutine that ran crypto/tls's record layer
// keeps 4 KiB or more.
func TestIdleConnectionsHoldNoBuffers(t *testing.T) {
	_, noPoller := sockwait.Default()
	e := tunneltest.Start(t, tunneltest.Options{Config: func(c *config.Server) { c.Tunnel.Ports = []string{"*"} }})
	echo := tunneltest.Echo(t)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	const n = 6
	l := &client.Listener{Dialer: e.Dialer(e.Admin), Target: e.Local(echo.Port), Max: n, Out: io.Discard}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- l.Serve(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Error(err)
		}
	}()
	lent0 := bufpool.Lent()
	locals := make([]net.Conn, n)
	for i := range locals {
		if locals[i], err = net.Dial("tcp", ln.Addr().String()); err != nil {
			t.Fatal(err)
		}
		defer locals[i].Close()
	}
	cases := []struct {
		name string
		size int
	}{
		{"one byte", 1},
		{"interactive", 100},
		{"bulk", 3 << 20},
	}
	for _, c := range cases {
		for i, lc := range locals {
			if c.size > 1<<20 && i > 0 {
				continue // one connection carries the bulk transfer
			}
			payload := bytes.Repeat([]byte{byte(i + 1)}, c.size)
			if err := tunneltest.RoundTrip(lc, payload); err != nil {
				t.Fatalf("%s, connection %d: %v", c.name, i, err)
			}
		}
		if !goroutines.Eventually(func() bool { return bufpool.Lent() == lent0 }) {
			t.Errorf("after %s: %d buffers lent by idle connections", c.name, bufpool.Lent()-lent0)
		}
		// Each direction of each connection waits in the Poller (no
		// goroutine), or is one goroutine waiting on its socket (the
		// server's, the local one), none inside crypto/tls; no goroutine
		// of the copy work is left.
		want := n
		if noPoller == nil {
			want = 0
		}
		var stacks []string
		ok := goroutines.Eventually(func() bool {
			out, in := goroutines.Running(t, "internal/client.copyOut"), goroutines.Running(t, "internal/client.copyIn")
			// A goroutine doing (or lingering after) a copy's work runs
			// step; a waiting one has not got there.
			work := goroutines.Running(t, "internal/client.(*idler).step")
			stacks = append(append(out, in...), work...)
			if len(out) != want || len(in) != want || len(work) != 0 {
				return false
			}
			for _, s := range stacks {
				if strings.Contains(s, "crypto/tls.") || !strings.Contains(s, "sockio.Socket.Wait") {
					return false
				}
			}
			return true
		})
		if !ok {
			t.Errorf("after %s: the copies of %d idle connections are not all waiting on their sockets:\n%s",
				c.name, n, strings.Join(stacks, "\n\n"))
		}
	}
}

type segmentListener struct {
	net.Listener
	conns chan *heldconn.Conn
}

func (l segmentListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	sc := &heldconn.Conn{Conn: c}
	l.conns <- sc
	return sc, nil
}

// Bytes that the client's TLS connection already holds (frames in the
// record of the upgrade's answer, several frames in one record, several
// records in one segment, a frame across records) are delivered without
// waiting for more from the server, which sends nothing more: an idle
// reader waits on the socket only when crypto/tls holds nothing.
func TestHeldFramesServedWithoutWaiting(t *testing.T) {
	frames := func(parts ...string) []byte {
		var b bytes.Buffer
		for _, p := range parts {
			f := ws.NewBinaryFrame([]byte(p))
			if p == "ping" {
				f = ws.NewPingFrame([]byte(p))
			}
			if err := ws.WriteFrame(&b, f); err != nil {
				t.Fatal(err)
			}
		}
		return b.Bytes()
	}
	cases := []struct {
		name       string
		withAnswer []byte   // sent in the answer's record
		records    [][]byte // then each in one record, all in one segment
	}{
		{"frames in the answer's record", frames("ab", "ping", "cd", "ef"), nil},
		{"frames in one record", nil, [][]byte{frames("ab", "ping", "cd", "ef")}},
		{"records in one segment", nil, [][]byte{frames("ab"), frames("ping"), frames("cd", "ef")}},
		{"a frame across records", nil, func() [][]byte { f := frames("ping", "abcdef"); return [][]byte{f[:3], f[3:9], f[9:]} }()},
		{"answer's record and more records", frames("a"), [][]byte{frames("b", "ping"), frames("cdef")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pong := make(chan string, 1)
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				conn, _, err := http.NewResponseController(w).Hijack()
				if err != nil {
					t.Error(err)
					return
				}
				defer conn.Close()
				sum := sha1.Sum([]byte(r.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
				answer := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
					base64.StdEncoding.EncodeToString(sum[:]) + "\r\n\r\n"
				raw := conn.(*tls.Conn).NetConn().(*heldconn.Conn)
				raw.Hold()
				if _, err := conn.Write(append([]byte(answer), tc.withAnswer...)); err != nil {
					t.Error(err)
					return
				}
				for _, rec := range tc.records {
					if _, err := conn.Write(rec); err != nil {
						t.Error(err)
						return
					}
				}
				if err := raw.Release(); err != nil {
					t.Error(err)
					return
				}
				_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
				for {
					f, err := ws.ReadFrame(conn)
					if err != nil {
						pong <- "no pong: " + err.Error()
						return
					}
					if f.Header.OpCode == ws.OpPong {
						pong <- string(ws.UnmaskFrame(f).Payload)
						// Hold the connection until the client has read.
						_, _ = io.Copy(io.Discard, conn)
						return
					}
				}
			}))
			srv.Listener = segmentListener{Listener: srv.Listener, conns: make(chan *heldconn.Conn, 4)}
			srv.StartTLS()
			defer srv.Close()
			roots := x509.NewCertPool()
			roots.AddCert(srv.Certificate())
			d := &client.Dialer{TLS: &tls.Config{RootCAs: roots}, DialAddr: srv.Listener.Addr().String()}
			tun, err := d.DialURL(context.Background(), "wss://example.com/openTunnel", "example.com")
			if err != nil {
				t.Fatal(err)
			}
			defer tun.Close()
			_ = tun.SetReadDeadline(time.Now().Add(20 * time.Second))
			got := make([]byte, 6)
			if _, err := io.ReadFull(tun, got); err != nil || string(got) != "abcdef" {
				t.Fatalf("read %q, %v; want %q", got, err, "abcdef")
			}
			if p := <-pong; p != "ping" {
				t.Fatalf("the server got %q, want the ping's pong", p)
			}
		})
	}
}
