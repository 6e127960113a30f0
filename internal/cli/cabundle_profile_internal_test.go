package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCABundleProfileFromTheEnvironment: with AWS_CA_BUNDLE set, the
// profile's own ca_bundle is added beside it for the profile the
// environment names, AWS_PROFILE or else AWS_DEFAULT_PROFILE, as the
// credentials and region are read.
func TestCABundleProfileFromTheEnvironment(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	envCA := write("env.pem", "ENV-BUNDLE")
	profCA := write("profile.pem", "PROFILE-BUNDLE")
	cfg := write("config", "[profile p]\nca_bundle = "+profCA+"\n")
	for _, tc := range []struct {
		name string
		env  map[string]string
		want bool // the profile's bundle is added
	}{
		{"AWS_PROFILE", map[string]string{"AWS_PROFILE": "p"}, true},
		{"AWS_DEFAULT_PROFILE", map[string]string{"AWS_DEFAULT_PROFILE": "p"}, true},
		{"AWS_PROFILE over AWS_DEFAULT_PROFILE", map[string]string{"AWS_PROFILE": "default", "AWS_DEFAULT_PROFILE": "p"}, false},
		{"no profile named", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("AWS_CONFIG_FILE", cfg)
			t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "none"))
			t.Setenv("AWS_CA_BUNDLE", envCA)
			t.Setenv("AWS_PROFILE", "")
			t.Setenv("AWS_DEFAULT_PROFILE", "")
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			b, err := caBundle(context.Background(), &globals{})
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(string(b), "PROFILE-BUNDLE"); got != tc.want {
				t.Fatalf("the profile's bundle added: %v, want %v (%q)", got, tc.want, b)
			}
		})
	}
}
