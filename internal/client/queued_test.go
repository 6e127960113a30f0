package client_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postern/postern/internal/client"
)

// Listener.Queued is called once per burst of opens larger than the
// opening slots, each time before that burst's Drained: two bursts, one
// after the other, call each twice, alternately.
func TestListenerQueuedEachBurst(t *testing.T) {
	const (
		slots  = 2
		conns  = 5
		bursts = 2
	)
	arrived := make(chan struct{}, bursts*conns)
	release := make(chan struct{})
	stop := make(chan struct{}) // a failed test lets the held opens go
	d := hiServer(t, func(r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-release:
		case <-stop:
		}
	})
	ln := listenLocal(t)
	var err error
	var events syncBuf // "q" per Queued, "d" per Drained, in order
	var queued atomic.Int64
	var out syncBuf
	l := &client.Listener{Dialer: d, Target: client.Target{EndpointID: "eice-0123456789abcdef0", DNSName: "example.com",
		PrivateIP: "10.0.0.1", RemotePort: 22}, Max: bursts * conns, MaxOpening: slots, Out: &out,
		Queued:  func() { queued.Add(1); _, _ = events.Write([]byte("q")) },
		Drained: func() { _, _ = events.Write([]byte("d")) }}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- l.Serve(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Error(err)
		}
	}()
	defer close(stop) // before Serve's end is waited for
	for b := range bursts {
		locals := make([]net.Conn, conns)
		for i := range locals {
			if locals[i], err = net.Dial("tcp", ln.Addr().String()); err != nil {
				t.Fatal(err)
			}
			defer locals[i].Close()
		}
		// Every connection of this burst was accepted (bounded polling of
		// the Listener's messages) while the first opens are held by the
		// server: one burst, some waiting their turn.
		for deadline := time.Now().Add(30 * time.Second); strings.Count(out.String(), "Accepted new tcp connection") < (b+1)*conns; {
			if time.Now().After(deadline) {
				t.Fatalf("burst %d: the listener did not accept %d connections:\n%s", b, conns, out.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
		for range slots {
			<-arrived
		}
		if n := queued.Load(); n != int64(b+1) {
			t.Fatalf("burst %d: Queued called %d times in all, want %d", b, n, b+1)
		}
		for range conns { // the held ones, then the others as they come
			release <- struct{}{}
		}
		for range conns - slots {
			<-arrived
		}
		for i, lc := range locals {
			_ = lc.SetReadDeadline(time.Now().Add(30 * time.Second))
			if got, err := io.ReadAll(lc); string(got) != "hi" || err != nil {
				t.Fatalf("burst %d, connection %d: read %q, %v\n%s", b, i, got, err, out.String())
			}
		}
	}
	// Drained is called on the last open's goroutine before its bytes are
	// carried: by now both were.
	if got, want := events.String(), strings.Repeat("qd", bursts); got != want {
		t.Fatalf("Queued (q) and Drained (d) were called %q, want %q", got, want)
	}
}
