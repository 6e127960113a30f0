package server

import (
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/postern/postern/internal/server/config"
	"github.com/postern/postern/internal/server/httpedge"
)

// edge applies the configured bounds of the HTTP edge (config.HTTP) to
// the listener's server and raw listener: timeouts for the TLS handshake
// and headers, request bodies, responses and idle connections, the cap on
// unauthenticated connections per source, and a limit on net/http's log
// lines about failed handshakes. A zero setting (a Config not made with
// config.Default) takes its default.
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
	// Responses, not hijacked connections (tunnels, agent links).
	hs.Handler = httpedge.WriteDeadline(hs.Handler, secs(c.WriteTimeoutSeconds, def.WriteTimeoutSeconds))
	hs.ConnContext = httpedge.ConnContext
	// net/http's own lines at warn level; of those about failed TLS
	// handshakes (one per connection, which anyone can cause), only the
	// first few a minute and then a count.
	hs.ErrorLog = slog.NewLogLogger(httpedge.ErrorLogHandler(s.logger.Handler(), httpedge.LogLimit{}), slog.LevelWarn)
	perSource := c.MaxUnauthenticatedPerSource
	if perSource == 0 {
		perSource = def.MaxUnauthenticatedPerSource
	}
	lim := httpedge.New(httpedge.Config{Max: perSource, Logger: s.logger.With("component", "http-edge"),
		Refused: func() { s.metrics.ConnectionRefused("per_source_limit") }})
	return lim.Listener(ln)
}
