package server

import (
	"net"
	"testing"

	"github.com/postern/postern/internal/server/config"
)

// TestListenAll opens every address, in order, and on a failing address
// closes those already open. (httpedge.Merge serves them as one: its test
// is TestMerge.)
func TestListenAll(t *testing.T) {
	lns, err := listenAll([]string{"127.0.0.1:0", "[::1]:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll(lns)
	if len(lns) != 2 || lns[0].Addr().(*net.TCPAddr).IP.To4() == nil || lns[1].Addr().(*net.TCPAddr).IP.To4() != nil {
		t.Fatalf("listeners %v, want an IPv4 one then an IPv6 one", lns)
	}
	// A failing address closes those already open.
	if _, err := listenAll([]string{"127.0.0.1:0", "nope"}); err == nil {
		t.Error("listenAll with a bad address succeeded")
	}
}

// TestDNSNameIPv6: endpoints' dnsName brackets an IPv6 literal, with or
// without the port, and takes the port of the first listen address.
func TestDNSNameIPv6(t *testing.T) {
	for _, tc := range []struct{ advertise, listen, public, want string }{
		{"[fd00::5]:443", "127.0.0.1:8443", "localhost", "[fd00::5]"},
		{"[fd00::5]:8443", "127.0.0.1:8443", "localhost", "[fd00::5]:8443"},
		{"", "[::]:443", "fd00::5", "[fd00::5]"},
		{"", "[fd00::5]:8443,127.0.0.1:9443", "fd00::5", "[fd00::5]:8443"},
		{"lb.example.com:443", "127.0.0.1:8443", "localhost", "lb.example.com"},
		{"", "0.0.0.0:8443", "postern.example.com", "postern.example.com:8443"},
	} {
		s := &Server{Config: config.Server{Advertise: tc.advertise, Listen: config.ParseAddrs(tc.listen), PublicHost: tc.public}}
		if got := s.DNSName(); got != tc.want {
			t.Errorf("advertise %q, listen %q, public_host %q: DNSName %q, want %q", tc.advertise, tc.listen, tc.public, got, tc.want)
		}
	}
}
