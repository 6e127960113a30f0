//go:build linux

package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// A kept connection (a spare, or the look-up's that an APIClient handed
// over) that the server closes as the tunnel's upgrade goes out on it
// (its idle timeout, a restart: the client's probe saw it open, the
// server's end came after) fails before any byte of an answer: the
// upgrade goes once more, on a new connection, and the tunnel opens. A
// fresh connection's failure is not tried again. (Before: "open tunnel
// to …: EOF", which cli's TestTunnelGoesOverLookupConnection/closed
// after the look-up hit about 1 run in 6.)
func TestR2UpgradeOnAKeptConnectionTheServerClosedGoesOnANewOne(t *testing.T) {
	tests := []struct {
		name    string
		kept    bool // the first connection is a kept one (KeepSpares)
		wantErr bool
	}{
		{name: "kept connection closed", kept: true},
		{name: "fresh connection closed", kept: false, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			accepted := make(chan string, 8)
			requests := make(chan string, 8)
			var answered atomic.Bool
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				requests <- r.RemoteAddr
				if answered.CompareAndSwap(false, true) {
					// Read, and closed without an answer.
					if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
						_ = c.Close()
					}
					return
				}
				conn, _, _, err := ws.UpgradeHTTP(r, w)
				if err != nil {
					return
				}
				defer conn.Close()
				_ = wsutil.WriteServerBinary(conn, []byte("hi"))
				_ = ws.WriteFrame(conn, ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, "")))
			}))
			srv.Config.ConnState = func(c net.Conn, st http.ConnState) {
				if st == http.StateNew {
					accepted <- c.RemoteAddr().String()
				}
			}
			srv.Config.ErrorLog = log.New(io.Discard, "", 0)
			srv.TLS = &tls.Config{}
			srv.StartTLS()
			defer srv.Close()
			s := &spareServer{srv: srv, roots: x509.NewCertPool()}
			s.roots.AddCert(srv.Certificate())
			d := s.dialer()
			var spare string
			if tc.kept {
				d.KeepSpares("example.com")
				defer d.CloseSpares()
				readSpare(t, d)
				spare = <-accepted
			}
			tun, err := d.Dial(context.Background(), target)
			if tc.wantErr {
				if err == nil {
					tun.Close()
					t.Fatal("a fresh connection the server closed opened a tunnel")
				}
				if n := len(requests); n != 1 {
					t.Fatalf("%d upgrades sent, want 1 (a fresh connection's failure is not tried again)", n)
				}
				return
			}
			if err != nil {
				t.Fatalf("the tunnel failed on the kept connection the server closed: %v", err)
			}
			readTunnel(t, tun)
			if got := <-requests; got != spare {
				t.Fatalf("the first upgrade came on %s, not on the kept connection %s", got, spare)
			}
			if got := <-requests; got == spare {
				t.Fatal("the second upgrade came on the kept connection again")
			}
		})
	}
}
