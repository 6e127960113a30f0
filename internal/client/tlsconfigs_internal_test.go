package client

import (
	"crypto/tls"
	"strconv"
	"testing"
)

// A Dialer makes the TLS configurations of a server (name and address)
// once (every tunnel's connection keeps its own otherwise): the same for
// every tunnel to that server, each server its own, the classical one
// only when the caller left the key exchanges to the default, and at
// most maxConfigs servers kept.
func TestTLSConfigsMadeOncePerName(t *testing.T) {
	cases := []struct {
		name          string
		base          *tls.Config
		wantClassical bool
	}{
		{"default", nil, true},
		{"trusted roots only", &tls.Config{MinVersion: tls.VersionTLS13}, true},
		{"named key exchanges", &tls.Config{CurvePreferences: []tls.CurveID{tls.CurveP256}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := &Dialer{TLS: tc.base}
			a, b, other := d.tlsConfigs(spareKey{"a.example", "a.example:443"}), d.tlsConfigs(spareKey{"a.example", "a.example:443"}), d.tlsConfigs(spareKey{"b.example", "b.example:443"})
			if a != b {
				t.Error("two tunnels to one name got two configurations")
			}
			if a == other || other.full.ServerName != "b.example" || a.full.ServerName != "a.example" {
				t.Errorf("names share a configuration: %q, %q", a.full.ServerName, other.full.ServerName)
			}
			if a.full.ClientSessionCache == nil || len(a.full.NextProtos) != 1 || a.full.NextProtos[0] != "http/1.1" {
				t.Errorf("full configuration: session cache %v, ALPN %q", a.full.ClientSessionCache != nil, a.full.NextProtos)
			}
			if got := a.classical != nil; got != tc.wantClassical {
				t.Fatalf("classical configuration made: %v, want %v", got, tc.wantClassical)
			}
			if a.classical != nil {
				if cp := a.classical.CurvePreferences; len(cp) != 1 || cp[0] != tls.X25519 {
					t.Errorf("classical key exchanges %v, want X25519 alone", cp)
				}
				if a.classical.ClientSessionCache != a.full.ClientSessionCache || a.classical.ServerName != "a.example" {
					t.Error("the classical configuration has another session cache or name")
				}
			}
			if tc.base != nil && a.full == tc.base {
				t.Error("the caller's configuration was changed instead of cloned")
			}
		})
	}
	d := &Dialer{}
	for i := range maxConfigs + 10 {
		d.tlsConfigs(spareKey{"n" + strconv.Itoa(i) + ".example", "n.example:443"})
	}
	if n := len(d.configs); n != maxConfigs {
		t.Errorf("%d names kept, want at most %d", n, maxConfigs)
	}
}
