package cli

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

// TestSharedSessionsResumeAcrossNames: with sharedSessions, a connection
// to another name of the same server (one certificate for both, one
// trust) resumes the first connection's TLS session; with a cache keyed
// by name alone it does not; a name the session's certificate does not
// cover is not given it (the handshake fails verification as without a
// cache, instead of resuming).
func TestSharedSessionsResumeAcrossNames(t *testing.T) {
	resumed := make(chan bool, 8)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resumed <- r.TLS.DidResume
	}))
	srv.StartTLS()
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate()) // valid for example.com and 127.0.0.1
	get := func(cache tls.ClientSessionCache, name string) (bool, error) {
		tr := &http.Transport{DisableKeepAlives: true, TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: name, ClientSessionCache: cache}}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr}).Get(srv.URL)
		if err != nil {
			return false, err
		}
		_, _ = io.Copy(io.Discard, resp.Body) // the session ticket arrives after the handshake
		resp.Body.Close()
		return <-resumed, nil
	}
	cases := []struct {
		name       string
		cache      func() tls.ClientSessionCache
		second     string
		wantResume bool
		wantErr    bool
	}{
		{"shared, another name of the certificate", func() tls.ClientSessionCache { return newSharedSessions() }, "127.0.0.1", true, false},
		{"shared, the same name", func() tls.ClientSessionCache { return newSharedSessions() }, "example.com", true, false},
		{"by name only, another name", func() tls.ClientSessionCache { return tls.NewLRUClientSessionCache(4) }, "127.0.0.1", false, false},
		{"shared, a name the certificate does not cover", func() tls.ClientSessionCache { return newSharedSessions() }, "other.test", false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cache := c.cache()
			if r, err := get(cache, "example.com"); err != nil || r {
				t.Fatalf("first connection: resumed %v, error %v", r, err)
			}
			r, err := get(cache, c.second)
			if (err != nil) != c.wantErr {
				t.Fatalf("second connection to %s: error %v, want an error: %v", c.second, err, c.wantErr)
			}
			if r != c.wantResume {
				t.Errorf("second connection to %s resumed: %v, want %v", c.second, r, c.wantResume)
			}
		})
	}
}

// TestWithSessionCache: the SDK client's transport and the tunnel's TLS
// settings (tlsConfigOf) both use the cache, and keep the trust they had.
func TestWithSessionCache(t *testing.T) {
	roots := x509.NewCertPool()
	base := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.TLSClientConfig = &tls.Config{RootCAs: roots}
	})
	cache := newSharedSessions()
	cfg, ok := withSessionCache(aws.Config{HTTPClient: base}, cache)
	if !ok {
		t.Fatal("a BuildableClient was not given the cache")
	}
	got := cfg.HTTPClient.(*awshttp.BuildableClient).GetTransport().TLSClientConfig
	if got.ClientSessionCache != cache || got.RootCAs != roots {
		t.Errorf("the SDK transport's TLS settings: cache %v, roots kept %v", got.ClientSessionCache == cache, got.RootCAs == roots)
	}
	if tc := tlsConfigOf(cfg, false); tc.ClientSessionCache != cache || tc.RootCAs != roots {
		t.Errorf("the tunnel's TLS settings: cache %v, roots kept %v", tc.ClientSessionCache == cache, tc.RootCAs == roots)
	}
	if _, ok := withSessionCache(aws.Config{HTTPClient: http.DefaultClient}, cache); ok {
		t.Error("an http.Client was said to take the cache")
	}
}
