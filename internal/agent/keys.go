package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/postern/postern/internal/wire/keyservice"
	"github.com/postern/postern/internal/wire/sshkeys"
)

// Bounds of the key service's connections: anyone on the private network
// can connect, so none may hold a connection without using it (the TLS
// handshake and headers, a whole request with its body, the answer, and
// the wait for a next request are all bounded). Its clients, instance
// helpers, make one request per process.
const (
	keysHeaderTimeout = 5 * time.Second
	keysReadTimeout   = 10 * time.Second
	keysWriteTimeout  = 10 * time.Second
	keysIdleTimeout   = 5 * time.Second
)

// serveKeys runs the agent's key service on ln until ctx ends: instance
// helpers on the private network ask it for the keys pushed to their
// instance, and it fetches them from the server over its own TLS
// connection (its key as the client certificate). It listens with TLS
// (the agent's certificate); helpers trust the entries' signatures, not
// the connection.
func (a *Agent) serveKeys(ctx context.Context, ln net.Listener) error {
	upstream := &http.Client{Timeout: 4 * time.Second, Transport: &http.Transport{
		TLSClientConfig: a.tlsConfig(a.id.Server), MaxIdleConnsPerHost: 4, IdleConnTimeout: 60 * time.Second}}
	defer upstream.CloseIdleConnections()
	src := func(ctx context.Context, instanceID, user string) ([]sshkeys.Entry, error) {
		return keyservice.Fetch(ctx, upstream, "https://"+a.id.Server, instanceID, user)
	}
	mux := http.NewServeMux()
	mux.Handle(keyservice.Pattern, keyservice.Handler(src, nil, a.log.With("component", "keys")))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: keysHeaderTimeout, ReadTimeout: keysReadTimeout,
		WriteTimeout: keysWriteTimeout, IdleTimeout: keysIdleTimeout,
		TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{a.id.Cert}}}
	stop := context.AfterFunc(ctx, func() { srv.Close() })
	defer stop()
	a.log.Info("key service listening", "address", ln.Addr().String())
	err := srv.Serve(tls.NewListener(ln, srv.TLSConfig))
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
