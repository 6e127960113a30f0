package server

import (
	"fmt"
	"net/url"
	"path/filepath"

	"github.com/postern/postern/internal/server/audit"
)

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
