package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/postern/postern/internal/agent"
	"github.com/postern/postern/internal/cli"
	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/server/config"
	"github.com/postern/postern/internal/testutil/tunneltest"
	"github.com/postern/postern/internal/wire/tunnelproto"
)

// closeSlack is how late after its timeout the server may close a
// connection (scheduling on a loaded 2-core machine, -race). It stays
// below what a missing configured timeout would fall back to: every
// timeout configured here (1-3 s) plus closeSlack ends before the
// smallest default (the 10 s header timeout) and before the trickled
// body of TestStalledClientsAreDisconnected ends (8.8 s).
const closeSlack = 5 * time.Second

// closedWithin reads (and discards) what the server sends on c until the
// server closes it, and fails t unless that happened within limit. It
// returns how long it took.
func closedWithin(t *testing.T, c net.Conn, start time.Time, limit time.Duration) time.Duration {
	t.Helper()
	_ = c.SetReadDeadline(start.Add(limit))
	buf := make([]byte, 4096)
	for { // ends at the server's close or at the deadline
		if _, err := c.Read(buf); err != nil {
			took := time.Since(start)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("the server still held the connection after %v", took.Round(time.Millisecond))
			}
			return took
		}
	}
}

// dialTLS completes a TLS handshake with the server as an ordinary client.
func dialTLS(t *testing.T, e *tunneltest.Env) (*tls.Conn, error) {
	t.Helper()
	raw, err := net.Dial("tcp", e.Addr)
	if err != nil {
		t.Fatal(err)
	}
	c := tls.Client(raw, &tls.Config{RootCAs: e.Roots, ServerName: "127.0.0.1"})
	_ = c.SetDeadline(time.Now().Add(30 * time.Second)) // a hang guard
	if err := c.Handshake(); err != nil {
		raw.Close()
		return nil, err
	}
	_ = c.SetDeadline(time.Time{})
	t.Cleanup(func() { c.Close() })
	return c, nil
}

func mustDialTLS(t *testing.T, e *tunneltest.Env) *tls.Conn {
	t.Helper()
	c, err := dialTLS(t, e)
	if err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	return c
}

