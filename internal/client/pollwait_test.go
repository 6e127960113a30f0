package client_test

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/server/config"
	"github.com/postern/postern/internal/testutil/goroutines"
	"github.com/postern/postern/internal/testutil/tunneltest"
	"github.com/postern/postern/internal/util/bufpool"
	"github.com/postern/postern/internal/util/sockwait"
)

// lateTarget echoes its first byte, then reads until the client's end
// and only then answers "bye" and closes: bytes and an end that reach an
// idle tunnel after the local side half-closed.
func lateTarget(t *testing.T) *net.TCPAddr {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(30 * time.Second))
				b := make([]byte, 1)
				if _, err := io.ReadFull(c, b); err != nil {
					return
				}
				if _, err := c.Write(b); err != nil {
					return
				}
				if _, err := io.Copy(io.Discard, c); err != nil {
					return
				}
				_, _ = c.Write([]byte("bye"))
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr)
}

// An idle --local-port connection (both directions waiting, in the
// process's sockwait.Poller where there is one: then no goroutine of the
// copy is left) wakes for whatever comes next and ends cleanly: bytes
// from either side, the local side's half-close (the target's late bytes
// and end still arrive), the local side's close, the Listener's shutdown.
// Each ends with the connection reported closed (Active 0) and every
// buffer back in bufpool.
func TestIdleConnectionWakes(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{Config: func(c *config.Server) { c.Tunnel.Ports = []string{"*"} }})
	echo, late := tunneltest.Echo(t), lateTarget(t)
	_, noPoller := sockwait.Default()
	cases := []struct {
		name   string
		target *net.TCPAddr
		// then acts on the idle connection (cancel stops Serve).
		then func(t *testing.T, c *net.TCPConn, cancel func())
	}{
		{"bytes after idle", echo, func(t *testing.T, c *net.TCPConn, _ func()) {
			if err := tunneltest.RoundTrip(c, []byte("again")); err != nil {
				t.Fatal(err)
			}
			c.Close()
		}},
		{"local half-close", late, func(t *testing.T, c *net.TCPConn, _ func()) {
			if err := c.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(c)
			if err != nil || string(got) != "bye" {
				t.Fatalf("after the half-close read %q, %v; want the target's late %q, then its end", got, err, "bye")
			}
			c.Close()
		}},
		{"local close", echo, func(t *testing.T, c *net.TCPConn, _ func()) { c.Close() }},
		{"shutdown", echo, func(t *testing.T, c *net.TCPConn, cancel func()) {
			cancel()
			if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil {
				t.Fatalf("read %d bytes, %v after shutdown; want the connection's end", n, err)
			}
			c.Close()
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			l := &client.Listener{Dialer: e.Dialer(e.Admin), Target: e.Local(tc.target.Port), Max: 2, Out: io.Discard}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			served := make(chan error, 1)
			go func() { served <- l.Serve(ctx, ln) }()
			lent0 := bufpool.Lent()
			nc, err := net.Dial("tcp4", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			c := nc.(*net.TCPConn)
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(30 * time.Second))
			if err := tunneltest.RoundTrip(c, []byte{1}); err != nil {
				t.Fatal(err)
			}
			// Idle: no goroutine of the copy left with a Poller (one
			// waiting per direction without), no buffer lent.
			perDirection := 1
			if noPoller == nil {
				perDirection = 0
			}
			if !goroutines.Eventually(func() bool {
				return len(goroutines.Running(t, "internal/client.copyOut")) == perDirection &&
					len(goroutines.Running(t, "internal/client.copyIn")) == perDirection &&
					len(goroutines.Running(t, "internal/client.(*idler).step")) == 0 &&
					bufpool.Lent() == lent0
			}) {
				t.Fatalf("the connection did not go idle (%d goroutines waiting per direction wanted, %d buffers lent)",
					perDirection, bufpool.Lent()-lent0)
			}
			tc.then(t, c, cancel)
			if !goroutines.Eventually(func() bool { return l.Active() == 0 }) {
				t.Fatalf("the connection's end was not reported: Active %d", l.Active())
			}
			cancel()
			select {
			case err := <-served:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("Serve did not return")
			}
			if !goroutines.Eventually(func() bool { return bufpool.Lent() == lent0 }) {
				t.Errorf("%d buffers still lent after the connection's end", bufpool.Lent()-lent0)
			}
		})
	}
}
