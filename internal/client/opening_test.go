package client_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

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
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		inflight++
		most = max(most, inflight)
		mu.Unlock()
		arrived <- struct{}{}
		<-release
		mu.Lock()
		inflight--
		mu.Unlock()
		conn, _, _, err := ws.UpgradeHTTP(r, w)
		if err != nil {
			return
		}
		defer conn.Close()
		_ = wsutil.WriteServerBinary(conn, []byte("hi"))
		_ = ws.WriteFrame(conn, ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, "")))
	}))
	defer srv.Close()
	d := &client.Dialer{Credentials: credentials.NewStaticCredentialsProvider("AKIAEXAMPLE", "secret", ""), Region: "us-east-1",
		TLS:      &tls.Config{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs},
		DialAddr: strings.TrimPrefix(srv.URL, "https://")}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
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
