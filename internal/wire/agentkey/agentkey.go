// Package agentkey names the keys both ends of an agent's link agree on:
// the fingerprint by which the server recognises an agent (its public key)
// and the fingerprint of the server's CA that a join token pins. The agent
// computes them when it joins and connects; the server when it issues a
// join token and authenticates an agent. The package is pure.
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
