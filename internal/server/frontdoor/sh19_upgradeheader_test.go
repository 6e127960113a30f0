package frontdoor_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// TestSH19UpgradeNamesItsRequestID: each 101 names its own request's id
// (x-amzn-RequestId), the id its OpenTunnel record carries, with several
// upgrades at once (the header's map is reused from upgrade to upgrade:
// upgradeHeaderFor).
func TestSH19UpgradeNamesItsRequestID(t *testing.T) {
	e := startAll(t)
	echo := tunneltest.Echo(t)
	const n = 8
	type answer struct {
		id  string
		err error
	}
	answers := make(chan answer, n)
	for range n {
		u, err := client.PresignURL(context.Background(), aws.Credentials(e.Admin), e.Region, e.Local(echo.Port), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			id, err := sh19Upgrade(e, u)
			answers <- answer{id, err}
		}()
	}
	ids := map[string]bool{}
	for range n {
		a := <-answers
		if a.err != nil {
			t.Fatal(a.err)
		}
		if a.id == "" || ids[a.id] {
			t.Fatalf("a 101 named request id %q (the others: %v): want each its own", a.id, ids)
		}
		ids[a.id] = true
	}
	for _, ev := range events(t, e, "OpenTunnel") {
		if ev.ErrorCode == "" && !ids[ev.RequestID] {
			t.Errorf("the OpenTunnel record of request %q: no 101 named it (the 101s named %v)", ev.RequestID, ids)
		}
		delete(ids, ev.RequestID)
	}
	if len(ids) != 0 {
		t.Errorf("101s named requests without an OpenTunnel record: %v", ids)
	}
}

// sh19Upgrade opens the tunnel of the presigned URL u with a handshake of
// its own and returns the x-amzn-RequestId of the 101, once the tunnel
// carried a byte (its record is committed by then).
func sh19Upgrade(e *tunneltest.Env, u string) (string, error) {
	pu, err := url.Parse(u)
	if err != nil {
		return "", err
	}
	conn, err := tls.Dial("tcp", e.Addr, &tls.Config{RootCAs: e.Roots, ServerName: pu.Hostname()})
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(20 * time.Second)); err != nil {
		return "", err
	}
	req := "GET " + pu.RequestURI() + " HTTP/1.1\r\nHost: " + e.DNSName() + "\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		return "", err
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return "", &url.Error{Op: "upgrade", URL: resp.Status, Err: io.ErrUnexpectedEOF}
	}
	// One masked binary frame of one byte; the echo's frame comes back.
	if _, err := conn.Write([]byte{0x82, 0x81, 1, 2, 3, 4, 'x' ^ 1}); err != nil {
		return "", err
	}
	head := make([]byte, 3)
	if _, err := io.ReadFull(br, head); err != nil {
		return "", err
	}
	if head[0] != 0x82 || head[1] != 1 || head[2] != 'x' {
		return "", &url.Error{Op: "echo", URL: string(head), Err: io.ErrUnexpectedEOF}
	}
	return resp.Header.Get("x-amzn-RequestId"), nil
}
