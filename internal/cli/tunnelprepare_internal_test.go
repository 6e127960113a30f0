package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/postern/postern/internal/client"
)

// TestTunnelConnPreparedDuringLookup: open-tunnel's wiring
// (preparingSessions, connSet, prepareTunnelConn) makes the tunnel's
// connection to the API's server while the look-up's second call is
// still unanswered, and the tunnel then goes on it. The server (a real
// TLS server) holds its answer to the second call until a second
// connection has reached it: without the wiring none comes (the answer
// waits out its bound and the test fails). A dnsName the user gave for
// another address gets no prepared connection.
func TestTunnelConnPreparedDuringLookup(t *testing.T) {
	tests := []struct {
		name        string
		dnsName     string // --instance-connect-endpoint-dns-name; "": none
		wantPrepare bool
	}{
		{"endpoint looked up", "", true},
		{"dnsName given for the API's address", "self", true},
		{"dnsName given for another address", "127.0.0.1:1", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var accepted []string // client addresses, in order
			second := make(chan struct{})
			calls := 0
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/openTunnel" {
					conn, _, _, err := ws.UpgradeHTTP(r, w)
					if err != nil {
						return
					}
					defer conn.Close()
					_ = wsutil.WriteServerBinary(conn, []byte(r.RemoteAddr))
					_ = ws.WriteFrame(conn, ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, "")))
					return
				}
				mu.Lock()
				calls++
				n := calls
				mu.Unlock()
				if n == 2 && tc.wantPrepare { // the look-up's second call
					select {
					case <-second:
					case <-time.After(10 * time.Second):
						t.Error("no second connection while the second call waited for its answer")
					}
				}
				_, _ = io.WriteString(w, "{}")
			}))
			srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
				if s != http.StateNew {
					return
				}
				mu.Lock()
				defer mu.Unlock()
				accepted = append(accepted, c.RemoteAddr().String())
				if len(accepted) == 2 {
					close(second)
				}
			}
			srv.StartTLS()
			defer srv.Close()
			roots := x509.NewCertPool()
			roots.AddCert(srv.Certificate())
			addr := srv.Listener.Addr().String()
			dnsName := tc.dnsName
			if dnsName == "self" {
				dnsName = addr
			}

			// As runOpenTunnel sets it up.
			cfg := aws.Config{HTTPClient: awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
				tr.TLSClientConfig = &tls.Config{RootCAs: roots}
			})}
			sessions := &preparingSessions{sharedSessions: newSharedSessions()}
			cfg, _ = withSessionCache(cfg, sessions)
			d := &client.Dialer{TLS: tlsConfigOf(cfg, false)}
			defer d.CloseSpares()
			var apiConns connSet
			prepareTunnelConn(sessions, &apiConns, d, dnsName)
			lcfg := withConnSet(cfg, &apiConns)
			for range 2 { // the look-up's two calls, on one kept-alive connection
				req, err := http.NewRequest(http.MethodPost, "https://"+addr+"/", nil)
				if err != nil {
					t.Fatal(err)
				}
				resp, err := lcfg.HTTPClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			apiConns.closeAll()
			mu.Lock()
			before := len(accepted) // connections before the tunnel is asked for
			mu.Unlock()
			if want := map[bool]int{true: 2, false: 1}[tc.wantPrepare]; before != want {
				t.Fatalf("%d connections once the look-up was done, want %d", before, want)
			}

			tun, err := d.DialURL(context.Background(), "wss://"+addr+"/openTunnel", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer tun.Close()
			from, err := io.ReadAll(tun)
			if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(accepted) != 2 || string(from) != accepted[1] {
				t.Errorf("the tunnel came from %s; connections %v, want two: the API's, then the tunnel's", from, accepted)
			}
		})
	}
}
