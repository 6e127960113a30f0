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
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 10 * time.Second,
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
