package frontdoor_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/testutil/goroutines"
	"github.com/postern/postern/internal/testutil/heldconn"
	"github.com/postern/postern/internal/testutil/tunneltest"
	"github.com/postern/postern/internal/util/bufpool"
	"github.com/postern/postern/internal/util/sockwait"
)

// Idle tunnels hold no buffer from bufpool (server, agent and client
// alike, after small echoes and a bulk transfer), and the front door's
// reader of an idle client waits on the socket, not inside crypto/tls
// (whose stack keeps the goroutine at 4 KiB or more) — in the process's
// sockwait.Poller, without a goroutine, where there is one.
func TestIdleTunnelsHoldNoBuffers(t *testing.T) {
	_, noPoller := sockwait.Default()
	e := startAll(t)
	const n = 6
	lent0 := bufpool.Lent()
	tuns := echoTunnels(t, e, n)
	cases := []struct {
		name string
		size int
	}{
		{"one byte", 1},
		{"interactive", 100},
		{"bulk", 3 << 20},
	}
	for _, c := range cases {
		for i, tun := range tuns {
			if c.size > 1<<20 && i > 0 {
				continue // one tunnel carries the bulk transfer
			}
			payload := bytes.Repeat([]byte{byte(i)}, c.size)
			if err := tunneltest.RoundTrip(tun, payload); err != nil {
				t.Fatalf("%s, tunnel %d: %v", c.name, i, err)
			}
		}
		if !goroutines.Eventually(func() bool { return bufpool.Lent() == lent0 }) {
			t.Errorf("after %s: %d buffers lent by idle tunnels", c.name, bufpool.Lent()-lent0)
		}
		var stacks []string
		ok := goroutines.Eventually(func() bool {
			stacks = goroutines.Running(t, "frontdoor.(*tunnel).clientToAgent")
			if noPoller == nil {
				// Idle readers wait in the process's sockwait.Poller,
				// without a goroutine (TestIdleReaderHoldsNoGoroutine).
				return len(stacks) == 0
			}
			if len(stacks) != n {
				return false
			}
			for _, s := range stacks {
				if strings.Contains(s, "crypto/tls.(*Conn).Read") || !strings.Contains(s, "sockio.Socket.Wait") {
					return false
				}
			}
			return true
		})
		if !ok {
			t.Errorf("after %s: the front door's readers of %d idle clients are not all waiting on the socket:\n%s",
				c.name, n, strings.Join(stacks, "\n\n"))
		}
	}
}

// Frames that crypto/tls already holds (several frames in one record,
// several records in one read of the socket) are served without waiting
// for more bytes from the client, who sends nothing more.
func TestBufferedFramesServedWithoutWaiting(t *testing.T) {
	e := startAll(t)
	echo := tunneltest.Echo(t)
	frames := func(parts ...string) []byte {
		var b bytes.Buffer
		for _, p := range parts {
			f := ws.NewBinaryFrame([]byte(p))
			if p == "ping" {
				f = ws.NewPingFrame([]byte(p))
			}
			if err := ws.WriteFrame(&b, ws.MaskFrame(f)); err != nil {
				t.Fatal(err)
			}
		}
		return b.Bytes()
	}
	cases := []struct {
		name    string
		records [][]byte // each written with one Write (one TLS record)
	}{
		{"frames in one record", [][]byte{frames("ab", "ping", "cd", "ef")}},
		{"records in one segment", [][]byte{frames("ab"), frames("ping"), frames("cd", "ef")}},
		{"a frame across records", func() [][]byte { f := frames("abcdef", "ping"); return [][]byte{f[:3], f[3:9], f[9:]} }()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u, err := client.PresignURL(context.Background(), e.Admin, e.Region, e.Local(echo.Port), time.Now())
			if err != nil {
				t.Fatal(err)
			}
			var held *heldconn.Conn
			d := ws.Dialer{TLSConfig: &tls.Config{RootCAs: e.Roots, ServerName: "localhost"},
				NetDial: func(ctx context.Context, n, _ string) (net.Conn, error) {
					c, err := net.Dial(n, e.Addr)
					if err != nil {
						return nil, err
					}
					held = &heldconn.Conn{Conn: c}
					return held, nil
				}}
			conn, _, _, err := d.Dial(context.Background(), u)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			held.Hold()
			for _, r := range c.records {
				if _, err := conn.Write(r); err != nil {
					t.Fatal(err)
				}
			}
			if err := held.Release(); err != nil {
				t.Fatal(err)
			}
			_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
			var got []byte
			pong := false
			for len(got) < 6 || !pong {
				f, err := ws.ReadFrame(conn)
				if err != nil {
					t.Fatalf("read: %v (echoed %q, pong %v)", err, got, pong)
				}
				switch f.Header.OpCode {
				case ws.OpBinary:
					got = append(got, f.Payload...)
				case ws.OpPong:
					pong = string(f.Payload) == "ping"
				}
			}
			if string(got) != "abcdef" {
				t.Fatalf("echoed %q", got)
			}
		})
	}
}
