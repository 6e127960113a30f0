// Package pki makes the certificates Postern needs when the operator brings
// none: a private CA, kept in the data directory, and a server certificate
// it signs for the configured host names and addresses. Clients trust the
// CA through DIR/ca.pem; agents pin it through their join token.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// File names inside the data directory.
const (
	CAFile        = "ca.pem"
	CAKeyFile     = "ca-key.pem"
	ServerFile    = "server.pem"
	ServerKeyFile = "server-key.pem"
)

// Bundle is a loaded CA and server certificate.
type Bundle struct {
	CA        *x509.Certificate
	CAKey     crypto.Signer
	CAPEM     []byte
	ServerTLS tls.Certificate
	// Created lists the files this call wrote.
	Created []string
}

// LoadOrCreate loads the CA and server certificate from dir, creating what
// is missing. A server certificate whose names do not cover sans, or that
// expires within 30 days, is re-issued from the same CA.
func LoadOrCreate(dir string, sans []string, now time.Time) (*Bundle, error) {
	b := &Bundle{}
	caPath, caKeyPath := filepath.Join(dir, CAFile), filepath.Join(dir, CAKeyFile)
	ca, caKey, err := loadPair(caPath, caKeyPath)
	switch {
	case err == nil:
	case errors.Is(err, fs.ErrNotExist):
		ca, caKey, err = newCA(now)
		if err != nil {
			return nil, err
		}
		if err := writePair(caPath, caKeyPath, ca, caKey); err != nil {
			return nil, err
		}
		b.Created = append(b.Created, caPath, caKeyPath)
	default:
		return nil, err
	}
	b.CA, b.CAKey = ca, caKey
	b.CAPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})

	srvPath, srvKeyPath := filepath.Join(dir, ServerFile), filepath.Join(dir, ServerKeyFile)
	srv, srvKey, err := loadPair(srvPath, srvKeyPath)
	if err == nil && (!covers(srv, sans) || now.Add(30*24*time.Hour).After(srv.NotAfter) || srv.CheckSignatureFrom(ca) != nil) {
		err = fs.ErrNotExist // re-issue
	}
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		srv, srvKey, err = Issue(ca, caKey, sans, now, 397*24*time.Hour)
		if err != nil {
			return nil, err
		}
		if err := writePair(srvPath, srvKeyPath, srv, srvKey); err != nil {
			return nil, err
		}
		b.Created = append(b.Created, srvPath, srvKeyPath)
	}
	b.ServerTLS = tls.Certificate{Certificate: [][]byte{srv.Raw, ca.Raw}, PrivateKey: srvKey, Leaf: srv}
	return b, nil
}

// Issue signs a leaf certificate for sans (DNS names and IP addresses)
// valid for validity from now. It serves both as server and client
// certificate (agents authenticate with one).
func Issue(ca *x509.Certificate, caKey crypto.Signer, sans []string, now time.Time, validity time.Duration) (*x509.Certificate, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: generate key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: firstOr(sans, "postern")},
		NotBefore:    now.Add(-5 * time.Minute),
		NotAfter:     now.Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, s := range sans {
		if ip := net.ParseIP(s); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if s != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, s)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: sign certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: parse certificate: %w", err)
	}
	return cert, key, nil
}

func newCA(now time.Time) (*x509.Certificate, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: generate CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "Postern CA", Organization: []string{"Postern"}},
		NotBefore:             now.Add(-5 * time.Minute),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: create CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: parse CA: %w", err)
	}
	return cert, key, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return n
}

func firstOr(s []string, def string) string {
	if len(s) > 0 && s[0] != "" {
		return s[0]
	}
	return def
}

func covers(cert *x509.Certificate, sans []string) bool {
	for _, s := range sans {
		if ip := net.ParseIP(s); ip != nil {
			if !slices.ContainsFunc(cert.IPAddresses, ip.Equal) {
				return false
			}
		} else if !slices.Contains(cert.DNSNames, s) {
			return false
		}
	}
	return true
}

func loadPair(certPath, keyPath string) (*x509.Certificate, crypto.Signer, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, nil, err
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, nil, fmt.Errorf("pki: %s or %s is not PEM", certPath, keyPath)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: parse %s: %w", certPath, err)
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: parse %s: %w", keyPath, err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("pki: %s holds no signing key", keyPath)
	}
	return cert, signer, nil
}

func writePair(certPath, keyPath string, cert *x509.Certificate, key crypto.Signer) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("pki: marshal key: %w", err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return fmt.Errorf("pki: write key: %w", err)
	}
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o644); err != nil {
		return fmt.Errorf("pki: write certificate: %w", err)
	}
	return nil
}
