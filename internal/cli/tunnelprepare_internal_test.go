package cli

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// TestTunnelConnPreparedDuringLookup: open-tunnel itself (Main, so
// runOpenTunnel's own wiring: preparingSessions, connSet,
// prepareTunnelConn) makes the tunnel's connection to the API's server
// while the look-up's calls are still unanswered, and the tunnel then goes
// on it. The server (a real TLS server answering the look-up's EC2 calls
// to the real SDK client) holds its answers until a second connection has
// reached it: without the preparation none comes (the answer waits out
// its bound and the test fails). A dnsName the user gave for another
// address gets no prepared connection: the tunnel goes there and the
// API's server sees one connection only.
func TestTunnelConnPreparedDuringLookup(t *testing.T) {
	tests := []struct {
		name        string
		dnsName     string // --instance-connect-endpoint-dns-name; "": looked up; "self": the API's address; "other": another server's
		wantPrepare bool
	}{
		{"endpoint looked up", "", true},
		{"dnsName given for the API's address", "self", true},
		{"dnsName given for another address", "other", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var accepted []string // client addresses, in order
			second := make(chan struct{})
			var addr string // the API server's
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
				if tc.wantPrepare { // a look-up call: answered once the tunnel's connection came
					select {
					case <-second:
					case <-time.After(10 * time.Second):
						t.Error("no second connection while a look-up call waited for its answer")
					}
				}
				w.Header().Set("Content-Type", "text/xml")
				switch action := r.FormValue("Action"); action {
				case "DescribeInstances":
					_, _ = io.WriteString(w, `<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r1</requestId>`+
						`<reservationSet><item><reservationId>r-1</reservationId><instancesSet><item><instanceId>i-0123456789abcdef0</instanceId>`+
						`<privateIpAddress>10.0.0.5</privateIpAddress><vpcId>vpc-1</vpcId><subnetId>subnet-1</subnetId>`+
						`<instanceState><code>16</code><name>running</name></instanceState></item></instancesSet></item></reservationSet></DescribeInstancesResponse>`)
				case "DescribeInstanceConnectEndpoints":
					_, _ = io.WriteString(w, `<DescribeInstanceConnectEndpointsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r2</requestId>`+
						`<instanceConnectEndpointSet><item><instanceConnectEndpointId>eice-1</instanceConnectEndpointId><dnsName>`+addr+`</dnsName>`+
						`<vpcId>vpc-1</vpcId><subnetId>subnet-1</subnetId><state>create-complete</state></item></instanceConnectEndpointSet>`+
						`</DescribeInstanceConnectEndpointsResponse>`)
				default:
					t.Errorf("unexpected call %q", action)
					w.WriteHeader(http.StatusBadRequest)
				}
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
			addr = srv.Listener.Addr().String()
			// Another server, for a dnsName the user gave for another address
			// (httptest's servers share one certificate).
			var otherAccepted []string
			other := httptest.NewUnstartedServer(http.HandlerFunc(tunnel))
			other.Config.ConnState = func(c net.Conn, s http.ConnState) {
				if s == http.StateNew {
					mu.Lock()
					otherAccepted = append(otherAccepted, c.RemoteAddr().String())
					mu.Unlock()
				}
			}
			other.StartTLS()
			defer other.Close()

			ca := isolatedAWSEnv(t, "AKIDPREPARE", srv.Certificate())
			args := []string{"--region", "us-east-1", "--endpoint-url", "https://" + addr, "--ca-bundle", ca,
				"ec2-instance-connect", "open-tunnel", "--instance-id", "i-0123456789abcdef0"}
			want := &accepted
			switch tc.dnsName {
			case "self":
				args = append(args, "--instance-connect-endpoint-id", "eice-1", "--instance-connect-endpoint-dns-name", addr)
			case "other":
				args = append(args, "--instance-connect-endpoint-id", "eice-1", "--instance-connect-endpoint-dns-name", other.Listener.Addr().String())
				want = &otherAccepted
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var stdout, stderr strings.Builder
			if code := Main(ctx, args, strings.NewReader(""), &stdout, &stderr); code != 0 {
				t.Fatalf("open-tunnel: exit %d: %s", code, stderr.String())
			}
			mu.Lock()
			defer mu.Unlock()
			wantAPI := map[bool]int{true: 2, false: 1}[tc.wantPrepare]
			if len(accepted) != wantAPI {
				t.Fatalf("%d connections to the API's server %v, want %d", len(accepted), accepted, wantAPI)
			}
			if from := stdout.String(); len(*want) == 0 || from != (*want)[len(*want)-1] {
				t.Errorf("the tunnel came from %q; connections %v (API) %v (other)", from, accepted, otherAccepted)
			}
		})
	}
}
