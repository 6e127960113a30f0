package client_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/postern/postern/internal/client"
)

// TestReadAfterOwnCloseIsNoServerLoss: a tunnel this side closed (Close,
// as open-tunnel does on Ctrl-C) while the server still holds it open
// ends its Read with ErrClosedByClient (a net.ErrClosed), not with a
// ClosedError saying the server was lost: there is no closure reason to
// report. Before, Read returned ClosedError 1006 "The connection to the
// Postern server was lost: … use of closed network connection".
func TestReadAfterOwnCloseIsNoServerLoss(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, _, err := ws.UpgradeHTTP(r, w)
		if err != nil {
			return
		}
		defer conn.Close()
		_ = wsutil.WriteServerBinary(conn, []byte("hi"))
		<-release // the server never closes first
	}))
	defer srv.Close()
	defer close(release)
	d := &client.Dialer{TLS: &tls.Config{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs},
		DialAddr: strings.TrimPrefix(srv.URL, "https://")}
	tun, err := d.DialURL(context.Background(), "wss://example.com/openTunnel", "example.com")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2)
	if _, err := io.ReadFull(tun, buf); err != nil || string(buf) != "hi" {
		t.Fatalf("first read: %q, %v", buf, err)
	}
	// A Read that is waiting (or about to) when Close comes, and one after.
	done := make(chan error, 1)
	go func() {
		_, err := tun.Read(make([]byte, 16))
		done <- err
	}()
	if err := tun.Close(); err != nil {
		t.Fatal(err)
	}
	for i, err := range []error{<-done, func() error { _, err := tun.Read(make([]byte, 16)); return err }()} {
		var ce *client.ClosedError
		if !errors.Is(err, client.ErrClosedByClient) || !errors.Is(err, net.ErrClosed) || errors.As(err, &ce) {
			t.Errorf("read %d after Close: %v, want ErrClosedByClient", i, err)
		}
	}
}
