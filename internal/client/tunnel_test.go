package client_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/wire/wsframe"
)

// A server that ends the connection without a WebSocket close frame (it
// died, the network broke) is an abnormal closure (1006), not a normal end:
// Read must not return io.EOF, so that open-tunnel does not exit 0 with a
// cut-off stream. A close frame with 1000 is the normal end.
func TestTunnelEndings(t *testing.T) {
	tests := []struct {
		name     string
		close    func(c io.Writer) // what the server sends after "hi"
		wantEOF  bool
		wantCode int
	}{
		{"close 1000", func(c io.Writer) {
			_ = ws.WriteFrame(c, ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, "")))
		}, true, 0},
		{"close 1011 with a reason", func(c io.Writer) {
			_ = ws.WriteFrame(c, ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusInternalServerError, "agent lost")))
		}, false, 1011},
		{"connection dropped", func(io.Writer) {}, false, wsframe.CloseAbnormal},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				conn, _, _, err := ws.UpgradeHTTP(r, w)
				if err != nil {
					return
				}
				defer conn.Close()
				_ = wsutil.WriteServerBinary(conn, []byte("hi"))
				tc.close(conn)
			}))
			defer srv.Close()
			d := &client.Dialer{TLS: &tls.Config{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs},
				DialAddr: strings.TrimPrefix(srv.URL, "https://")}
			tun, err := d.DialURL(context.Background(), "wss://example.com/openTunnel", "example.com")
			if err != nil {
				t.Fatal(err)
			}
			defer tun.Close()
			got, err := io.ReadAll(tun)
			if string(got) != "hi" {
				t.Errorf("read %q", got)
			}
			var ce *client.ClosedError
			switch {
			case tc.wantEOF && err != nil:
				t.Errorf("ReadAll: %v, want a normal end", err)
			case !tc.wantEOF && (!errors.As(err, &ce) || ce.Code != tc.wantCode):
				t.Errorf("ReadAll: %v, want a ClosedError with code %d", err, tc.wantCode)
			}
		})
	}
}

// A Dialer resumes the TLS session of its earlier tunnels (no certificate
// signature or chain verification on the next open), and only its own:
// another Dialer, which may trust other CAs, starts a full handshake.
func TestDialResumesTLSSession(t *testing.T) {
	resumed := make(chan bool, 8)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resumed <- r.TLS.DidResume
		conn, _, _, err := ws.UpgradeHTTP(r, w)
		if err != nil {
			return
		}
		defer conn.Close()
		_ = wsutil.WriteServerBinary(conn, []byte("hi"))
		_ = ws.WriteFrame(conn, ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, "")))
	}))
	defer srv.Close()
	roots := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	newDialer := func() *client.Dialer {
		return &client.Dialer{TLS: &tls.Config{RootCAs: roots}, DialAddr: strings.TrimPrefix(srv.URL, "https://")}
	}
	first, second := newDialer(), newDialer()
	tests := []struct {
		name        string
		d           *client.Dialer
		wantResumed bool
	}{
		{"first tunnel", first, false},
		{"second tunnel, same dialer", first, true},
		{"third tunnel, same dialer", first, true},
		{"another dialer", second, false},
	}
	for _, tc := range tests {
		tun, err := tc.d.DialURL(context.Background(), "wss://example.com/openTunnel", "example.com")
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		// Reading to the end also reads the server's session ticket.
		if got, err := io.ReadAll(tun); string(got) != "hi" || err != nil {
			t.Errorf("%s: read %q, %v", tc.name, got, err)
		}
		tun.Close()
		if got := <-resumed; got != tc.wantResumed {
			t.Errorf("%s: resumed %v, want %v", tc.name, got, tc.wantResumed)
		}
	}
}
