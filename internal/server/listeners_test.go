package server

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/postern/postern/internal/server/config"
)

// TestMergeListeners accepts from an IPv4 and an IPv6 listener through one
// merged listener, and closes both with it.
func TestMergeListeners(t *testing.T) {
	lns, err := listenAll([]string{"127.0.0.1:0", "[::1]:0"})
	if err != nil {
		t.Fatal(err)
	}
	m := mergeListeners(lns)
	defer m.Close()
	if m.Addr().String() != lns[0].Addr().String() {
		t.Errorf("Addr %s, want the first listener's %s", m.Addr(), lns[0].Addr())
	}
	for _, ln := range lns {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		got, err := m.Accept()
		if err != nil {
			t.Fatal(err)
		}
		if got.LocalAddr().String() != ln.Addr().String() {
			t.Errorf("accepted a connection to %s, want one to %s", got.LocalAddr(), ln.Addr())
		}
		got.Close()
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close: %v, want net.ErrClosed", err)
	}
	for _, ln := range lns {
		if c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts after Close", ln.Addr())
		}
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
