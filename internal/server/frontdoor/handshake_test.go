package frontdoor_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/server/config"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// TestBadHandshakeRefusedBeforeTheDial: an upgrade request that passes
// every check but whose WebSocket handshake cannot be upgraded is refused
// like any request decided before the dial: answered with its status and
// JSON error (426 with the version this server speaks for another
// version), its OpenTunnel record (that errorCode) stored when the answer
// comes, no successful OpenTunnel and no CloseTunnel, the target never
// dialled, the endpoint's only slot free and the URL (single-use) not
// spent: the same URL then opens a tunnel. Before, the upgrader answered
// 400 after the checks, and the server still dialled the target and
// recorded a successful OpenTunnel plus a CloseTunnel "UpgradeFailed".
func TestBadHandshakeRefusedBeforeTheDial(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{Config: func(c *config.Server) {
		allPorts(c)
		c.Tunnel.ConcurrencyPerEndpoint = 1
		c.Tunnel.Replay = "single-use"
	}})
	ctx := context.Background()
	target := startWatchedTarget(t, func() int { return successfulOpens(t, e) })
	u, err := client.PresignURL(ctx, aws.Credentials(e.Admin), e.Region, e.Local(target.port), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	const key = "dGhlIHNhbXBsZSBub25jZQ==" // RFC 6455's example
	cases := []struct {
		name        string
		proto       string
		headers     []string
		status      int
		wantVersion bool // a Sec-WebSocket-Version: 13 answer header
	}{
		{"no Sec-WebSocket-Key", "HTTP/1.1", []string{"Sec-WebSocket-Version: 13"}, 400, false},
		{"a key of the wrong length", "HTTP/1.1", []string{"Sec-WebSocket-Key: c2hvcnQ=", "Sec-WebSocket-Version: 13"}, 400, false},
		{"a key that is not base64", "HTTP/1.1", []string{"Sec-WebSocket-Key: ************************", "Sec-WebSocket-Version: 13"}, 400, false},
		{"no version", "HTTP/1.1", []string{"Sec-WebSocket-Key: " + key}, 400, false},
		{"version 8", "HTTP/1.1", []string{"Sec-WebSocket-Key: " + key, "Sec-WebSocket-Version: 8"}, 426, true},
		{"HTTP/1.0", "HTTP/1.0", []string{"Sec-WebSocket-Key: " + key, "Sec-WebSocket-Version: 13"}, 400, false},
		{"Upgrade names another protocol first", "HTTP/1.1", []string{"Sec-WebSocket-Key: " + key, "Sec-WebSocket-Version: 13", "Upgrade: h2c, websocket"}, 400, false},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := rawUpgrade(t, e, u, c.proto, c.headers)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, body, c.status)
			}
			var j struct{ ErrorCode, Message string }
			if err := json.Unmarshal(body, &j); err != nil || j.ErrorCode != "InvalidParameter" || j.Message == "" {
				t.Fatalf("body %s (%v), want the JSON error InvalidParameter", body, err)
			}
			if got := resp.Header.Get("Sec-WebSocket-Version"); c.wantVersion != (got == "13") {
				t.Fatalf("Sec-WebSocket-Version %q in the answer; want 13: %v", got, c.wantVersion)
			}
			// On record when answered: refused, as often as answered.
			refused := 0
			for _, ev := range events(t, e, "OpenTunnel") {
				if ev.ErrorCode == "InvalidParameter" {
					refused++
				}
			}
			if refused != i+1 {
				t.Fatalf("%d refused OpenTunnel records once %d handshakes were answered, want %d", refused, i+1, i+1)
			}
			if n := successfulOpens(t, e); n != 0 {
				t.Fatalf("%d successful OpenTunnel records for handshakes that could not be upgraded", n)
			}
			if n := len(events(t, e, "CloseTunnel")); n != 0 {
				t.Fatalf("%d CloseTunnel records for handshakes that could not be upgraded", n)
			}
		})
	}
	// The URL was not spent, the slot not held: the same URL opens a
	// tunnel now, whose connection is the first the target accepts.
	tun, err := e.Dialer(e.Admin).DialURL(ctx, u, e.DNSName())
	if err != nil {
		t.Fatalf("the URL after the refused handshakes: %v", err)
	}
	defer tun.Close()
	if _, err := tun.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if fr := waitOrFail(t, target.first, "the tunnel's byte at the target"); fr.conn != 1 || fr.data != "x" {
		t.Fatalf("the target's connection %d read %q first, want its first connection to be the tunnel's (%q): a refused handshake dialled it", fr.conn, fr.data, "x")
	}
}

// rawUpgrade sends an openTunnel request for the presigned URL u with
// Connection: Upgrade, Upgrade: websocket (unless headers name another)
// and headers, and returns the answer and its body; the server must close
// the connection after a refusal.
func rawUpgrade(t *testing.T, e *tunneltest.Env, u, proto string, headers []string) (*http.Response, []byte) {
	t.Helper()
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", e.Addr, &tls.Config{RootCAs: e.Roots, ServerName: pu.Hostname()})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	upgrade := "Upgrade: websocket\r\n"
	for _, h := range headers {
		if len(h) > 8 && h[:8] == "Upgrade:" {
			upgrade = ""
		}
	}
	req := "GET " + pu.RequestURI() + " " + proto + "\r\nHost: " + e.DNSName() + "\r\nConnection: Upgrade\r\n" + upgrade
	for _, h := range headers {
		req += h + "\r\n"
	}
	if _, err := io.WriteString(conn, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the refusal: want the server to close the connection (EOF), got %v", err)
	}
	return resp, body
}
