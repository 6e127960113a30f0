package client_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"testing"

	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/server/config"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// A tunnel's first handshake uses the default, post-quantum hybrid key
// exchange; one that resumes a session offers X25519 alone (the session's
// secret, from the hybrid exchange, keeps protecting its keys); when the
// server no longer accepts the session (it restarted: new ticket keys) the
// handshake is made again with the hybrid exchange, and the tunnel works.
// A configuration that names its key exchanges keeps them.
func TestTunnelKeyExchange(t *testing.T) {
	opts := func(c *config.Server) { c.Tunnel.Ports = []string{"*"} }
	e := tunneltest.Start(t, tunneltest.Options{Config: opts})
	echo := tunneltest.Echo(t)
	target := e.Local(echo.Port)
	open := func(t *testing.T, d *client.Dialer) tls.ConnectionState {
		t.Helper()
		tun, err := d.Dial(context.Background(), target)
		if err != nil {
			t.Fatal(err)
		}
		defer tun.Close()
		// An echoed byte: the tunnel works, and the server's session
		// tickets (sent after the handshake) have been read.
		if _, err := tun.Write([]byte{'x'}); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 1)
		if _, err := io.ReadFull(tun, buf); err != nil || buf[0] != 'x' {
			t.Fatalf("echo: %q, %v", buf, err)
		}
		st, ok := tun.TLSState()
		if !ok {
			t.Fatal("the tunnel has no TLS state")
		}
		return st
	}
	steps := []struct {
		name    string
		restart bool
		curves  []tls.CurveID // the Dialer's CurvePreferences
		resumed bool
		curve   tls.CurveID
	}{
		{name: "first", resumed: false, curve: tls.X25519MLKEM768},
		{name: "resumed", resumed: true, curve: tls.X25519},
		{name: "resumed again", resumed: true, curve: tls.X25519},
		{name: "session refused after a restart", restart: true, resumed: false, curve: tls.X25519MLKEM768},
		{name: "resumed after the restart", resumed: true, curve: tls.X25519},
	}
	d := e.Dialer(e.Admin)
	outer := t // a restarted server lives until the test's end
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if s.restart {
				e.Stop()
				e = tunneltest.Start(outer, tunneltest.Options{Config: opts, DataDir: e.Dir, Addr: e.Addr})
			}
			st := open(t, d)
			if st.DidResume != s.resumed || st.CurveID != s.curve {
				t.Fatalf("resumed %v with %v, want resumed %v with %v", st.DidResume, st.CurveID, s.resumed, s.curve)
			}
		})
	}
	t.Run("an untrusted server is refused before the upgrade", func(t *testing.T) {
		d := e.Dialer(e.Admin)
		d.TLS.RootCAs = x509.NewCertPool() // trusts nothing
		_, err := d.Dial(context.Background(), target)
		var cv *tls.CertificateVerificationError
		if !errors.As(err, &cv) {
			t.Fatalf("Dial: %v, want a certificate verification error", err)
		}
	})
	t.Run("named key exchanges are kept", func(t *testing.T) {
		d := e.Dialer(e.Admin)
		d.TLS.CurvePreferences = []tls.CurveID{tls.CurveP256}
		for _, resumed := range []bool{false, true} {
			st := open(t, d)
			if st.DidResume != resumed || st.CurveID != tls.CurveP256 {
				t.Fatalf("resumed %v with %v, want resumed %v with P-256", st.DidResume, st.CurveID, resumed)
			}
		}
	})
}
