package client_test

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/postern/postern/internal/client"
)

// hiServer starts a TLS openTunnel server for the Listener tests: each
// request runs before (which may count it or hold it back), then is
// upgraded, sent "hi" and closed normally. It returns a Dialer that
// trusts it and dials it whatever the tunnel's name.
func hiServer(t *testing.T, before func(r *http.Request)) *client.Dialer {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if before != nil {
			before(r)
		}
		conn, _, _, err := ws.UpgradeHTTP(r, w)
		if err != nil {
			return
		}
		defer conn.Close()
		_ = wsutil.WriteServerBinary(conn, []byte("hi"))
		_ = ws.WriteFrame(conn, ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, "")))
	}))
	t.Cleanup(srv.Close)
	return &client.Dialer{Credentials: credentials.NewStaticCredentialsProvider("AKIAEXAMPLE", "secret", ""), Region: "us-east-1",
		TLS:      &tls.Config{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs},
		DialAddr: strings.TrimPrefix(srv.URL, "https://")}
}

// listenLocal listens on a free loopback port.
func listenLocal(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}
