package frontdoor_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"

	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/server/config"
	"github.com/postern/postern/internal/testutil/ci"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// The AWS CLI v2 always dials port 443 of the endpoint's dnsName, with
// Host and SNI equal to it. A server on port 443 whose endpoints carry its
// host name serves that form unchanged: the URL is the CLI's, byte for
// byte (client.PresignURL reproduces the CLI's test vectors), and nothing
// names a port. This test is about port 443, so it binds it.
func TestPort443AsTheAWSCLI(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:443")
	if err != nil {
		// Another service on the port is the host's business, not a
		// failure; a permission refusal under CI (which runs as root) is.
		if !errors.Is(err, syscall.EADDRINUSE) && ci.Strict() {
			t.Fatalf("CI runs as root and must be able to bind port 443: %v", err)
		}
		t.Skipf("cannot bind 127.0.0.1:443 here (%v); CI runs this test as root", err)
	}
	// The server takes the bound listener: no window for another process.
	e := tunneltest.Start(t, tunneltest.Options{Listener: ln, Config: func(c *config.Server) {
		allPorts(c)
		c.Advertise = "localhost:443"
	}})
	if got := e.DNSName(); got != "localhost" {
		t.Fatalf("dnsName %q, want the bare host name on port 443", got)
	}
	echo := tunneltest.Echo(t)
	target := e.Local(echo.Port)
	u, err := client.PresignURL(context.Background(), e.Admin, e.Region, target, timeNow())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(u, "wss://localhost/openTunnel?instanceConnectEndpointId=") || strings.Contains(u, ":443") {
		t.Fatalf("not the AWS CLI's form: %s", u)
	}
	// Dial as the CLI does: localhost:443, SNI and Host "localhost".
	d := &client.Dialer{Credentials: e.Dialer(e.Admin).Credentials, Region: e.Region, TLS: &tls.Config{RootCAs: e.Roots}}
	tun, err := d.DialURL(context.Background(), u, "localhost")
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Close()
	roundTrip(t, tun, "through port 443")
}
