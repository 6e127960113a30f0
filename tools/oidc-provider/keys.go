package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"
)

// signingKey is the provider's ID-token key, made fresh at every start.
// It serves as op.SigningKey (private) and, through public, as op.Key.
type signingKey struct {
	id   string
	alg  jose.SignatureAlgorithm
	priv any // *rsa.PrivateKey or *ecdsa.PrivateKey
	pub  any
}

func newSigningKey(alg string) (*signingKey, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("key id: %w", err)
	}
	k := &signingKey{id: hex.EncodeToString(b[:]), alg: jose.SignatureAlgorithm(alg)}
	switch alg {
	case "RS256":
		priv, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, fmt.Errorf("rsa key: %w", err)
		}
		k.priv, k.pub = priv, &priv.PublicKey
	case "ES256":
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("ecdsa key: %w", err)
		}
		k.priv, k.pub = priv, &priv.PublicKey
	default:
		return nil, fmt.Errorf("alg %q: want RS256 or ES256", alg)
	}
	return k, nil
}

func (k *signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return k.alg }
func (k *signingKey) Key() any                                    { return k.priv }
func (k *signingKey) ID() string                                  { return k.id }

// publicKey is the JWKS entry of a signingKey.
type publicKey struct{ k *signingKey }

func (p publicKey) ID() string                         { return p.k.id }
func (p publicKey) Algorithm() jose.SignatureAlgorithm { return p.k.alg }
func (p publicKey) Use() string                        { return "sig" }
func (p publicKey) Key() any                           { return p.k.pub }
