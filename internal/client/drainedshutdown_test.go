package client_test

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/postern/postern/internal/client"
)

// A burst of opens cut short by shutdown (the server holds every open
// until the client gives up) still ends with Drained, once, after Queued
// and before Serve returns: what Queued started (the CLI raises the GC
// percent) is undone on that path too.
func TestListenerDrainedOnShutdown(t *testing.T) {
	const conns, slots = 5, 2
	arrived := make(chan struct{}, conns)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-r.Context().Done() // never answered: the client's shutdown ends it
	}))
	defer srv.Close()
	d := &client.Dialer{Credentials: credentials.NewStaticCredentialsProvider("AKIAEXAMPLE", "secret", ""), Region: "us-east-1",
		TLS:      &tls.Config{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs},
		DialAddr: strings.TrimPrefix(srv.URL, "https://")}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var queued, drained, queuedThen atomic.Int64
	queuedNow := make(chan struct{}, 1)
	var out syncBuf
	l := &client.Listener{Dialer: d, Target: client.Target{EndpointID: "eice-0123456789abcdef0", DNSName: "example.com",
		PrivateIP: "10.0.0.1", RemotePort: 22}, Max: conns, MaxOpening: slots, Out: &out,
		Queued: func() {
			queued.Add(1)
			queuedNow <- struct{}{}
		},
		Drained: func() {
			drained.Add(1)
			queuedThen.Store(queued.Load())
		}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- l.Serve(ctx, ln) }()
	for range conns {
		lc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer lc.Close()
	}
	for range slots { // the first opens hold the slots at the server
		select {
		case <-arrived:
		case <-time.After(30 * time.Second):
			t.Fatalf("no open reached the server:\n%s", out.String())
		}
	}
	select { // a connection waits its turn
	case <-queuedNow:
	case <-time.After(30 * time.Second):
		t.Fatalf("Queued was not called with %d connections and %d slots:\n%s", conns, slots, out.String())
	}
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("Serve did not return after its context ended:\n%s", out.String())
	}
	if q, dr := queued.Load(), drained.Load(); q != 1 || dr != 1 || queuedThen.Load() != 1 {
		t.Fatalf("Queued called %d times, Drained %d times (after %d Queued), want 1, 1 and 1", q, dr, queuedThen.Load())
	}
	if n := l.Opening(); n != 0 {
		t.Errorf("Opening is %d once Serve returned", n)
	}
}
