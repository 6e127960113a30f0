package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"time"

	"github.com/postern/postern/internal/audit"
)

// sweepInterval is how often the server deletes records that expired.
const sweepInterval = 10 * time.Minute

// sessionKeep is how long the sweep keeps a role session after it
// expired: until then its callers are told ExpiredToken (and refresh),
// not that their token is unknown.
const sessionKeep = 24 * time.Hour

// sweep deletes, every sweepInterval until stop closes, what expired:
// pushed SSH keys, presigned-URL uses (their URLs can no longer be used),
// join tokens a day after their expiry (kept a while for operators) and
// role sessions sessionKeep after theirs.
// Audit events are never deleted here.
func (s *Server) sweep(stop <-chan struct{}) {
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		s.sweepOnce(ctx, time.Now())
		cancel()
	}
}

// sweepOnce deletes what expired by now; see sweep.
func (s *Server) sweepOnce(ctx context.Context, now time.Time) {
	keys, err1 := s.Store.DeleteExpiredPushedKeys(ctx, now)
	uses, err2 := s.Store.DeleteExpiredPresignUses(ctx, now)
	toks, err3 := s.Store.DeleteExpiredJoinTokens(ctx, now.Add(-24*time.Hour))
	sess, err4 := s.Store.DeleteExpiredSessions(ctx, now.Add(-sessionKeep))
	for _, err := range []error{err1, err2, err3, err4} {
		if err != nil {
			s.logger.Warn("sweeping expired records", "error", err)
		}
	}
	if keys+uses+toks+sess > 0 {
		s.logger.Debug("swept expired records", "pushed_keys", keys, "presign_uses", uses, "join_tokens", toks, "role_sessions", sess)
	}
}

// auditSinks opens the audit trail's copies the configuration asks for.
func (s *Server) auditSinks() ([]audit.Sink, error) {
	c := s.Config.Audit
	var sinks []audit.Sink
	if c.File != "" && c.File != "none" {
		path := c.File
		if !filepath.IsAbs(path) {
			path = filepath.Join(s.Config.DataDir, path)
		}
		f, err := audit.NewFileSink(path, int64(c.FileMaxMB)<<20, c.FileKeep)
		if err != nil {
			return nil, err
		}
		sinks = append(sinks, f)
	}
	if c.WebhookURL != "" {
		sinks = append(sinks, &audit.WebhookSink{URL: c.WebhookURL, Log: s.logger})
	}
	if c.Syslog != "" {
		network, addr := "", ""
		if c.Syslog != "local" {
			u, err := url.Parse(c.Syslog)
			if err != nil || (u.Scheme != "udp" && u.Scheme != "tcp") || u.Host == "" {
				return nil, fmt.Errorf("server: audit.syslog %q: want local, udp://host:port or tcp://host:port", c.Syslog)
			}
			network, addr = u.Scheme, u.Host
		}
		sl, err := audit.NewSyslogSink(network, addr)
		if err != nil {
			return nil, fmt.Errorf("server: audit.syslog: %w", err)
		}
		sinks = append(sinks, sl)
	}
	return sinks, nil
}

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

// Migrate brings the configured store's schema up to date and returns
// (`postern migrate`): replicas may also migrate on start, one at a time
// (the migrations take a lock).
func Migrate(ctx context.Context, opts Options, logger *slog.Logger) error {
	cfg, err := resolveConfig(opts)
	if err != nil {
		return err
	}
	st, err := OpenStore(ctx, cfg, logger)
	if err != nil {
		return err
	}
	return st.Close()
}
