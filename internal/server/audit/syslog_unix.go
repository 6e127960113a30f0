//go:build unix

package audit

import "log/syslog"

// NewSyslogSink dials syslog: network "" is the local socket, else "udp"
// or "tcp" to addr.
func NewSyslogSink(network, addr string) (*SyslogSink, error) {
	w, err := syslog.Dial(network, addr, syslog.LOG_AUTHPRIV|syslog.LOG_INFO, "postern")
	if err != nil {
		return nil, err
	}
	return &SyslogSink{w: w}, nil
}
