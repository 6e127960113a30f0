package server

import (
	"crypto/tls"
	"slices"

	"github.com/postern/postern/internal/wire/tunnelproto"
)

// listenerTLS is the TLS configuration of the server's one listener.
//
// Endpoint agents authenticate with a TLS client certificate made from
// their own key, but a CertificateRequest in every handshake breaks
// ordinary clients: the AWS CLI v2's TLS stack (awscrt / s2n-tls) fails
// negotiation when it gets one. So only a handshake whose ClientHello
// offers the agents' ALPN protocol (tunnelproto.AgentALPN) is asked for a
// client certificate; every other handshake (API calls, /openTunnel,
// health checks) carries no CertificateRequest. The certificate is not
// verified here: the relay checks it per request against the agents it
// knows.
//
// The agents' configuration selects "http/1.1" (which agents offer after
// AgentALPN), never AgentALPN itself: net/http closes a connection whose
// negotiated protocol is one it has no handler for. The base configuration
// negotiates no ALPN protocol, as before, so every client gets HTTP/1.1.
func listenerTLS(cert tls.Certificate) *tls.Config {
	base := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	agentCfg := base.Clone()
	agentCfg.ClientAuth = tls.RequestClientCert
	agentCfg.NextProtos = []string{"http/1.1"}
	base.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		if slices.Contains(hello.SupportedProtos, tunnelproto.AgentALPN) {
			return agentCfg, nil
		}
		return nil, nil // the base configuration: no CertificateRequest
	}
	return base
}
