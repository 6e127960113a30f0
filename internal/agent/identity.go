package agent

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/postern/postern/internal/util/atomicfile"
	"github.com/postern/postern/internal/wire/agentkey"
)

// Files in the agent's state directory.
const (
	stateFile  = "agent.json"
	keyFile    = "agent-key.pem"
	certFile   = "agent-cert.pem"
	serverCA   = "server-ca.pem"
	stateModes = 0o600
)

// Identity is what an agent keeps between runs: who it is, which endpoint
// it serves, where the server is and how to recognise it, and its key.
type Identity struct {
	AgentID    string   `json:"agentId"`
	EndpointID string   `json:"endpointId"`
	VpcID      string   `json:"vpcId"`
	Server     string   `json:"server"` // host:port
	VpcCIDRs   []string `json:"vpcCidrs"`

	// Cert is the agent's TLS client certificate (self-signed over its
	// key); CA is the server's CA, pinned at join time.
	Cert tls.Certificate   `json:"-"`
	CA   *x509.Certificate `json:"-"`
}

// NewKey makes the agent's key pair and a self-signed client certificate
// over it. The server identifies the agent by the key's fingerprint; the
// certificate only carries the key through TLS.
func NewKey(name string, now time.Time) (tls.Certificate, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "postern-agent " + name},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(20, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv, Leaf: leaf}, nil
}

// Save writes the identity into dir (created with mode 0700), each file
// mode 0600, atomically.
func (id *Identity) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("agent: state directory: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(id.Cert.PrivateKey)
	if err != nil {
		return fmt.Errorf("agent: encode key: %w", err)
	}
	meta, err := json.MarshalIndent(id, "", "  ")
	if err != nil {
		return err
	}
	files := []struct {
		name string
		data []byte
	}{
		{keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})},
		{certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: id.Cert.Certificate[0]})},
		{serverCA, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: id.CA.Raw})},
		{stateFile, append(meta, '\n')}, // last: its presence means the rest is there
	}
	for _, f := range files {
		if err := writeAtomic(filepath.Join(dir, f.name), f.data); err != nil {
			return fmt.Errorf("agent: save %s: %w", f.name, err)
		}
	}
	return nil
}

// ErrNoIdentity means the state directory holds no identity yet (the agent
// has not joined).
var ErrNoIdentity = errors.New("agent: not joined yet")

// LoadIdentity reads the identity Save wrote.
func LoadIdentity(dir string) (*Identity, error) {
	meta, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoIdentity
	}
	if err != nil {
		return nil, fmt.Errorf("agent: read state: %w", err)
	}
	id := &Identity{}
	if err := json.Unmarshal(meta, id); err != nil {
		return nil, fmt.Errorf("agent: %s: %w", stateFile, err)
	}
	if id.AgentID == "" || id.EndpointID == "" || id.Server == "" {
		return nil, fmt.Errorf("agent: %s is incomplete", filepath.Join(dir, stateFile))
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, certFile), filepath.Join(dir, keyFile))
	if err != nil {
		return nil, fmt.Errorf("agent: load key: %w", err)
	}
	id.Cert = cert
	caPEM, err := os.ReadFile(filepath.Join(dir, serverCA))
	if err != nil {
		return nil, fmt.Errorf("agent: read server CA: %w", err)
	}
	block, _ := pem.Decode(caPEM)
	if block == nil {
		return nil, fmt.Errorf("agent: %s holds no certificate", serverCA)
	}
	if id.CA, err = x509.ParseCertificate(block.Bytes); err != nil {
		return nil, fmt.Errorf("agent: parse server CA: %w", err)
	}
	return id, nil
}

// writeAtomic replaces path with data, of mode stateModes (see package
// atomicfile).
func writeAtomic(path string, data []byte) error {
	return atomicfile.WriteFile(path, data, stateModes)
}

// pinnedVerifier returns a tls.Config.VerifyConnection function that
// accepts the server only if its chain contains the certificate whose
// fingerprint is pin and the leaf chains to it for host. It records the
// pinned certificate in *found.
func pinnedVerifier(pin, host string, found **x509.Certificate) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("server sent no certificate")
		}
		var root *x509.Certificate
		for _, c := range cs.PeerCertificates {
			if agentkey.CertFingerprint(c) == pin {
				root = c
			}
		}
		if root == nil {
			return fmt.Errorf("server certificate does not chain to the CA pinned in the join token (sha256 %s)", pin)
		}
		leaf := cs.PeerCertificates[0]
		if leaf != root {
			roots := x509.NewCertPool()
			roots.AddCert(root)
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			if _, err := leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: roots, Intermediates: inter}); err != nil {
				return fmt.Errorf("server certificate: %w", err)
			}
		}
		*found = root
		return nil
	}
}
