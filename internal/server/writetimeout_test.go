package server_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/agent"
	"github.com/postern/postern/internal/cli"
	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/server/config"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// sendOnly is an HTTP client that writes a request on its connection and
// never reads the answer.
type sendOnly struct{ c net.Conn }

var errSent = errors.New("sent; the answer is not read")

func (s sendOnly) Do(req *http.Request) (*http.Response, error) {
	if err := req.Write(s.c); err != nil {
		return nil, err
	}
	return nil, errSent
}

// A client that asks for a large answer and does not read it loses its
// connection once the write timeout has passed (the server held it, and
// the answer, as long as the client liked), while a tunnel and an agent
// link that were open all along go on.
func TestWriteTimeoutDisconnectsClientsThatDoNotRead(t *testing.T) {
	const writeTimeout = 2 * time.Second
	e := tunneltest.Start(t, tunneltest.Options{Config: func(c *config.Server) {
		c.Tunnel.Ports = []string{"*"}
		c.HTTP.WriteTimeoutSeconds = int(writeTimeout / time.Second)
	}})
	ctx := context.Background()
	_, _, ep, _ := e.Network("127.0.0.0/16", "127.0.0.0/24")
	a := e.StartAgent(ep, agent.Config{AllowLoopback: true, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, DrainTimeout: 300 * time.Millisecond})
	e.WaitConnected(a.ID.AgentID, 10*time.Second)
	since := e.Server.Relay().Connected(ep)[0].ConnectedSince
	echo := tunneltest.Echo(t)
	tun, err := e.Dialer(e.Admin).Dial(ctx, client.Target{EndpointID: ep, DNSName: e.DNSName(), PrivateIP: "127.0.0.1", RemotePort: echo.Port})
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Close()
	roundTrip := func(msg []byte) {
		t.Helper()
		go func() { _, _ = tun.Write(msg) }()
		_ = tun.SetReadDeadline(time.Now().Add(10 * time.Second))
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(tun, got); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("echo of %d bytes: %v", len(msg), err)
		}
		_ = tun.SetReadDeadline(time.Time{})
	}
	roundTrip([]byte("before"))

	// Fifty calls with a 256 KiB parameter each: their records make a
	// LookupEvents page of more than 12 MiB, more than the sockets buffer.
	pad := strings.Repeat("p", 256<<10)
	for range 50 {
		_, _ = cli.CallQuery(ctx, e.AWS(e.Admin), e.URL, "sts", "GetCallerIdentity", "2011-06-15", url.Values{"Padding": {pad}})
	}
	const target = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents"
	// The page holds these fifty records, each body as a JSON string (no
	// shorter than the body): more than 12 MiB. Measured in the store, not
	// by reading the page: a client that reads 12 MiB under -race on a
	// loaded machine may itself take longer than the write timeout.
	pageSize := 0
	for deadline := time.Now().Add(30 * time.Second); pageSize < 12<<20; {
		evs, err := e.Server.Store.ListEvents(ctx, store.EventQuery{Limit: 50})
		if err != nil {
			t.Fatal(err)
		}
		pageSize = 0
		for _, ev := range evs {
			pageSize += len(ev.Body)
		}
		if pageSize < 12<<20 && time.Now().After(deadline) {
			t.Fatalf("the fifty newest records hold %d bytes, want more than 12 MiB", pageSize)
		}
		time.Sleep(10 * time.Millisecond) // bounded polling of records written asynchronously
	}

	// The client asks for that page and reads nothing.
	c := mustDialTLS(t, e)
	cfg := e.AWS(e.Admin)
	cfg.HTTPClient = sendOnly{c}
	start := time.Now()
	if _, err := cli.CallJSON(ctx, cfg, e.URL, "cloudtrail", target, map[string]any{"MaxResults": 50}); !errors.Is(err, errSent) {
		t.Fatalf("sending the request: %v", err)
	}
	// Waiting out the timeout, not synchronising: the client reads
	// nothing meanwhile.
	<-time.After(writeTimeout + closeSlack)
	// Then it reads: the answer stops short and the connection ends
	// (a connection the server still held would give the whole answer and
	// then wait for the next request).
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := io.Copy(io.Discard, c)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the server still held the connection %v after the request (read %d bytes of a page of more than %d)",
			time.Since(start).Round(time.Millisecond), n, pageSize)
	}
	t.Logf("read %d bytes of a page of more than %d, then %v", n, pageSize, err)

	// The tunnel and the agent's link outlived the timeout.
	roundTrip(bytes.Repeat([]byte("after the write timeout "), 40000))
	if now := e.Server.Relay().Connected(ep); len(now) != 1 || !now[0].ConnectedSince.Equal(since) {
		t.Fatalf("the agent's link was replaced: %+v (connected since %v before)", now, since)
	}
}
