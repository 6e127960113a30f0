package console_test

import (
	"crypto/tls"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postern/postern/internal/server/config"
	"github.com/postern/postern/internal/testutil/tunneltest"
	"github.com/postern/postern/internal/wire/tunnelproto"
)

// TestConsoleAsksNoClientCertificate: the console is served on the API
// listener, whose handshakes carry a CertificateRequest only for a client
// that offers the agents' ALPN protocol (the AWS CLI's TLS stack fails on
// one, and so would a browser's prompt for a certificate). Go's client
// calls GetClientCertificate exactly when the server sends one.
func TestConsoleAsksNoClientCertificate(t *testing.T) {
	e := start(t, 100)
	loginUser(t, e, "lee", onlyWhoAmI)
	var asked atomic.Int32
	hook := func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		asked.Add(1)
		return &tls.Certificate{}, nil
	}
	b := newBrowser(t, e, "127.0.0.5")
	tr := b.hc.Transport.(*http.Transport)
	tr.TLSClientConfig.GetClientCertificate = hook
	tr.TLSClientConfig.NextProtos = []string{"h2", "http/1.1"} // a browser's offer
	if resp, _ := b.do(http.MethodGet, "/console/", nil, map[string]string{"Accept": "text/html"}); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /console/: %d", resp.StatusCode)
	}
	b.signIn("lee", password, "")
	if resp, body := b.call("sts", "", "Action=GetCallerIdentity&Version=2011-06-15"); resp.StatusCode != http.StatusOK {
		t.Fatalf("GetCallerIdentity through the console: %d %s", resp.StatusCode, body)
	}
	if n := asked.Load(); n != 0 {
		t.Fatalf("the console's handshakes asked the browser for a client certificate %d times", n)
	}
	// The hook does see a CertificateRequest when one is sent: a client
	// offering the agents' protocol is asked.
	tr.CloseIdleConnections()
	tr.TLSClientConfig.NextProtos = []string{tunnelproto.AgentALPN, "http/1.1"}
	b.do(http.MethodGet, "/console/api/session", nil, nil)
	if asked.Load() == 0 {
		t.Fatal("a client offering the agents' protocol was not asked for a certificate: the check above proves nothing")
	}
}

// TestSignedInConnectionsLeaveTheUnauthenticatedCount: the HTTP edge caps
// the connections one source holds before it authenticates
// (http.max_unauthenticated_per_source). A browser's connection that
// carried a request with a live console session (its cookie) is
// authenticated, as one that carried a signed API call is: it no longer
// holds a place, so a signed-in console and its terminals (long-lived
// WebSockets) do not lock the source's other clients out.
func TestSignedInConnectionsLeaveTheUnauthenticatedCount(t *testing.T) {
	const from = "127.0.0.4"
	e := tunneltest.Start(t, tunneltest.Options{Config: func(c *config.Server) {
		c.HTTP.MaxUnauthenticatedPerSource = 2
		c.Console.SignInAttempts, c.Console.SignInWindowSeconds = 100, 900
	}})
	loginUser(t, e, "kim", onlyWhoAmI)
	// dial completes a TLS handshake from the browser's address; the
	// edge closes a connection over the cap as it accepts it.
	dial := func() (*tls.Conn, error) {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 30 * time.Second} // hang guards
		raw, err := d.Dial("tcp", e.Addr)
		if err != nil {
			t.Fatal(err)
		}
		c := tls.Client(raw, &tls.Config{RootCAs: e.Roots, ServerName: "127.0.0.1"})
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		if err := c.Handshake(); err != nil {
			raw.Close()
			return nil, err
		}
		_ = c.SetDeadline(time.Time{})
		t.Cleanup(func() { c.Close() })
		return c, nil
	}

	// The browser's one keep-alive connection: sign-in, then a request
	// with the session's cookie.
	b := newBrowser(t, e, from)
	b.signIn("kim", password, "")
	if resp, body := b.do(http.MethodGet, "/console/api/session", nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("session: %d %s", resp.StatusCode, body)
	}
	// Two unauthenticated connections fit beside it; a third does not.
	for i := range 2 {
		if _, err := dial(); err != nil {
			t.Fatalf("unauthenticated connection %d beside a signed-in browser: %v", i+1, err)
		}
	}
	if c, err := dial(); err == nil {
		c.Close()
		t.Fatal("a third unauthenticated connection was accepted")
	}
	// The signed-in browser still works on its own connection.
	if resp, body := b.do(http.MethodGet, "/console/api/session", nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("session after the cap was reached: %d %s", resp.StatusCode, body)
	}
}
