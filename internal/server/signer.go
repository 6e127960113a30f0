package server

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/postern/postern/internal/wire/sshkeys"
)

// Files of the SSH key signer in the data directory.
const (
	SignerKeyFile = "ssh-signer.key"
	SignerPubFile = "ssh-signer.pub"
)

// loadSigner loads the Ed25519 key that signs pushed SSH keys, making it
// on first start (mode 0600, beside the CA key), and writes its public
// half to SignerPubFile for `postern instance init --signer-key-file`.
func (s *Server) loadSigner() error {
	path := filepath.Join(s.Config.DataDir, SignerKeyFile)
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return err
		}
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			return err
		}
		if err := writeFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			return fmt.Errorf("server: write %s: %w", SignerKeyFile, err)
		}
		s.Created = append(s.Created, path)
		s.signer = priv
	case err != nil:
		return fmt.Errorf("server: read %s: %w", SignerKeyFile, err)
	default:
		block, _ := pem.Decode(b)
		if block == nil {
			return fmt.Errorf("server: %s holds no PEM key", path)
		}
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return fmt.Errorf("server: %s: %w", path, err)
		}
		priv, ok := k.(ed25519.PrivateKey)
		if !ok {
			return fmt.Errorf("server: %s is not an Ed25519 key", path)
		}
		s.signer = priv
	}
	pub := sshkeys.FormatSigner(s.signer.Public().(ed25519.PublicKey))
	return writeFileAtomic(filepath.Join(s.Config.DataDir, SignerPubFile), []byte(pub+"\n"), 0o644)
}

// SignerPublicKey is the signer's public key in authorized_keys form.
func (s *Server) SignerPublicKey() string {
	return sshkeys.FormatSigner(s.signer.Public().(ed25519.PublicKey))
}
