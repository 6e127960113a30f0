package client_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/testutil/goroutines"
)

// Connections that wait their turn to open (every opening slot taken)
// hold no goroutine: the opens in flight are the only goroutines of the
// Listener's opens, each handing its slot to the next waiting connection
// when it ends; every connection is served in the end, and shutdown
// ends those still waiting (Serve returns once each was reported).
func TestWaitingTurnHoldsNoGoroutine(t *testing.T) {
	const limit, conns = 2, 8
	cases := []struct {
		name     string
		shutdown bool // cancel while connections wait, instead of letting them through
	}{
		{"all served", false},
		{"shutdown while waiting", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			arrived := make(chan struct{}, conns)
			release := make(chan struct{})
			d := hiServer(t, func(r *http.Request) {
				arrived <- struct{}{}
				<-release
			})
			ln := listenLocal(t)
			var out syncBuf
			l := &client.Listener{Dialer: d, Target: client.Target{EndpointID: "eice-0123456789abcdef0", DNSName: "example.com",
				PrivateIP: "10.0.0.1", RemotePort: 22}, Max: conns, MaxOpening: limit, Out: &out}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			served := make(chan error, 1)
			go func() { served <- l.Serve(ctx, ln) }()
			locals := make([]net.Conn, conns)
			for i := range locals {
				c, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				locals[i] = c
			}
			for range limit {
				<-arrived
			}
			if !goroutines.Eventually(func() bool { return l.Opening() == conns }) {
				t.Fatalf("Opening %d, want %d accepted and not yet open:\n%s", l.Opening(), conns, out.String())
			}
			if got := goroutines.Running(t, "internal/client.(*Listener).serveConn"); len(got) != limit {
				t.Fatalf("%d goroutines of the Listener's opens with %d in flight and %d waiting their turn, want %d:\n%s",
					len(got), limit, conns-limit, limit, strings.Join(got, "\n\n"))
			}
			if tc.shutdown {
				cancel()
				close(release) // the opens in flight end (their tunnels, or the cancel)
				select {
				case err := <-served:
					if err != nil {
						t.Fatal(err)
					}
				case <-time.After(30 * time.Second):
					t.Fatalf("Serve did not return after the shutdown:\n%s", out.String())
				}
				if n := l.Active(); n != 0 {
					t.Fatalf("Active %d after Serve returned", n)
				}
				return
			}
			go func() {
				for range arrived {
				}
			}()
			close(release)
			for i, c := range locals {
				_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
				got, err := io.ReadAll(c)
				if string(got) != "hi" || err != nil {
					t.Errorf("connection %d: read %q, %v\n%s", i, got, err, out.String())
				}
			}
			cancel()
			if err := <-served; err != nil {
				t.Fatal(err)
			}
		})
	}
}
