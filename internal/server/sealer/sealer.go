// Package sealer encrypts secrets at rest. Postern keeps secret access keys
// in its database only in sealed form (AES-256-GCM); the key that seals them
// lives in a separate file outside the database, so a copy of the database
// alone reveals no secret.
package sealer

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// KeySize is the length of a sealing key in bytes (AES-256).
const KeySize = 32

// version prefixes every sealed value so the format can change later.
const version byte = 1

// ErrOpen means a sealed value could not be opened: it was tampered with,
// truncated, or sealed with another key.
var ErrOpen = errors.New("sealer: cannot open sealed value")

// Sealer seals and opens secrets with one key. It is safe for concurrent use.
type Sealer struct {
	aead cipher.AEAD
}

// New returns a Sealer for a 32-byte key.
func New(key []byte) (*Sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("sealer: key is %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("sealer: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("sealer: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// LoadOrCreateKeyFile reads a base64 key from path, or creates the file
// (mode 0600) with a new random key when it does not exist. created reports
// whether a new key was made.
func LoadOrCreateKeyFile(path string) (key []byte, created bool, err error) {
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		key, err = base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
		if err != nil || len(key) != KeySize {
			return nil, false, fmt.Errorf("sealer: %s does not hold a base64 %d-byte key", path, KeySize)
		}
		return key, false, nil
	case errors.Is(err, fs.ErrNotExist):
		key = make([]byte, KeySize)
		if _, err := rand.Read(key); err != nil {
			return nil, false, fmt.Errorf("sealer: generate key: %w", err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, false, fmt.Errorf("sealer: create key file: %w", err)
		}
		_, werr := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
		serr := f.Sync()
		cerr := f.Close()
		if err := errors.Join(werr, serr, cerr); err != nil {
			return nil, false, fmt.Errorf("sealer: write key file: %w", err)
		}
		return key, true, nil
	default:
		return nil, false, fmt.Errorf("sealer: read key file: %w", err)
	}
}

// Seal encrypts plaintext. The additional data binds the sealed value to
// its context (for example the access key id), so a sealed secret copied to
// another record does not open.
func (s *Sealer) Seal(plaintext, additional []byte) ([]byte, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("sealer: nonce: %w", err)
	}
	out := make([]byte, 0, 1+len(nonce)+len(plaintext)+s.aead.Overhead())
	out = append(out, version)
	out = append(out, nonce...)
	return s.aead.Seal(out, nonce, plaintext, additional), nil
}

// Open decrypts a value made by Seal with the same additional data.
func (s *Sealer) Open(sealed, additional []byte) ([]byte, error) {
	ns := s.aead.NonceSize()
	if len(sealed) < 1+ns+s.aead.Overhead() || sealed[0] != version {
		return nil, ErrOpen
	}
	pt, err := s.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], additional)
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}
