package client_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/internal/client"
)

// A burst of local connections opens at most MaxOpening tunnels at once
// (the server closes a source's unauthenticated connections beyond its
// per-source limit); the others wait their turn and are all served.
func TestListenerOpensAFewAtATime(t *testing.T) {
	const limit, conns = 2, 6
	var (
		mu       sync.Mutex
		inflight int
		most     int
	)
	arrived := make(chan struct{}, conns)
	release := make(chan struct{}, conns)
	d := hiServer(t, func(r *http.Request) {
		mu.Lock()
		inflight++
		most = max(most, inflight)
		mu.Unlock()
		arrived <- struct{}{}
		<-release
		mu.Lock()
		inflight--
		mu.Unlock()
	})
	ln := listenLocal(t)
	var err error
	var out syncBuf
	l := &client.Listener{Dialer: d, Target: client.Target{EndpointID: "eice-0123456789abcdef0", DNSName: "example.com",
		PrivateIP: "10.0.0.1", RemotePort: 22}, Max: conns, MaxOpening: limit, Out: &out}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- l.Serve(ctx, ln) }()

	locals := make([]net.Conn, conns)
	for i := range locals {
		if locals[i], err = net.Dial("tcp", ln.Addr().String()); err != nil {
			t.Fatal(err)
		}
		defer locals[i].Close()
	}
	// Every local connection was accepted (bounded polling of the
	// Listener's messages), and the first `limit` opens arrived.
	for deadline := time.Now().Add(30 * time.Second); strings.Count(out.String(), "Accepted new tcp connection") < conns; {
		if time.Now().After(deadline) {
			t.Fatalf("the listener did not accept %d connections:\n%s", conns, out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	for range limit {
		<-arrived
	}
	// No other open starts while those are in flight. (A window, not a
	// measurement: a correct Listener never sends one, whatever the
	// machine's speed.)
	select {
	case <-arrived:
		t.Errorf("an open started while %d were in flight", limit)
		arrived <- struct{}{} // keep the count for the loop below
	case <-time.After(200 * time.Millisecond):
	}
	// Each later one starts once an open in flight was let through.
	for range conns - limit {
		release <- struct{}{}
		<-arrived
	}
	for range limit {
		release <- struct{}{}
	}
	for i, c := range locals {
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
		got, err := io.ReadAll(c)
		if string(got) != "hi" || err != nil {
			t.Errorf("connection %d: read %q, %v\n%s", i, got, err, out.String())
		}
	}
	mu.Lock()
	if most > limit {
		t.Errorf("%d tunnels were opened at once, want at most %d", most, limit)
	}
	mu.Unlock()
	cancel()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
}
