package client_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/testutil/goroutines"
)

// TestDialURLUpgradeEnds: an upgrade the server never answers ends with
// the context: cancelled (context.Canceled) or past its deadline
// (context.DeadlineExceeded), the connection closed (the server sees it
// go). While it waits, no goroutine watches the context for it (the
// WebSocket library's Dial started one per tunnel; the upgrade now puts a
// deadline on the connection instead).
func TestDialURLUpgradeEnds(t *testing.T) {
	cases := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		// end ends the wait once the server has the request (nil: the
		// context's deadline does).
		cancel bool
		want   error
	}{
		{"cancelled", func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) }, true, context.Canceled},
		{"deadline", func() (context.Context, context.CancelFunc) {
			// Long enough for the TLS handshake and the request to reach
			// the server on a loaded machine under -race (300 ms did not
			// always), short enough for a unit test.
			return context.WithTimeout(context.Background(), 2*time.Second)
		}, false, context.DeadlineExceeded},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			seen, gone := make(chan struct{}), make(chan struct{})
			srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				close(seen)
				<-r.Context().Done() // the client closed the connection
				close(gone)
			}))
			defer srv.Close()
			d := &client.Dialer{Credentials: credentials.NewStaticCredentialsProvider("AKIAEXAMPLE", "secret", ""), Region: "us-east-1",
				TLS: &tls.Config{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}}
			addr := strings.TrimPrefix(srv.URL, "https://")
			ctx, cancel := c.ctx()
			defer cancel()
			errc := make(chan error, 1)
			go func() {
				tun, err := d.DialURL(ctx, "wss://"+addr+"/openTunnel?x=1", addr)
				if tun != nil {
					tun.Close()
				}
				errc <- err
			}()
			var err error
			ended := false
			select {
			case <-seen:
			case err = <-errc:
				// Only the deadline can end the dial first: on a starved
				// machine it may come before the request reached the
				// server (handshake and request slower than 2 s). The
				// dial ends with the context's error all the same.
				if c.cancel {
					t.Fatalf("DialURL returned %v before its request reached the server", err)
				}
				ended = true
			case <-time.After(10 * time.Second):
				t.Fatal("the upgrade request never reached the server")
			}
			if !ended {
				if w := goroutines.Running(t, "setupContextDeadliner"); len(w) > 0 {
					t.Errorf("a goroutine watches the upgrade's context:\n%s", w[0])
				}
				if c.cancel {
					cancel()
				}
				select {
				case err = <-errc:
				case <-time.After(10 * time.Second):
					t.Fatal("DialURL did not return once its context ended")
				}
			}
			if !errors.Is(err, c.want) {
				t.Errorf("DialURL: %v, want %v", err, c.want)
			}
			if !ended {
				select {
				case <-gone:
				case <-time.After(10 * time.Second):
					t.Error("the server's connection was not closed")
				}
			}
		})
	}
}
