package server

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/postern/postern/internal/agent"
	"github.com/postern/postern/internal/eicapi"
	"github.com/postern/postern/internal/httpedge"
	"github.com/postern/postern/internal/sshkeys"
	"github.com/postern/postern/internal/store"
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

// keySource reads an instance's user's unexpired pushed keys.
func (s *Server) keySource(ctx context.Context, instanceID, user string) ([]sshkeys.Entry, error) {
	keys, err := s.Store.ListPushedKeys(ctx, instanceID, user, time.Now())
	if err != nil {
		return nil, err
	}
	return eicapi.Entries(keys), nil
}

// authorizeKeys lets an agent read the keys of its own VPC's instances,
// and this host read those of the local network when the embedded agent
// serves it.
func (s *Server) authorizeKeys(r *http.Request, instanceID string) error {
	ctx := r.Context()
	inst, err := s.Store.GetInstance(ctx, instanceID)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("unknown instance %s", instanceID)
	}
	if err != nil {
		return err
	}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		a, err := s.Store.GetAgentByKey(ctx, agent.KeyFingerprint(r.TLS.PeerCertificates[0]))
		if err != nil || !a.RevokedAt.IsZero() {
			return errors.New("not a known, unrevoked agent")
		}
		ep, err := s.Store.GetEndpoint(ctx, a.EndpointID)
		if err != nil || ep.VpcID != inst.VpcID {
			return errors.New("the instance is not in the agent's VPC")
		}
		httpedge.Trust(ctx)
		return nil
	}
	if s.Local.EndpointID != "" && inst.VpcID == s.Local.VpcID && isLoopback(r.RemoteAddr) {
		httpedge.Trust(ctx)
		return nil
	}
	return errors.New("only endpoint agents, or this host for its local network, may read pushed keys")
}

func isLoopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return false
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}
