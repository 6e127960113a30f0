package server

import (
	"net"
	"net/http"
	"time"

	"github.com/postern/postern/internal/config"
	"github.com/postern/postern/internal/httpedge"
)

// edge applies the configured bounds of the HTTP edge (config.HTTP) to
// the listener's server and raw listener: timeouts for the TLS handshake
// and headers, request bodies and idle connections, and the cap on
// unauthenticated connections per source. A zero setting (a Config not
// made with config.Default) takes its default.
func (s *Server) edge(hs *http.Server, ln net.Listener) net.Listener {
	def := config.Default().HTTP
	c := s.Config.HTTP
	secs := func(v, d int) time.Duration {
		if v <= 0 {
			v = d
		}
		return time.Duration(v) * time.Second
	}
	// net/http bounds the TLS handshake by the smallest of its read and
	// write timeouts: the header timeout here.
	hs.ReadHeaderTimeout = secs(c.HeaderTimeoutSeconds, def.HeaderTimeoutSeconds)
	hs.IdleTimeout = secs(c.IdleTimeoutSeconds, def.IdleTimeoutSeconds)
	hs.Handler = httpedge.BodyDeadline(hs.Handler, secs(c.BodyTimeoutSeconds, def.BodyTimeoutSeconds))
	hs.ConnContext = httpedge.ConnContext
	perSource := c.MaxUnauthenticatedPerSource
	if perSource == 0 {
		perSource = def.MaxUnauthenticatedPerSource
	}
	lim := httpedge.New(httpedge.Config{Max: perSource, Logger: s.logger.With("component", "http-edge"),
		Refused: func() { s.metrics.ConnectionRefused("per_source_limit") }})
	return lim.Listener(ln)
}