// A client that stalls anywhere before or between requests loses its
// connection once the configured timeout for that stage has passed (the
// server held a stalled body, and its connection, forever).
func TestStalledClientsAreDisconnected(t *testing.T) {
	const header, body, idle = 1 * time.Second, 2 * time.Second, 3 * time.Second
	e := tunneltest.Start(t, tunneltest.Options{Config: func(c *config.Server) {
		c.HTTP.HeaderTimeoutSeconds, c.HTTP.BodyTimeoutSeconds, c.HTTP.IdleTimeoutSeconds = 1, 2, 3
	}})
	partialBody := func(path string) func(t *testing.T, c net.Conn) {
		return func(t *testing.T, c net.Conn) {
			req := "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nAction=GetCa"
			if _, err := io.WriteString(c, req); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		name    string
		tls     bool // complete the TLS handshake first
		send    func(t *testing.T, c net.Conn)
		timeout time.Duration
	}{
		{name: "TLS handshake never starts", timeout: header},
		{name: "TLS handshake stops halfway", timeout: header, send: func(t *testing.T, c net.Conn) {
			// A TLS record header announcing a 512-byte handshake
			// message, and 4 bytes of it.
			if _, err := c.Write([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc}); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "no request after the handshake", tls: true, timeout: header},
		{name: "headers never end", tls: true, timeout: header, send: func(t *testing.T, c net.Conn) {
			if _, err := io.WriteString(c, "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n"); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "API body stops", tls: true, timeout: body, send: partialBody("/")},
		{name: "agent join body stops", tls: true, timeout: body, send: partialBody(tunnelproto.JoinPath)},
		{name: "console sign-in body stops", tls: true, timeout: body, send: partialBody("/console/api/signin")},
		{name: "body trickles", tls: true, timeout: body, send: func(t *testing.T, c net.Conn) {
			partialBody("/")(t, c)
			// One more byte every 100 ms: each read succeeds, the
			// body would end after 8.8 s.
			done := make(chan struct{})
			t.Cleanup(func() { close(done) })
			go func() {
				tick := time.NewTicker(100 * time.Millisecond)
				defer tick.Stop()
				for range 88 {
					select {
					case <-done:
						return
					case <-tick.C:
					}
					if _, err := c.Write([]byte("x")); err != nil {
						return
					}
				}
			}()
		}},
		{name: "idle after a request", tls: true, timeout: idle, send: func(t *testing.T, c net.Conn) {
			if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var c net.Conn
			if tc.tls {
				c = mustDialTLS(t, e)
			} else {
				raw, err := net.Dial("tcp", e.Addr)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { raw.Close() })
				c = raw
			}
			start := time.Now()
			if tc.send != nil {
				tc.send(t, c)
			}
			took := closedWithin(t, c, start, tc.timeout+closeSlack)
			if took < tc.timeout-250*time.Millisecond {
				t.Fatalf("closed after %v, before its timeout of %v", took.Round(time.Millisecond), tc.timeout)
			}
			t.Logf("closed after %v (timeout %v)", took.Round(time.Millisecond), tc.timeout)
		})
	}
}

// oneConn is an HTTP client that sends its requests on c.
func oneConn(c *tls.Conn) *http.Client {
	var once sync.Once
	return &http.Client{Transport: &http.Transport{
		DialTLSContext: func(context.Context, string, string) (net.Conn, error) {
			var out net.Conn
			once.Do(func() { out = c })
			if out == nil {
				return nil, errors.New("oneConn: the connection was used already")
			}
			return out, nil
		},
		DisableCompression: true,
	}}
}

// getCallerIdentity makes a signed call with hc.
func getCallerIdentity(e *tunneltest.Env, hc *http.Client, creds aws.Credentials) error {
	cfg := e.AWS(creds)
	cfg.HTTPClient = hc
	_, err := cli.CallQuery(context.Background(), cfg, e.URL, "sts", "GetCallerIdentity", "2011-06-15", url.Values{})
	return err
}

// One source may hold only so many connections that have not made an
// authenticated request; a connection leaves that count when one of its
// requests authenticates, not when it is merely used.
func TestUnauthenticatedConnectionsPerSource(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{Config: func(c *config.Server) { c.HTTP.MaxUnauthenticatedPerSource = 2 }})
	mln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go e.Server.ServeMetrics(mln)
	refusedMetric := regexp.MustCompile(`(?m)^postern_connections_refused_total\{reason="per_source_limit"\} (\d+)$`)
	refused := func() string {
		t.Helper()
		resp, err := e.HTTP.Get("https://" + mln.Addr().String() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		m := refusedMetric.FindSubmatch(b)
		if m == nil {
			return "none"
		}
		return string(m[1])
	}
	wantRefused := func(step string) {
		t.Helper()
		if c, err := dialTLS(t, e); err == nil {
			c.Close()
			t.Fatalf("%s: a connection over the limit was accepted", step)
		}
	}

	first := oneConn(mustDialTLS(t, e))
	second := oneConn(mustDialTLS(t, e))
	wantRefused("two unauthenticated connections")

	// A request that fails authentication does not count.
	bad := e.Admin
	bad.SecretAccessKey = "wrong"
	if err := getCallerIdentity(e, second, bad); err == nil || !strings.Contains(err.Error(), "SignatureDoesNotMatch") {
		t.Fatalf("bad signature: got %v, want SignatureDoesNotMatch", err)
	}
	wantRefused("after a refused signature")
	// Unauthenticated endpoints do not count either.
	resp, err := first.Get(e.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body) // so that the client keeps the connection
	resp.Body.Close()
	wantRefused("after /healthz")

	// An authenticated request frees its connection's place.
	if err := getCallerIdentity(e, second, e.Admin); err != nil {
		t.Fatal(err)
	}
	third := oneConn(mustDialTLS(t, e))
	wantRefused("after one authenticated connection and two unauthenticated")
	if err := getCallerIdentity(e, third, e.Admin); err != nil {
		t.Fatal(err)
	}
	mustDialTLS(t, e)
	if got := refused(); got != "4" {
		t.Fatalf("postern_connections_refused_total{reason=\"per_source_limit\"} is %s, want 4", got)
	}
}

// An open tunnel and an agent link outlive every timeout of the HTTP
// edge, keep carrying bytes, and hold no place among their source's
// unauthenticated connections.
func TestLongLivedConnectionsOutliveEdgeLimits(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{Config: func(c *config.Server) {
		c.Tunnel.Ports = []string{"*"}
		c.HTTP.HeaderTimeoutSeconds, c.HTTP.BodyTimeoutSeconds, c.HTTP.IdleTimeoutSeconds, c.HTTP.WriteTimeoutSeconds = 1, 1, 1, 1
		c.HTTP.MaxUnauthenticatedPerSource = 2
	}})
	_, _, ep, _ := e.Network("127.0.0.0/16", "127.0.0.0/24")
	a := e.StartAgent(ep, agent.Config{AllowLoopback: true, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, DrainTimeout: 300 * time.Millisecond})
	e.WaitConnected(a.ID.AgentID, 10*time.Second)
	since := e.Server.Relay().Connected(ep)[0].ConnectedSince
	echo := tunneltest.Echo(t)
	target := client.Target{EndpointID: ep, DNSName: e.DNSName(), PrivateIP: "127.0.0.1", RemotePort: echo.Port}
	tun, err := e.Dialer(e.Admin).Dial(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Close()
	roundTrip := func(msg string) {
		t.Helper()
		if _, err := io.WriteString(tun, msg); err != nil {
			t.Fatalf("write %q: %v", msg, err)
		}
		_ = tun.SetReadDeadline(time.Now().Add(30 * time.Second)) // a hang guard
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(tun, got); err != nil || !bytes.Equal(got, []byte(msg)) {
			t.Fatalf("echo of %q: got %q, %v", msg, got, err)
		}
		_ = tun.SetReadDeadline(time.Time{})
	}
	roundTrip("before")

	// The link, the tunnel, the join and the API calls that set them up
	// came from this source: none holds an unauthenticated place.
	idle := mustDialTLS(t, e)
	body := mustDialTLS(t, e)
	if c, err := dialTLS(t, e); err == nil {
		c.Close()
		t.Fatal("a third unauthenticated connection was accepted")
	}
	// Let every timeout pass on the tunnel and the link (all are 1 s):
	// wait for the server to drop a connection that stalls in its body
	// and one idle after a request.
	start := time.Now()
	if _, err := io.WriteString(body, "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\nAction="); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(idle, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	closedWithin(t, body, start, time.Second+closeSlack)
	closedWithin(t, idle, start, time.Second+closeSlack)

	roundTrip("after every timeout")
	tun2, err := e.Dialer(e.Admin).Dial(context.Background(), target)
	if err != nil {
		t.Fatalf("a new tunnel over the same link: %v", err)
	}
	tun2.Close()
	if now := e.Server.Relay().Connected(ep); len(now) != 1 || !now[0].ConnectedSince.Equal(since) {
		t.Fatalf("the agent's link was replaced: %+v (connected since %v before)", now, since)
	}
}

// TestMetricsListenerHasTheEdge: the metrics listener closes a connection
// that never sends a request, as the API listener does (it had no idle or
// handshake bound before).
func TestMetricsListenerHasTheEdge(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{Config: func(c *config.Server) {
		c.HTTP.HeaderTimeoutSeconds, c.HTTP.IdleTimeoutSeconds = 1, 1
	}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go e.Server.ServeMetrics(ln)
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	closedWithin(t, c, time.Now(), time.Second+closeSlack)
}
