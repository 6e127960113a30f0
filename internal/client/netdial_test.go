package client_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gobwas/ws"

	"github.com/postern/postern/internal/client"
)

// With NetDial, a presigned wss:// URL is opened as plain ws:// on the
// connection NetDial gives (the console's in-process connection to the
// server): the same path, query and Host, no TLS; a refusal is still a
// *RefusedError.
func TestDialerNetDial(t *testing.T) {
	const rawURL = "wss://eice-0123456789abcdef0.ec2-instance-connect-endpoint.example:8443/openTunnel?remotePort=22&X-Amz-Signature=abc"
	tests := []struct {
		name    string
		refuse  bool
		wantErr bool
	}{
		{"opened", false, false},
		{"refused", true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			seen := make(chan *http.Request, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen <- r
				if tc.refuse {
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusForbidden)
					io.WriteString(w, `{"ErrorCode":"AccessDeniedException","Message":"no"}`)
					return
				}
				c, _, _, err := ws.UpgradeHTTP(r, w)
				if err != nil {
					return
				}
				defer c.Close()
				_ = ws.WriteFrame(c, ws.NewBinaryFrame([]byte("hi")))
				_ = ws.WriteFrame(c, ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, "")))
			}))
			defer srv.Close()
			dials := 0
			d := &client.Dialer{NetDial: func(ctx context.Context) (net.Conn, error) {
				dials++
				var nd net.Dialer
				return nd.DialContext(ctx, "tcp", srv.Listener.Addr().String())
			}}
			tun, err := d.DialURL(context.Background(), rawURL, "eice-0123456789abcdef0.ec2-instance-connect-endpoint.example:8443")
			r := <-seen
			if r.TLS != nil || r.Host != "eice-0123456789abcdef0.ec2-instance-connect-endpoint.example:8443" ||
				r.URL.Path != "/openTunnel" || r.URL.RawQuery != "remotePort=22&X-Amz-Signature=abc" || dials != 1 {
				t.Fatalf("request %s %s host %s TLS %v, %d dials", r.URL.Path, r.URL.RawQuery, r.Host, r.TLS != nil, dials)
			}
			if tc.wantErr {
				var refused *client.RefusedError
				if !errors.As(err, &refused) || refused.Status != http.StatusForbidden || refused.ErrorCode != "AccessDeniedException" {
					t.Fatalf("err %v, want the refusal", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer tun.Close()
			b, err := io.ReadAll(tun)
			if err != nil || string(b) != "hi" {
				t.Fatalf("read %q %v", b, err)
			}
		})
	}
}
