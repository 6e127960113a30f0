package client

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// deadlineConn records the deadlines set on it.
type deadlineConn struct {
	net.Conn
	mu  sync.Mutex
	set []time.Time
}

func (c *deadlineConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.set = append(c.set, t)
	c.mu.Unlock()
	return c.Conn.SetDeadline(t)
}

// TestUpgradeBoundFromOpenStart: one bound, upgradeTimeout from the
// open's start, covers the connect and the upgrade together (as the
// WebSocket library's Dial had it): a server that was slow to connect
// gets what is left of it for the upgrade, not upgradeTimeout again.
// The upgrade's deadline is never later than the connect's.
func TestUpgradeBoundFromOpenStart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close() // no answer: the upgrade fails
		}
	}()
	var connectBy time.Time
	var dc *deadlineConn
	d := &Dialer{NetDial: func(ctx context.Context) (net.Conn, error) {
		connectBy, _ = ctx.Deadline()
		// The connect took a while: time has moved past its start
		// (bounded: the monotonic clock moves within microseconds).
		start := connectBy.Add(-upgradeTimeout)
		for i := 0; i < 1_000_000 && !time.Now().After(start); i++ {
		}
		var nd net.Dialer
		c, err := nd.DialContext(ctx, "tcp", ln.Addr().String())
		if err != nil {
			return nil, err
		}
		dc = &deadlineConn{Conn: c}
		return dc, nil
	}}
	tun, err := d.DialURL(context.Background(), "ws://example.test/openTunnel?x=1", "example.test")
	if err == nil {
		tun.Close()
		t.Fatal("DialURL: opened on a server that closed at once")
	}
	if connectBy.IsZero() || dc == nil {
		t.Fatalf("the connect had no deadline (%v) or no connection: %v", connectBy, err)
	}
	dc.mu.Lock()
	defer dc.mu.Unlock()
	if len(dc.set) == 0 {
		t.Fatal("the upgrade set no deadline on the connection")
	}
	for _, dl := range dc.set {
		if !dl.IsZero() && dl.After(connectBy) {
			t.Errorf("the upgrade's deadline %v is %v past the connect's %v: want one bound for both", dl, dl.Sub(connectBy), connectBy)
		}
	}
}

// TestUpgradeAnswerBounded: a server whose answer to the upgrade never
// ends (a header line that goes on) is refused once maxAnswer bytes of
// it were read (errAnswerTooLong), instead of the client gathering what
// it sends until the open's deadline; an ordinary answer still opens
// the tunnel.
func TestUpgradeAnswerBounded(t *testing.T) {
	cases := []struct {
		name    string
		endless bool
		want    error
	}{
		{"ordinary answer", false, nil},
		{"endless header", true, errAnswerTooLong},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			served := make(chan struct{})
			go func() {
				defer close(served)
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				if !tc.endless {
					if _, err := (ws.Upgrader{}).Upgrade(c); err == nil {
						_, _ = io.Copy(io.Discard, c) // until the client closes
					}
					return
				}
				if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
					return
				}
				if _, err := io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nX-Long: "); err != nil {
					return
				}
				line := bytes.Repeat([]byte("a"), 64<<10)
				for i := 0; i < 1024; i++ { // 64 MiB at most
					if _, err := c.Write(line); err != nil {
						return
					}
				}
				_, _ = io.Copy(io.Discard, c) // until the client closes
			}()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			d := &Dialer{NetDial: func(ctx context.Context) (net.Conn, error) {
				var nd net.Dialer
				return nd.DialContext(ctx, "tcp", ln.Addr().String())
			}}
			tun, err := d.DialURL(ctx, "ws://example.test/openTunnel?x=1", "example.test")
			if tun != nil {
				tun.Close()
			}
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("DialURL: %v, want %v", err, tc.want)
			}
			select {
			case <-served:
			case <-ctx.Done():
				t.Fatal("the client kept the connection")
			}
		})
	}
}
