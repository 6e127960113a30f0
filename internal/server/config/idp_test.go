package config

import (
	"strings"
	"testing"
)

func TestIdentityProvidersValidate(t *testing.T) {
	good := IdentityProvider{Name: "Example SSO", Issuer: "https://sso.example.com", ClientID: "postern-console",
		Roles: []string{"arn:aws:iam::123456789012:role/Developers"}}
	tests := []struct {
		name    string
		mod     func(p *IdentityProvider)
		wantErr string
	}{
		{"good", func(*IdentityProvider) {}, ""},
		{"no name", func(p *IdentityProvider) { p.Name = " " }, ".name must be set"},
		{"http issuer", func(p *IdentityProvider) { p.Issuer = "http://sso.example.com" }, "must be an https URL"},
		{"no client id", func(p *IdentityProvider) { p.ClientID = "" }, ".client_id must be set"},
		{"both secrets", func(p *IdentityProvider) { p.ClientSecret, p.ClientSecretFile = "s", "f" }, "not both"},
		{"no roles", func(p *IdentityProvider) { p.Roles = nil }, "at least one role ARN"},
		{"bad role", func(p *IdentityProvider) { p.Roles = []string{"arn:aws:iam::123456789012:user/x"} }, "is not a role ARN"},
		{"bad id", func(p *IdentityProvider) { p.ID = "a b" }, "must be 1 to 64 letters"},
		{"bad scope", func(p *IdentityProvider) { p.Scopes = []string{"a b"} }, "is not a scope"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Default()
			p := good
			tc.mod(&p)
			cfg.Console.IdentityProviders = []IdentityProvider{p}
			err := cfg.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if id := p.ProviderID(); id != "example-sso" {
					t.Fatalf("ProviderID = %q, want example-sso", id)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Validate = %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
	cfg := Default()
	cfg.Console.IdentityProviders = []IdentityProvider{good, good}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "used by another provider") {
		t.Fatalf("duplicate ids: Validate = %v", err)
	}
}
