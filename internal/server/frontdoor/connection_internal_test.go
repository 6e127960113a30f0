package frontdoor

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// TestUpgradeRefusalReadsConnectionAsTheUpgrader: the front door reads
// the Connection header with one parser, the upgrader's (before, the
// question "is this an upgrade?" split on commas while the handshake
// check used httphead.ScanTokens, so "keep-alive;x, Upgrade" passed the
// first and was refused by the second with "must name Upgrade", although
// it does). Each request goes through a real HTTP server that runs
// upgradeRefusal (decide's first checks) and then ws.HTTPUpgrader as
// serveTunnel does: both accept or both refuse, and a refusal says what
// is wrong with the request.
func TestUpgradeRefusalReadsConnectionAsTheUpgrader(t *testing.T) {
	type verdict struct {
		mine     *Refusal
		upgrader error
	}
	verdicts := make(chan verdict, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := verdict{mine: upgradeRefusal(r)}
		conn, _, _, err := ws.HTTPUpgrader{Timeout: 5 * time.Second}.Upgrade(r, w)
		if conn != nil {
			conn.Close()
		}
		v.upgrader = err
		verdicts <- v
	}))
	defer srv.Close()
	const rest = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	cases := []struct {
		name    string
		method  string
		headers string
		reason  string // "" when both accept
		message string // a part of the refusal's message
	}{
		{"Connection: Upgrade", "GET", "Upgrade: websocket\r\nConnection: Upgrade\r\n", "", ""},
		{"keep-alive, Upgrade", "GET", "Upgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n", "", ""},
		{"lower case, no space", "GET", "Upgrade: websocket\r\nConnection: keep-alive,upgrade\r\n", "", ""},
		{"Upgrade before a malformed item", "GET", "Upgrade: websocket\r\nConnection: Upgrade;x\r\n", "", ""},
		{"a parameter before Upgrade", "GET", "Upgrade: websocket\r\nConnection: keep-alive;x, Upgrade\r\n", ReasonHandshake, `"keep-alive;x, Upgrade" is no comma-separated list of tokens`},
		{"a quoted string before Upgrade", "GET", "Upgrade: websocket\r\nConnection: \"x\", Upgrade\r\n", ReasonHandshake, "is no comma-separated list of tokens"},
		{"no Upgrade in Connection", "GET", "Upgrade: websocket\r\nConnection: keep-alive\r\n", ReasonHandshake, "must name Upgrade"},
		{"Upgrade on a second Connection line", "GET", "Upgrade: websocket\r\nConnection: keep-alive\r\nConnection: Upgrade\r\n", ReasonHandshake, "in its first Connection line"},
		{"no Connection", "GET", "Upgrade: websocket\r\n", ReasonHandshake, "needs a Connection header naming Upgrade"},
		{"no Upgrade", "GET", "Connection: Upgrade\r\n", ReasonBadRequest, "must be a WebSocket upgrade request"},
		{"a POST", "POST", "Upgrade: websocket\r\nConnection: Upgrade\r\nContent-Length: 0\r\n", ReasonBadRequest, "must be a WebSocket upgrade request"},
		{"Upgrade names another protocol", "GET", "Upgrade: h2c\r\nConnection: Upgrade\r\n", ReasonHandshake, "Upgrade header must be websocket"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
				t.Fatal(err)
			}
			if _, err := io.WriteString(conn, c.method+" /openTunnel HTTP/1.1\r\nHost: localhost\r\n"+c.headers+rest+"\r\n"); err != nil {
				t.Fatal(err)
			}
			if _, err := http.ReadResponse(bufio.NewReader(conn), nil); err != nil {
				t.Fatal(err)
			}
			var v verdict
			select {
			case v = <-verdicts:
			case <-time.After(10 * time.Second):
				t.Fatal("no verdict")
			}
			if (v.mine == nil) != (v.upgrader == nil) {
				t.Fatalf("the front door and the upgrader disagree: front door %v, upgrader %v", v.mine, v.upgrader)
			}
			if c.reason == "" {
				if v.mine != nil {
					t.Fatalf("refused a valid handshake: %v", v.mine)
				}
				return
			}
			if v.mine == nil {
				t.Fatalf("accepted; want a refusal (%s) saying %q", c.reason, c.message)
			}
			if v.mine.Status != http.StatusBadRequest || v.mine.Code != "InvalidParameter" || v.mine.Reason != c.reason {
				t.Fatalf("refusal %d %s (%s), want 400 InvalidParameter (%s)", v.mine.Status, v.mine.Code, v.mine.Reason, c.reason)
			}
			if !strings.Contains(v.mine.Message, c.message) {
				t.Fatalf("message %q, want it to say %q", v.mine.Message, c.message)
			}
		})
	}
}
