package server

import (
	"crypto/tls"
	"errors"
	"net"
	"net/http"
)

// ServeMetrics serves Prometheus metrics at /metrics on ln, with TLS (the
// server's certificate) behind the same HTTP edge as the API listener,
// until Shutdown. It always closes ln.
func (s *Server) ServeMetrics(ln net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.metrics.Handler())
	// The same edge as the API listener: handshake, header, body, write and
	// idle timeouts, the per-source cap and the limited handshake log.
	srv := &http.Server{Handler: mux, TLSConfig: s.TLSConfig()}
	ln = s.edge(srv, ln)
	s.metricsMu.Lock()
	s.metricsSrv = srv
	s.metricsMu.Unlock()
	err := srv.Serve(tls.NewListener(ln, srv.TLSConfig))
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
