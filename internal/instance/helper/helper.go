// Package helper is the instance helper, `postern authorized-keys`: sshd
// runs it as its AuthorizedKeysCommand (`-- %u %f`, as an unprivileged user)
// to learn which keys pushed with SendSSHPublicKey it may accept now. It
// asks a key service on the private network (an endpoint agent's, or the
// server's own in the one-machine run) for the instance's keys for that
// user, and prints only the entries whose server signature verifies, that
// name this instance and user, that have not expired and, when sshd says
// which key is offered, that are that key. Any failure prints nothing:
// the helper fails closed.
package helper

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	"github.com/postern/postern/internal/wire/keyservice"
	"github.com/postern/postern/internal/wire/sshkeys"
)

// DefaultConfigPath is where `postern instance init` writes the config.
const DefaultConfigPath = "/etc/postern/instance.json"

// Timeout bounds a lookup: sshd waits for its AuthorizedKeysCommand, and
// AWS's own helper runs under a 5-second timeout.
const Timeout = 3 * time.Second

// Config is the helper's configuration: no secret in it, readable by the
// unprivileged user sshd runs the helper as.
type Config struct {
	InstanceID string `json:"instanceId"`
	KeysURL    string `json:"keysUrl"`   // https://host:port of a key service
	SignerKey  string `json:"signerKey"` // the server's public signing key, authorized_keys form
}

var instanceRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^i-[0-9a-zA-Z]{1,32}$`) })

// Validate checks a configuration and returns the signer key.
func (c Config) Validate() (ed25519.PublicKey, error) {
	if !instanceRe().MatchString(c.InstanceID) {
		return nil, fmt.Errorf("instance id %q is not an instance id (i-…)", c.InstanceID)
	}
	u, err := url.Parse(c.KeysURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("keys URL %q must be https://host:port", c.KeysURL)
	}
	return sshkeys.ParseSigner(c.SignerKey)
}

// Load reads a configuration file.
func Load(path string) (Config, error) {
	var c Config
	b, err := os.ReadFile(path)
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Save writes a configuration file (mode 0644: sshd runs the helper as an
// unprivileged user, and nothing in it is secret).
func Save(path string, c Config) error {
	if _, err := c.Validate(); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(c, "", "  ")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Client is the HTTPS client for key services. It does not verify the
// service's certificate: agents use self-signed ones, and what is trusted
// is each entry's signature by the server's key, checked in Keys, which no
// one on the path can forge.
func Client() *http.Client {
	return &http.Client{Timeout: Timeout, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: true}, //nolint:gosec // entries are signed
	}}
}

// Keys returns the authorized_keys lines sshd may accept for user now
// (fingerprint: sshd's %f, or ""), with a reason for each entry refused
// (for the log).
func Keys(ctx context.Context, c Config, hc *http.Client, user, fingerprint string, now time.Time) (lines []string, refused []error, err error) {
	signer, err := c.Validate()
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	entries, err := keyservice.Fetch(ctx, hc, c.KeysURL, c.InstanceID, user)
	if err != nil {
		return nil, nil, err
	}
	for _, e := range entries {
		line, err := sshkeys.Check(signer, e, c.InstanceID, user, now, fingerprint)
		if err != nil {
			refused = append(refused, fmt.Errorf("key pushed by %s (request %s): %w", e.Caller, e.RequestID, err))
			continue
		}
		lines = append(lines, line)
	}
	return lines, refused, nil
}

// Run is the AuthorizedKeysCommand: it prints the accepted lines to out and
// returns an error (printing nothing) when the lookup fails.
func Run(ctx context.Context, configPath, user, fingerprint string, out, log io.Writer) error {
	c, err := Load(configPath)
	if err != nil {
		return fmt.Errorf("postern authorized-keys: %w", err)
	}
	lines, refused, err := Keys(ctx, c, Client(), user, fingerprint, time.Now())
	if err != nil {
		return fmt.Errorf("postern authorized-keys: %s: %w", c.InstanceID, err)
	}
	for _, r := range refused {
		fmt.Fprintf(log, "postern authorized-keys: refused %v\n", r)
	}
	for _, l := range lines {
		if _, err := fmt.Fprintln(out, l); err != nil {
			return err
		}
	}
	return nil
}

// SSHDConfig returns the sshd_config lines that run the helper. sshd's
// tokens come after "--": a user name such as "--help" or "--config=…"
// (sshd passes any name its user database knows) is then an argument, never
// a flag.
func SSHDConfig(exe, configPath, runAs string) string {
	cmd := exe + " authorized-keys"
	if configPath != DefaultConfigPath {
		cmd += " --config " + configPath
	}
	return fmt.Sprintf("AuthorizedKeysCommand %s -- %%u %%f\nAuthorizedKeysCommandUser %s\n", cmd, runAs)
}

// ErrNoUser is returned when sshd gave no user.
var ErrNoUser = errors.New("postern authorized-keys: no user given (sshd passes %u)")
