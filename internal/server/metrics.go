package server

import (
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"time"
)

// ServeMetrics serves Prometheus metrics at /metrics on ln, with TLS (the
// server's certificate), until Shutdown. It always closes ln.
func (s *Server) ServeMetrics(ln net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.metrics.Handler())
	srv := &http.Server{Handler: mux, TLSConfig: s.TLSConfig(), ReadHeaderTimeout: 10 * time.Second}
	s.metricsMu.Lock()
	s.metricsSrv = srv
	s.metricsMu.Unlock()
	err := srv.Serve(tls.NewListener(ln, srv.TLSConfig))
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
