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

// TestHandshakeRefusalCoversTheUpgrader: every handshake the upgrader
// (ws.HTTPUpgrader, as serveTunnel runs it) refuses, handshakeRefusal
// refuses first, so that no attempt is dialled, then fails to upgrade;
// and the handshakes real clients send pass both. (handshakeRefusal may
// be stricter: a Sec-WebSocket-Key must decode to 16 bytes.)
func TestHandshakeRefusalCoversTheUpgrader(t *testing.T) {
	type verdict struct{ mine, upgrader error }
	verdicts := make(chan verdict, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var v verdict
		if ref := handshakeRefusal(r); ref != nil {
			v.mine = ref
		}
		conn, _, _, err := ws.HTTPUpgrader{Timeout: 5 * time.Second}.Upgrade(r, w)
		if conn != nil {
			conn.Close()
		}
		v.upgrader = err
		verdicts <- v
	}))
	defer srv.Close()
	const key = "dGhlIHNhbXBsZSBub25jZQ=="
	cases := []struct {
		name    string
		proto   string
		headers string
		valid   bool // a real client's: both must accept it
	}{
		{"the AWS CLI's", "HTTP/1.1", "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n", true},
		{"lower case, Connection with keep-alive", "HTTP/1.1", "upgrade: WebSocket\r\nconnection: keep-alive, Upgrade\r\nsec-websocket-key: " + key + "\r\nsec-websocket-version: 13\r\n", true},
		{"no key", "HTTP/1.1", "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n", false},
		{"short key", "HTTP/1.1", "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: abc\r\nSec-WebSocket-Version: 13\r\n", false},
		{"key of 18 bytes", "HTTP/1.1", "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAAA\r\nSec-WebSocket-Version: 13\r\n", false},
		{"two keys", "HTTP/1.1", "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: abc\r\nSec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n", false},
		{"no version", "HTTP/1.1", "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key + "\r\n", false},
		{"version 8", "HTTP/1.1", "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 8\r\n", false},
		{"two versions, 8 first", "HTTP/1.1", "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Version: 13\r\n", false},
		{"Upgrade lists two", "HTTP/1.1", "Upgrade: websocket, h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n", false},
		{"Upgrade on a second line", "HTTP/1.1", "Upgrade: h2c\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n", false},
		{"Connection on a second line", "HTTP/1.1", "Upgrade: websocket\r\nConnection: keep-alive\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n", false},
		{"Connection with a separator before Upgrade", "HTTP/1.1", "Upgrade: websocket\r\nConnection: keep-alive;x, Upgrade\r\nSec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n", false},
		{"Connection with a quoted string before Upgrade", "HTTP/1.1", "Upgrade: websocket\r\nConnection: \"x\", Upgrade\r\nSec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n", false},
		{"no Connection", "HTTP/1.1", "Upgrade: websocket\r\nSec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n", false},
		{"HTTP/1.0", "HTTP/1.0", "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.WriteString(conn, "GET /openTunnel "+c.proto+"\r\nHost: localhost\r\n"+c.headers+"\r\n"); err != nil {
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
			if v.upgrader != nil && v.mine == nil {
				t.Fatalf("the upgrader refused (%v) a handshake handshakeRefusal accepted", v.upgrader)
			}
			if c.valid && (v.mine != nil || v.upgrader != nil) {
				t.Fatalf("a valid handshake: handshakeRefusal %v, upgrader %v", v.mine, v.upgrader)
			}
			if !c.valid && v.mine == nil {
				t.Fatalf("handshakeRefusal accepted %q", strings.ReplaceAll(c.headers, "\r\n", " | "))
			}
		})
	}
}
