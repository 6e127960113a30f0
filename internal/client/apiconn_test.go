package client_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/internal/client"
)

// apiServer is a TLS server for APIClient's tests: it counts the
// connections it accepted and answers with serve.
type apiServer struct {
	*httptest.Server
	mu    sync.Mutex
	conns []string // client addresses, in order
}

func newAPIServer(t *testing.T, serve func(s *apiServer, w http.ResponseWriter, r *http.Request)) *apiServer {
	t.Helper()
	s := &apiServer{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { serve(s, w, r) }))
	s.Config.ConnState = func(c net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.mu.Lock()
			s.conns = append(s.conns, c.RemoteAddr().String())
			s.mu.Unlock()
		}
	}
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

func (s *apiServer) accepted() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.conns...)
}

// apiClient is an APIClient trusting s's certificate, with fallback (nil:
// one that fails the test).
func apiClient(t *testing.T, s *apiServer, fallback *recordingClient) *client.APIClient {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(s.Certificate())
	if fallback == nil {
		fallback = &recordingClient{t: t, fail: true}
	}
	return &client.APIClient{Dialer: &client.Dialer{TLS: &tls.Config{RootCAs: pool}}, Fallback: fallback}
}

// recordingClient is a Fallback that notes the requests it got.
type recordingClient struct {
	t    *testing.T
	fail bool
	mu   sync.Mutex
	got  []string
}

func (f *recordingClient) Do(req *http.Request) (*http.Response, error) {
	f.mu.Lock()
	f.got = append(f.got, req.URL.String())
	f.mu.Unlock()
	if f.fail {
		f.t.Errorf("the fallback got %s", req.URL)
	}
	return nil, errors.New("the fallback")
}

func post(t *testing.T, c *client.APIClient, ctx context.Context, u, body string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return c.Do(req)
}

// TestAPIClientKeepsOneConnection: calls whose answers are read to their
// end go over one connection; an answer closed before its end closes its
// connection (the next call makes a new one), and a request on a kept
// connection that the server closed as it came is sent once more on a
// new connection.
func TestAPIClientKeepsOneConnection(t *testing.T) {
	tests := []struct {
		name string
		// readAll: the first answer's body is read to its end, else one
		// byte of it and closed.
		readAll bool
		// dropSecond: the server closes the connection when the second
		// request comes on it, without an answer.
		dropSecond bool
		wantConns  int
	}{
		{name: "answers read to their end", readAll: true, wantConns: 1},
		{name: "an answer closed early", readAll: false, wantConns: 2},
		{name: "the kept connection closed as the request came", readAll: true, dropSecond: true, wantConns: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			calls := map[string]int{} // per connection
			s := newAPIServer(t, func(_ *apiServer, w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				mu.Lock()
				calls[r.RemoteAddr]++
				n := calls[r.RemoteAddr]
				mu.Unlock()
				if tc.dropSecond && n == 2 {
					c, _, err := http.NewResponseController(w).Hijack()
					if err == nil {
						_ = c.Close()
					}
					return
				}
				_, _ = io.WriteString(w, string(body)+strings.Repeat(".", 8<<10))
			})
			c := apiClient(t, s, nil)
			defer c.Close()
			for i, want := range []string{"one", "two"} {
				resp, err := post(t, c, context.Background(), s.URL+"/", want)
				if err != nil {
					t.Fatalf("call %d: %v", i+1, err)
				}
				b := make([]byte, 3)
				if _, err := io.ReadFull(resp.Body, b); err != nil || string(b) != want {
					t.Fatalf("call %d: answer %q, %v", i+1, b, err)
				}
				if tc.readAll || i > 0 {
					_, _ = io.Copy(io.Discard, resp.Body)
				}
				resp.Body.Close()
			}
			if got := s.accepted(); len(got) != tc.wantConns {
				t.Errorf("%d connections %v, want %d", len(got), got, tc.wantConns)
			}
		})
	}
}

// TestAPIClientFallback: what APIClient does not carry goes to its
// Fallback: plain HTTP, a request a proxy is set for, one while another
// is in flight, every one after Close.
func TestAPIClientFallback(t *testing.T) {
	s := newAPIServer(t, func(_ *apiServer, w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	fb := &recordingClient{t: t}
	c := apiClient(t, s, fb)
	c.Proxy = func(r *http.Request) (*url.URL, error) {
		if r.URL.Path == "/proxied" {
			return url.Parse("http://proxy.invalid:3128")
		}
		return nil, nil
	}
	ctx := context.Background()
	_, _ = post(t, c, ctx, "http://"+s.Listener.Addr().String()+"/plain", "x")
	_, _ = post(t, c, ctx, s.URL+"/proxied", "x")
	held, err := post(t, c, ctx, s.URL+"/own", "x") // its answer not read yet
	if err != nil {
		t.Fatal(err)
	}
	_, _ = post(t, c, ctx, s.URL+"/while", "x")
	_, _ = io.Copy(io.Discard, held.Body)
	held.Body.Close()
	c.Close()
	_, _ = post(t, c, ctx, s.URL+"/closed", "x")
	var paths []string
	for _, u := range fb.got {
		p, _ := url.Parse(u)
		paths = append(paths, p.Path)
	}
	if got, want := strings.Join(paths, " "), "/plain /proxied /while /closed"; got != want {
		t.Errorf("the fallback got %q, want %q", got, want)
	}
}

// TestAPIClientBounds: an answer that does not come within ReadTimeout
// fails as a timeout (the CLI's "Read timeout"), and a request whose
// context ends fails with the context's error, both without waiting for
// the server.
func TestAPIClientBounds(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 8)
	s := newAPIServer(t, func(_ *apiServer, w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	tests := []struct {
		name   string
		read   time.Duration
		cancel bool
		check  func(error) bool
	}{
		{"read timeout", 20 * time.Millisecond, false, func(err error) bool {
			var ne net.Error
			return errors.As(err, &ne) && ne.Timeout() && !errors.Is(err, context.DeadlineExceeded)
		}},
		{"context cancelled", 0, true, func(err error) bool { return errors.Is(err, context.Canceled) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := apiClient(t, s, nil)
			defer c.Close()
			c.ReadTimeout = tc.read
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan struct{})
			defer close(done)
			go func() {
				select {
				case <-arrived:
					if tc.cancel {
						cancel() // once the request reached the server
					}
				case <-done:
				}
			}()
			_, err := post(t, c, ctx, s.URL+"/", "x")
			var ue *url.Error
			if !errors.As(err, &ue) || !tc.check(err) {
				t.Fatalf("error %v (%T)", err, err)
			}
		})
	}
}

// TestAPIClientBoundsTheAnswerHeader: a server whose answer header runs
// past 10 MiB (net/http's Transport's default bound) fails the call with
// a clear error instead of growing the client's memory without end; an
// answer just under the bound is read.
func TestAPIClientBoundsTheAnswerHeader(t *testing.T) {
	for _, tc := range []struct {
		name    string
		size    int
		wantErr bool
	}{
		{"under the bound", 9 << 20, false},
		{"past the bound", 11 << 20, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newAPIServer(t, func(_ *apiServer, w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("X-Big", strings.Repeat("a", tc.size))
				w.WriteHeader(http.StatusOK)
			})
			c := apiClient(t, s, nil)
			defer c.Close()
			resp, err := post(t, c, context.Background(), s.URL+"/", "x")
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), "larger than 10 MiB") {
					t.Fatalf("a %d-byte header: error %v; want the header bound's", tc.size, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("a %d-byte header: %v", tc.size, err)
			}
			resp.Body.Close()
		})
	}
}
