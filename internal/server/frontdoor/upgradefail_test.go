package frontdoor_test

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/postern/postern/internal/testutil/tunneltest"
)

// TestFailedUpgradeClosesConnection: a request that passes every check
// but whose WebSocket handshake is bad (no Sec-WebSocket-Key) fails in
// the upgrader after it hijacked the connection; the server must close
// that connection rather than leave it open with no owner.
func TestFailedUpgradeClosesConnection(t *testing.T) {
	e := startAll(t)
	echo := tunneltest.Echo(t)
	target := e.Local(echo.Port)
	u, err := url.Parse(presignQuery(t, e, e.Admin, query(target.EndpointID, itoa(echo.Port), "127.0.0.1"), "ec2-instance-connect", "60", time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", e.Addr, &tls.Config{RootCAs: e.Roots, ServerName: u.Hostname()})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + e.DNSName() + "\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		t.Fatalf("a handshake without Sec-WebSocket-Key was upgraded")
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the failed upgrade: want the server to close the connection (EOF), got %v", err)
	}
}
