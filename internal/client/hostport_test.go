package client

import "testing"

// TestHostPort splits dnsNames, IPv6 literals (bracketed) included.
func TestHostPort(t *testing.T) {
	for _, tc := range []struct{ dns, host, sni, addr string }{
		{"eice-1.ec2-instance-connect-endpoint.us-east-1.amazonaws.com", "eice-1.ec2-instance-connect-endpoint.us-east-1.amazonaws.com",
			"eice-1.ec2-instance-connect-endpoint.us-east-1.amazonaws.com", "eice-1.ec2-instance-connect-endpoint.us-east-1.amazonaws.com:443"},
		{"postern.example.com:8443", "postern.example.com:8443", "postern.example.com", "postern.example.com:8443"},
		{"10.0.0.5", "10.0.0.5", "10.0.0.5", "10.0.0.5:443"},
		{"[fd00::5]", "[fd00::5]", "fd00::5", "[fd00::5]:443"},
		{"[fd00::5]:8443", "[fd00::5]:8443", "fd00::5", "[fd00::5]:8443"},
	} {
		host, sni, addr := HostPort(tc.dns)
		if host != tc.host || sni != tc.sni || addr != tc.addr {
			t.Errorf("HostPort(%q) = %q, %q, %q; want %q, %q, %q", tc.dns, host, sni, addr, tc.host, tc.sni, tc.addr)
		}
	}
}
