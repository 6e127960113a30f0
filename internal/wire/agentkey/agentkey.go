// Package agentkey names the keys both ends of an agent's link agree on:
// the fingerprint by which the server recognises an agent (its public key)
// and the fingerprint of the server's CA that a join token pins. The agent
// computes them when it joins and connects; the server when it issues a
// join token and authenticates an agent. The same CA fingerprint, with
// colons, is what people compare by eye: `postern server` prints it and
// `postern configure --server` prints it for the CA it fetched
// (DisplayFingerprint). The package is pure.
package agentkey

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
)

// KeyFingerprint is the hex SHA-256 of a certificate's public key (PKIX
// DER): how the server recognises an agent.
func KeyFingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return hex.EncodeToString(sum[:])
}

// CertFingerprint is the hex SHA-256 of a certificate (DER): the CA pin of
// a join token.
func CertFingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// DisplayFingerprint is CertFingerprint with a colon between bytes
// ("ab:cd:…"): the form `postern server` prints for its CA and
// `postern configure --server` prints for the CA it fetched, so that a
// person comparing the two compares the same text.
func DisplayFingerprint(cert *x509.Certificate) string {
	h := CertFingerprint(cert)
	out := make([]byte, 0, len(h)+len(h)/2)
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			out = append(out, ':')
		}
		out = append(out, h[i], h[i+1])
	}
	return string(out)
}
