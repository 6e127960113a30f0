package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadAndValidate(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr string
	}{
		{"empty file keeps defaults", "", ""},
		{"override", "version: 1\nregion: eu-west-1\naccount_id: '123456789012'\n", ""},
		{"unknown key", "version: 1\nlisten_addr: x\n", "field listen_addr not found"},
		{"bad version", "version: 2\n", "this build reads version 1"},
		{"bad account", "account_id: '12'\n", "not 12 digits"},
		{"bad region", "region: Mars\n", "not a region name"},
		{"bad listen", "listen: nope\n", "not HOST:PORT"},
		{"replica behind a balancer", "advertise: lb.example.com:443\nreplica_address: r2.internal:443\n", ""},
		{"bad advertise", "advertise: lb.example.com\n", "advertise \"lb.example.com\" is not HOST:PORT"},
		{"bad replica address", "replica_address: r2.internal\n", "replica_address \"r2.internal\" is not HOST:PORT"},
		{"cert without key", "tls:\n  cert_file: a.pem\n", "go together"},
		{"bad log level", "log_level: loud\n", "log_level"},
		{"quota", "ec2:\n  endpoints_per_vpc: -1\n  endpoints_per_subnet: 3\n", ""},
		{"bad quota", "ec2:\n  endpoints_per_vpc: 0\n", "ec2.endpoints_per_vpc"},
		{"url lifetime", "tunnel:\n  max_url_lifetime_seconds: 60\n", ""},
		{"url lifetime below the CLI's 60 s", "tunnel:\n  max_url_lifetime_seconds: 59\n", "tunnel.max_url_lifetime_seconds"},
		{"url lifetime of a week", "tunnel:\n  max_url_lifetime_seconds: 604800\n", "tunnel.max_url_lifetime_seconds"},
		{"tunnel duration that overflows", "tunnel:\n  max_duration_seconds: 9223372036854775807\n", "tunnel.max_duration_seconds"},
		{"close grace", "tunnel:\n  close_grace_seconds: 7\n", ""},
		{"close grace of 10 seconds", "tunnel:\n  close_grace_seconds: 10\n", ""},
		{"no close grace", "tunnel:\n  close_grace_seconds: 0\n", "tunnel.close_grace_seconds must be from 1 to 10"},
		{"negative close grace", "tunnel:\n  close_grace_seconds: -5\n", "tunnel.close_grace_seconds must be from 1 to 10"},
		{"close grace over 10 seconds (a shutdown's 15 s must hold it)", "tunnel:\n  close_grace_seconds: 11\n", "tunnel.close_grace_seconds must be from 1 to 10"},
		{"close grace as a duration", "tunnel:\n  close_grace_seconds: 5s\n", "cannot unmarshal"},
		{"http limits", "http:\n  header_timeout_seconds: 5\n  body_timeout_seconds: 60\n  idle_timeout_seconds: 30\n  max_unauthenticated_per_source: -1\n", ""},
		{"no header timeout", "http:\n  header_timeout_seconds: 0\n", "http.header_timeout_seconds must be from 1 to 3600"},
		{"endless body timeout", "http:\n  body_timeout_seconds: 86400\n", "http.body_timeout_seconds must be from 1 to 3600"},
		{"no idle timeout", "http:\n  idle_timeout_seconds: -1\n", "http.idle_timeout_seconds must be from 1 to 3600"},
		{"write timeout", "http:\n  write_timeout_seconds: 5\n", ""},
		{"no write timeout", "http:\n  write_timeout_seconds: 0\n", "http.write_timeout_seconds must be from 1 to 3600"},
		{"zero connections per source", "http:\n  max_unauthenticated_per_source: 0\n", "http.max_unauthenticated_per_source"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "postern.yaml")
			if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := Load(path)
			if err == nil {
				err = cfg.Validate()
			}
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want it to mention %q", err, tc.wantErr)
			}
		})
	}
}
