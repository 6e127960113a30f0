package pki

import (
	"crypto/tls"
	"crypto/x509"

	"testing"
	"time"
)

func TestLoadOrCreate(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	b, err := LoadOrCreate(dir, []string{"localhost", "127.0.0.1", "::1"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Created) != 4 {
		t.Fatalf("created %v", b.Created)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b.CAPEM) {
		t.Fatal("CA PEM does not parse")
	}
	for _, name := range []string{"localhost", "127.0.0.1", "::1"} {
		if _, err := b.ServerTLS.Leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: name}); err != nil {
			t.Errorf("verify for %s: %v", name, err)
		}
	}
	// A TLS handshake with the bundle and the CA works.
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{b.ServerTLS}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	c.Close()

	// Reload keeps everything; new SANs re-issue the server certificate only.
	b2, err := LoadOrCreate(dir, []string{"localhost"}, now)
	if err != nil || len(b2.Created) != 0 || !b2.CA.Equal(b.CA) {
		t.Fatalf("reload: created %v err %v", b2.Created, err)
	}
	b3, err := LoadOrCreate(dir, []string{"postern.example.com"}, now)
	if err != nil || len(b3.Created) != 2 || !b3.CA.Equal(b.CA) {
		t.Fatalf("re-issue: created %v err %v", b3.Created, err)
	}
}
