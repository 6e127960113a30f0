package client

import (
	"context"
	"crypto/subtle"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// urlCache keeps a Dialer's last openTunnel URL made without a nonce
// (PresignURL), for the second it was signed in. Such a URL is signed to
// the second and carries no nonce, so another open in the same second to
// the same target, with the same credentials and region, would presign
// the very same bytes again: in a burst of opens through one client
// (--local-port) that signing, the SDK's and the strings around it, was
// ~5 % of the client's CPU. The URL returned is exactly what PresignURL
// returns for those inputs; a URL with a nonce (PresignUniqueURL) is
// never cached, as each must differ.
type urlCache struct {
	mu  sync.Mutex
	key urlKey
	url string // "" until one is cached
}

// urlKey is everything PresignURL's bytes depend on: the credentials that
// sign (their expiry is not in the URL), the region, the target and the
// signing second. The secret is compared in constant time (same), as
// every secret in Postern is, although both sides are this process's own
// credentials.
type urlKey struct {
	accessKeyID, secretAccessKey, sessionToken string
	region                                     string
	target                                     Target
	second                                     int64
}

// same reports whether k and o are the same inputs, the secret compared in
// constant time.
func (k urlKey) same(o urlKey) bool {
	secretEqual := subtle.ConstantTimeCompare([]byte(k.secretAccessKey), []byte(o.secretAccessKey)) == 1
	k.secretAccessKey, o.secretAccessKey = "", ""
	return k == o && secretEqual
}

// get returns PresignURL's URL for these inputs, from the cache when the
// last one made was for the same ones.
func (c *urlCache) get(ctx context.Context, creds aws.Credentials, region string, t Target, now time.Time) (string, error) {
	k := urlKey{
		accessKeyID:     creds.AccessKeyID,
		secretAccessKey: creds.SecretAccessKey,
		sessionToken:    creds.SessionToken,
		region:          region,
		target:          t,
		second:          now.Unix(),
	}
	c.mu.Lock()
	if c.url != "" && c.key.same(k) {
		u := c.url
		c.mu.Unlock()
		return u, nil
	}
	c.mu.Unlock()
	// Signed outside the lock: opens to other targets or seconds do not
	// wait for each other's signing. Two opens that miss at once both
	// sign (the same bytes); the last to finish is kept.
	u, err := PresignURL(ctx, creds, region, t, now)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	c.key, c.url = k, u
	c.mu.Unlock()
	return u, nil
}
