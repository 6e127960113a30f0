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
	"net/url"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/postern/postern/internal/wire/tunnelproto"
)

// A server that refuses every URL as used already (tunnelproto.HeaderReplay
// on each refusal, as a misbehaving or hostile one may) gets each open
// tried at most twice: the AWS CLI's URL, then once more with a nonce; the
// Dialer's later opens send one URL, with a nonce, and are not retried.
// The caller gets the server's refusal, never a loop.
func TestReplayRefusalRetriedOnce(t *testing.T) {
	urls := make(chan string, 16) // the query of each upgrade request, in order
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case urls <- r.URL.RawQuery:
		default:
			t.Error("more upgrade requests than the test allows for")
		}
		w.Header().Set(tunnelproto.HeaderReplay, "refused")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		_, _ = io.WriteString(w, `{"ErrorCode":"AccessDeniedException","Message":"presigned URL used already"}`)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	d := &Dialer{TLS: &tls.Config{RootCAs: roots}, DialAddr: srv.Listener.Addr().String(),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""),
		Region:      "us-east-1"}
	tg := Target{InstanceID: "i-0123456789abcdef0", EndpointID: "eice-0123456789abcdef0", DNSName: "example.com",
		PrivateIP: "10.0.0.5", RemotePort: 22}

	for i, wantNonces := range [][]bool{{false, true}, {true}, {true}} {
		_, err := d.Dial(context.Background(), tg)
		var refused *RefusedError
		if !errors.As(err, &refused) || refused.Status != http.StatusForbidden || refused.ErrorCode != "AccessDeniedException" {
			t.Fatalf("open %d: %v, want the server's AccessDeniedException refusal", i+1, err)
		}
		// The handler queued each request before it answered, and Dial
		// returned after the last answer: the queue holds every request.
		var got []bool
		for len(urls) > 0 {
			q := <-urls
			got = append(got, containsParam(q, NonceParam))
		}
		if len(got) != len(wantNonces) {
			t.Fatalf("open %d: %d upgrade requests (with a nonce: %v), want %d (%v)", i+1, len(got), got, len(wantNonces), wantNonces)
		}
		for j := range got {
			if got[j] != wantNonces[j] {
				t.Fatalf("open %d: requests with a nonce %v, want %v", i+1, got, wantNonces)
			}
		}
	}
}

// containsParam tells whether the raw query q has parameter name.
func containsParam(q, name string) bool {
	v, err := url.ParseQuery(q)
	return err == nil && v.Has(name)
}
