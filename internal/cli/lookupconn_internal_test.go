package cli

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// TestTunnelGoesOverLookupConnection: open-tunnel itself (Main, so
// runOpenTunnel's wiring: lookupClient, HandOff) sends its look-up's
// calls to the real SDK client over one connection and opens the tunnel
// on that same connection when the endpoint's dnsName names that server,
// so the server sees one connection (and one TLS handshake) in all. The
// tunnel's server writes back the client address its upgrade came from,
// which names the connection that carried it. A connection the server
// closed is not reused (a new one carries what follows), nor is one whose
// certificate is not valid for the endpoint's name, nor one to another
// address.
func TestTunnelGoesOverLookupConnection(t *testing.T) {
	tests := []struct {
		name string
		// dnsName: --instance-connect-endpoint-dns-name; "": looked up
		// (the API's address); "self": given, the API's address; "other":
		// another server's; "named": the API server's, by a name its
		// certificate for the API's address does not cover.
		dnsName string
		// closeAfter: the server closes the connection after answering
		// this call ("": none).
		closeAfter string
		wantAPI    int  // connections to the API's server
		wantSame   bool // the tunnel came on the look-up's (last) connection
	}{
		{name: "endpoint looked up", wantAPI: 1, wantSame: true},
		{name: "dnsName given for the API's address", dnsName: "self", wantAPI: 1, wantSame: true},
		{name: "dnsName given for another address", dnsName: "other", wantAPI: 1},
		{name: "certificate not valid for the endpoint's name", dnsName: "named", wantAPI: 2},
		{name: "closed after the first call", closeAfter: "DescribeInstances", wantAPI: 2, wantSame: true},
		{name: "closed after the look-up", closeAfter: "DescribeInstanceConnectEndpoints", wantAPI: 2},
	}
	ca, ipCert, nameCert := lookupTestCerts(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var accepted []string // client addresses, in order
			var addr string       // the API server's
			dnsName := func() string {
				if tc.dnsName == "named" {
					_, port, _ := net.SplitHostPort(addr)
					return net.JoinHostPort("localhost", port)
				}
				return addr
			}
			tunnel := func(w http.ResponseWriter, r *http.Request) {
				conn, _, _, err := ws.UpgradeHTTP(r, w)
				if err != nil {
					return
				}
				defer conn.Close()
				_ = wsutil.WriteServerBinary(conn, []byte(r.RemoteAddr))
				_ = ws.WriteFrame(conn, ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, "")))
			}
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/openTunnel" {
					tunnel(w, r)
					return
				}
				action := r.FormValue("Action")
				var body string
				switch action {
				case "DescribeInstances":
					body = `<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r1</requestId>` +
						`<reservationSet><item><reservationId>r-1</reservationId><instancesSet><item><instanceId>i-0123456789abcdef0</instanceId>` +
						`<privateIpAddress>10.0.0.5</privateIpAddress><vpcId>vpc-1</vpcId><subnetId>subnet-1</subnetId>` +
						`<instanceState><code>16</code><name>running</name></instanceState></item></instancesSet></item></reservationSet></DescribeInstancesResponse>`
				case "DescribeInstanceConnectEndpoints":
					body = `<DescribeInstanceConnectEndpointsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r2</requestId>` +
						`<instanceConnectEndpointSet><item><instanceConnectEndpointId>eice-1</instanceConnectEndpointId><dnsName>` + dnsName() + `</dnsName>` +
						`<vpcId>vpc-1</vpcId><subnetId>subnet-1</subnetId><state>create-complete</state></item></instanceConnectEndpointSet>` +
						`</DescribeInstanceConnectEndpointsResponse>`
				default:
					t.Errorf("unexpected call %q", action)
					w.WriteHeader(http.StatusBadRequest)
					return
				}
				if action != tc.closeAfter {
					w.Header().Set("Content-Type", "text/xml")
					_, _ = io.WriteString(w, body)
					return
				}
				// Answered, then closed with no word of it in the answer
				// (as a server's idle timeout or a restart would).
				conn, bw, err := http.NewResponseController(w).Hijack()
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = bw.WriteString("HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
				_ = bw.Flush()
				_ = conn.Close()
			}))
			// The certificate for localhost to a ClientHello that names it,
			// the one for 127.0.0.1 to others.
			srv.TLS = &tls.Config{Certificates: []tls.Certificate{*ipCert}, GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
				if hello.ServerName == "localhost" {
					return nameCert, nil
				}
				return ipCert, nil
			}}
			srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
				if s != http.StateNew {
					return
				}
				mu.Lock()
				defer mu.Unlock()
				accepted = append(accepted, c.RemoteAddr().String())
			}
			srv.StartTLS()
			defer srv.Close()
			addr = srv.Listener.Addr().String()
			var otherAccepted []string
			other := httptest.NewUnstartedServer(http.HandlerFunc(tunnel))
			other.TLS = &tls.Config{Certificates: []tls.Certificate{*ipCert}}
			other.Config.ConnState = func(c net.Conn, s http.ConnState) {
				if s == http.StateNew {
					mu.Lock()
					otherAccepted = append(otherAccepted, c.RemoteAddr().String())
					mu.Unlock()
				}
			}
			other.StartTLS()
			defer other.Close()

			caPath := isolatedAWSEnv(t, "AKIDONECONN", ca)
			args := []string{"--region", "us-east-1", "--endpoint-url", "https://" + addr, "--ca-bundle", caPath,
				"ec2-instance-connect", "open-tunnel", "--instance-id", "i-0123456789abcdef0"}
			switch tc.dnsName {
			case "self":
				args = append(args, "--instance-connect-endpoint-id", "eice-1", "--instance-connect-endpoint-dns-name", addr)
			case "other":
				args = append(args, "--instance-connect-endpoint-id", "eice-1", "--instance-connect-endpoint-dns-name", other.Listener.Addr().String())
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var stdout, stderr strings.Builder
			if code := Main(ctx, args, strings.NewReader(""), &stdout, &stderr); code != 0 {
				t.Fatalf("open-tunnel: exit %d: %s", code, stderr.String())
			}
			mu.Lock()
			defer mu.Unlock()
			if len(accepted) != tc.wantAPI {
				t.Fatalf("%d connections to the API's server %v, want %d", len(accepted), accepted, tc.wantAPI)
			}
			from := stdout.String()
			switch {
			case tc.dnsName == "other":
				// (Its first handshake may offer the API's session, which
				// another server does not resume: then a second.)
				if len(otherAccepted) == 0 || from != otherAccepted[len(otherAccepted)-1] {
					t.Errorf("the tunnel came from %q; connections to the other server %v", from, otherAccepted)
				}
			case tc.wantSame && from != accepted[len(accepted)-1]:
				t.Errorf("the tunnel came from %q, not on the look-up's connection %q", from, accepted[len(accepted)-1])
			case !tc.wantSame && from != accepted[len(accepted)-1]:
				t.Errorf("the tunnel came from %q, not on its own new connection %q (connections %v)", from, accepted[len(accepted)-1], accepted)
			}
		})
	}
}

// lookupTestCerts returns a CA and two server certificates it signed:
// one valid for 127.0.0.1 only, one for localhost only.
func lookupTestCerts(t *testing.T) (ca *x509.Certificate, ipCert, nameCert *tls.Certificate) {
	t.Helper()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey := key()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	if ca, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	leaf := func(serial int64, tmpl *x509.Certificate) *tls.Certificate {
		k := key()
		tmpl.SerialNumber = big.NewInt(serial)
		tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}
	}
	ipCert = leaf(2, &x509.Certificate{IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}})
	nameCert = leaf(3, &x509.Certificate{DNSNames: []string{"localhost"}})
	return ca, ipCert, nameCert
}
