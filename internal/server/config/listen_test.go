package config

import (
	"slices"
	"strings"
	"testing"
)

// TestListenList covers listen as one address, a comma-separated string,
// a YAML list, and the ec2.ipv6_pool setting.
func TestListenList(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		want    []string // the listen addresses when valid
		wantErr string
	}{
		{"default", "", []string{"127.0.0.1:8443"}, ""},
		{"one address", "listen: 0.0.0.0:443\n", []string{"0.0.0.0:443"}, ""},
		{"bracketed ipv6", "listen: '[fd00::5]:443'\n", []string{"[fd00::5]:443"}, ""},
		{"comma-separated", "listen: '10.0.0.5:443, [fd00::5]:443'\n", []string{"10.0.0.5:443", "[fd00::5]:443"}, ""},
		{"yaml list", "listen:\n  - 10.0.0.5:443\n  - '[fd00::5]:443'\n  - 127.0.0.1:8443\n", []string{"10.0.0.5:443", "[fd00::5]:443", "127.0.0.1:8443"}, ""},
		{"flow list", "listen: ['[::1]:8443', '127.0.0.1:8443']\n", []string{"[::1]:8443", "127.0.0.1:8443"}, ""},
		{"empty list", "listen: []\n", nil, "listen is empty"},
		{"empty string", "listen: ''\n", nil, "listen is empty"},
		{"one bad", "listen:\n  - 10.0.0.5:443\n  - nope\n", nil, `listen "nope" is not HOST:PORT`},
		{"unbracketed ipv6", "listen: 'fd00::5:443'\n", nil, "not HOST:PORT"},
		{"twice", "listen: '127.0.0.1:8443,127.0.0.1:8443'\n", nil, "given twice"},
		{"a map", "listen:\n  a: b\n", nil, "want HOST:PORT or a list"},
		{"ipv6 public host", "public_host: 'fd00::5'\nlisten: '[fd00::5]:443'\n", []string{"[fd00::5]:443"}, ""},
		{"bracketed public host", "public_host: '[fd00::5]'\n", nil, "without brackets"},
		{"ipv6 pool", "ec2:\n  ipv6_pool: fd12:3456:789a::/48\n", []string{"127.0.0.1:8443"}, ""},
		{"ipv6 pool of one /56", "ec2:\n  ipv6_pool: fd12:3456:789a:100::/56\n", []string{"127.0.0.1:8443"}, ""},
		{"ipv6 pool too small", "ec2:\n  ipv6_pool: fd12:3456:789a::/60\n", nil, "smaller than a /56"},
		{"ipv6 pool with host bits", "ec2:\n  ipv6_pool: fd12:3456:789a::1/48\n", nil, "host bits"},
		{"ipv6 pool ipv4", "ec2:\n  ipv6_pool: 10.0.0.0/8\n", nil, "not an IPv6 prefix"},
		{"ipv6 pool not a cidr", "ec2:\n  ipv6_pool: 'fd00::'\n", nil, "not a CIDR block"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Default()
			err := Decode(strings.NewReader(tc.yaml), &cfg)
			if err == nil {
				err = cfg.Validate()
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(cfg.Listen, tc.want) {
				t.Fatalf("listen %q, want %q", cfg.Listen, tc.want)
			}
		})
	}
}

// TestParseAddrs is the --listen flag's form.
func TestParseAddrs(t *testing.T) {
	for in, want := range map[string][]string{
		"127.0.0.1:8443":                  {"127.0.0.1:8443"},
		"[::]:443,0.0.0.0:443":            {"[::]:443", "0.0.0.0:443"},
		" 10.0.0.5:443 , [fd00::5]:443 ,": {"10.0.0.5:443", "[fd00::5]:443"},
		"":                                nil,
	} {
		if got := ParseAddrs(in); !slices.Equal(got, want) {
			t.Errorf("ParseAddrs(%q) = %q, want %q", in, got, want)
		}
	}
	if got := (Addrs{"a:1", "b:2"}).String(); got != "a:1,b:2" {
		t.Errorf("String = %q", got)
	}
	if (Addrs{}).First() != "" || (Addrs{"a:1", "b:2"}).First() != "a:1" {
		t.Error("First")
	}
}
