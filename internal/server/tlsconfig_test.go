package server_test

import (
	"crypto/tls"
	"testing"

	"github.com/postern/postern/internal/testutil/tunneltest"
	"github.com/postern/postern/internal/wire/tunnelproto"
)

// The listener asks for a client certificate only in handshakes that offer
// the agents' ALPN protocol (the AWS CLI's TLS stack fails on a
// CertificateRequest), and HTTP/1.1 is what agents get, with TLS 1.2 and
// 1.3 alike. A Go client's GetClientCertificate runs only when the server
// sent a CertificateRequest.
func TestListenerAsksOnlyAgentsForACertificate(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{})
	tests := []struct {
		name      string
		protos    []string
		wantAsked bool
		wantProto string
	}{
		{"no ALPN", nil, false, ""},
		{"http/1.1", []string{"http/1.1"}, false, ""},
		{"h2 and http/1.1", []string{"h2", "http/1.1"}, false, ""},
		{"agent", tunnelproto.AgentNextProtos(), true, "http/1.1"},
	}
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		for _, tc := range tests {
			t.Run(tls.VersionName(version)+"/"+tc.name, func(t *testing.T) {
				asked := false
				c, err := tls.Dial("tcp", e.Addr, &tls.Config{RootCAs: e.Roots, ServerName: "localhost", NextProtos: tc.protos,
					MinVersion: version, MaxVersion: version,
					GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
						asked = true
						return &tls.Certificate{}, nil // none: the relay, not the handshake, refuses that
					}})
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if asked != tc.wantAsked {
					t.Errorf("asked for a client certificate: %v, want %v", asked, tc.wantAsked)
				}
				if got := c.ConnectionState().NegotiatedProtocol; got != tc.wantProto {
					t.Errorf("negotiated %q, want %q", got, tc.wantProto)
				}
			})
		}
	}
}
