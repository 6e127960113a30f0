package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go/logging"

	"github.com/postern/postern/internal/wire/tunnelproto"
)

// signCounter counts the SDK signer's signings (its LogSigning log lines).
type signCounter struct{ n atomic.Int64 }

func (c *signCounter) Logf(logging.Classification, string, ...any) { c.n.Add(1) }

// countSignings makes presign's signer count its signings until the test
// ends. The SDK's signers keep the key derived for an access key id and a
// day whatever the secret, so these tests use access key ids of their own.
func countSignings(t *testing.T) *signCounter {
	c := &signCounter{}
	old := presigner
	presigner = v4.NewSigner(func(o *v4.SignerOptions) { o.Logger, o.LogSigning = c, true })
	t.Cleanup(func() { presigner = old })
	return c
}

// A Dialer's opens in the same second, to the same target with the same
// credentials and region, send the same URL (the AWS CLI's: signed to
// the second, no nonce), now signed once: the second open reuses the
// first's URL. Another second, other credentials, another region or
// another target sign anew, and each URL is exactly PresignURL's.
func TestDialPresignsOncePerSecond(t *testing.T) {
	var mu sync.Mutex
	var seen []string // each upgrade request's query, in order
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.RawQuery)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		_, _ = io.WriteString(w, `{"ErrorCode":"AccessDeniedException","Message":"no"}`)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())

	t0 := time.Date(2026, 12, 6, 23, 0, 5, 100e6, time.UTC)
	creds := aws.Credentials{AccessKeyID: "AKIDQFCACHE1", SecretAccessKey: "secret", SessionToken: "token"}
	other := creds
	other.SessionToken = "token2"
	tg := Target{InstanceID: "i-0123456789abcdef0", EndpointID: "eice-0123456789abcdef0", DNSName: "example.com",
		PrivateIP: "10.0.0.5", RemotePort: 22}
	tg2 := tg
	tg2.RemotePort = 3389
	type open struct {
		now    time.Time
		creds  aws.Credentials
		region string
		target Target
	}
	same := open{t0, creds, "us-east-1", tg}
	cases := []struct {
		name  string
		opens []open
		signs int64
	}{
		{"same second", []open{same, {t0.Add(800 * time.Millisecond), creds, "us-east-1", tg}}, 1},
		{"next second", []open{same, {t0.Add(900 * time.Millisecond), creds, "us-east-1", tg}}, 2},
		{"other credentials", []open{same, {t0, other, "us-east-1", tg}}, 2},
		{"other region", []open{same, {t0, creds, "eu-west-1", tg}}, 2},
		{"other target", []open{same, {t0, creds, "us-east-1", tg2}}, 2},
		{"back and forth", []open{same, {t0, other, "us-east-1", tg}, same, same}, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var want []string
			for _, o := range c.opens {
				u, err := PresignURL(context.Background(), o.creds, o.region, o.target, o.now)
				if err != nil {
					t.Fatal(err)
				}
				want = append(want, u[len("wss://example.com/openTunnel?"):])
			}
			mu.Lock()
			seen = nil
			mu.Unlock()
			signs := countSignings(t)
			var cur open
			d := &Dialer{TLS: &tls.Config{RootCAs: roots}, DialAddr: srv.Listener.Addr().String(),
				Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return cur.creds, nil }),
				Now:         func() time.Time { return cur.now }}
			for i, o := range c.opens {
				cur = o
				d.Region = o.region
				var refused *RefusedError
				if _, err := d.Dial(context.Background(), o.target); !errors.As(err, &refused) {
					t.Fatalf("open %d: %v, want the server's refusal", i+1, err)
				}
			}
			if got := signs.n.Load(); got != c.signs {
				t.Errorf("%d signings for %d opens, want %d", got, len(c.opens), c.signs)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(seen) != len(want) {
				t.Fatalf("%d upgrade requests, want %d", len(seen), len(want))
			}
			for i := range want {
				if seen[i] != want[i] {
					t.Errorf("open %d's URL\n got %s\nwant %s", i+1, seen[i], want[i])
				}
			}
		})
	}
}

// URLs with a nonce (once a server refused a URL as used already) are
// never reused: each open signs its own, even in the same second.
func TestDialUniqueURLsNotCached(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.RawQuery)
		mu.Unlock()
		w.Header().Set(tunnelproto.HeaderReplay, "refused")
		w.WriteHeader(http.StatusForbidden)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	now := time.Date(2026, 12, 6, 23, 0, 5, 0, time.UTC)
	d := &Dialer{TLS: &tls.Config{RootCAs: roots}, DialAddr: srv.Listener.Addr().String(),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDQFCACHE2", SecretAccessKey: "secret"}, nil
		}),
		Region: "us-east-1", Now: func() time.Time { return now }}
	tg := Target{EndpointID: "eice-1", DNSName: "example.com", PrivateIP: "10.0.0.5", RemotePort: 22}
	signs := countSignings(t)
	for range 3 {
		if _, err := d.Dial(context.Background(), tg); err == nil {
			t.Fatal("Dial succeeded, want the server's refusal")
		}
	}
	// The first open: the AWS CLI's URL, then one with a nonce; the
	// others: one with a nonce each.
	if got := signs.n.Load(); got != 4 {
		t.Errorf("%d signings, want 4", got)
	}
	mu.Lock()
	defer mu.Unlock()
	uniq := map[string]bool{}
	for _, q := range seen {
		uniq[q] = true
	}
	if len(seen) != 4 || len(uniq) != 4 {
		t.Errorf("%d upgrade requests, %d different, want 4 and 4", len(seen), len(uniq))
	}
}
