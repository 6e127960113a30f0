package cli

import (
	"crypto/tls"
	"net/http"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"

	"github.com/postern/postern/internal/client"
)

// The tunnel's Dialer asks the cache whether a session is the name's own
// before it offers the classical key exchange alone (client.OwnSessions).
var _ client.OwnSessions = (*sharedSessions)(nil)

// sharedSessions is a TLS session cache for one command's connections that
// share one trust (the same tls.Config roots): the API calls of
// open-tunnel's look-up and its tunnels. A name it holds no session for
// gets the latest session of another name: Postern serves the API and the
// endpoints' DNS names on one listener with one certificate, so the
// tunnel's handshake resumes the look-up's session instead of a full one
// (no certificate signature by the server, no chain verification by the
// client). crypto/tls uses a session for a name only when the session's
// verified certificate is valid for that name; otherwise it makes a full
// handshake, as without the cache.
type sharedSessions struct {
	mu     sync.Mutex
	byName tls.ClientSessionCache
	last   *tls.ClientSessionState
}

func newSharedSessions() *sharedSessions {
	return &sharedSessions{byName: tls.NewLRUClientSessionCache(16)}
}

func (c *sharedSessions) Get(key string) (*tls.ClientSessionState, bool) {
	if s, ok := c.byName.Get(key); ok {
		return s, true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last, c.last != nil
}

// HasOwn tells whether the cache holds a session stored for key itself,
// not one it would lend from another name (client.OwnSessions).
func (c *sharedSessions) HasOwn(key string) bool {
	s, ok := c.byName.Get(key)
	return ok && s != nil
}

func (c *sharedSessions) Put(key string, s *tls.ClientSessionState) {
	c.byName.Put(key, s)
	if s != nil {
		c.mu.Lock()
		c.last = s
		c.mu.Unlock()
	}
}

// withSessionCache returns cfg with its SDK HTTP client's TLS sessions
// kept in cache, and whether it could (an HTTP client of another kind is
// left as it is).
func withSessionCache(cfg aws.Config, cache tls.ClientSessionCache) (aws.Config, bool) {
	bc, ok := cfg.HTTPClient.(*awshttp.BuildableClient)
	if !ok {
		return cfg, false
	}
	cfg.HTTPClient = bc.WithTransportOptions(func(t *http.Transport) {
		if t.TLSClientConfig == nil {
			t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		t.TLSClientConfig.ClientSessionCache = cache
	})
	return cfg, true
}
