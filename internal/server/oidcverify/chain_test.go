package oidcverify

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"testing"
	"time"
)

func cert(t *testing.T, name string, ca bool, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		BasicConstraintsValid: true,
		IsCA:                  ca,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if !ca {
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

// TestVerifyChain: a thumbprint admits a chain only when the leaf
// verifies up to the thumbprinted certificate; a listed thumbprint of a
// certificate appended to an unrelated chain admits nothing.
func TestVerifyChain(t *testing.T) {
	root, rootKey := cert(t, "root", true, nil, nil)
	inter, interKey := cert(t, "intermediate", true, root, rootKey)
	leaf, _ := cert(t, "leaf", false, inter, interKey)
	other, otherKey := cert(t, "attacker", true, nil, nil)
	forged, _ := cert(t, "forged leaf", false, other, otherKey)
	roots := x509.NewCertPool()
	roots.AddCert(root)

	for _, tc := range []struct {
		name   string
		chain  []*x509.Certificate
		host   string
		thumbs []string
		roots  *x509.CertPool
		ok     bool
	}{
		{name: "top intermediate thumbprinted", chain: []*x509.Certificate{leaf, inter}, host: "127.0.0.1", thumbs: []string{Thumbprint(inter)}, ok: true},
		{name: "root presented and thumbprinted", chain: []*x509.Certificate{leaf, inter, root}, host: "127.0.0.1", thumbs: []string{Thumbprint(root)}, ok: true},
		{name: "leaf's own thumbprint is not the top", chain: []*x509.Certificate{leaf, inter}, host: "127.0.0.1", thumbs: []string{Thumbprint(leaf)}},
		{name: "thumbprinted CA appended to a forged leaf", chain: []*x509.Certificate{forged, inter}, host: "127.0.0.1", thumbs: []string{Thumbprint(inter)}},
		{name: "wrong host", chain: []*x509.Certificate{leaf, inter}, host: "127.0.0.2", thumbs: []string{Thumbprint(inter)}},
		{name: "trusted roots", chain: []*x509.Certificate{leaf, inter}, host: "127.0.0.1", roots: roots, ok: true},
		{name: "trusted roots, wrong host", chain: []*x509.Certificate{leaf, inter}, host: "localhost", roots: roots},
		{name: "no certificate", host: "127.0.0.1", thumbs: []string{Thumbprint(inter)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := verifyChain(tc.chain, tc.host, tc.thumbs, tc.roots)
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrUntrustedCertificate) || !errors.Is(err, ErrCommunication) {
				t.Fatalf("verifyChain: %v, want an untrusted-certificate error", err)
			}
		})
	}
}
