package config

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"sync"
)

// IdentityProvider is one OpenID Connect provider the console's sign-in
// page offers. The console signs the person in with the authorization
// code flow (PKCE), then calls STS AssumeRoleWithWebIdentity with the ID
// token for one of Roles: the provider must also exist as an IAM OIDC
// provider (the console finds it by Issuer), and the role's trust policy
// decides who may assume it.
type IdentityProvider struct {
	// ID names the provider in the console's URLs and requests (letters,
	// digits, '-' and '_'); default: Name in lower case, other characters
	// turned into '-'.
	ID string `yaml:"id"`
	// Name is shown on the button ("Sign in with <Name>").
	Name string `yaml:"name"`
	// Issuer is the provider's issuer URL (https), as in its ID tokens.
	Issuer string `yaml:"issuer"`
	// ClientID is the console's client at the provider; it must be in
	// the IAM OIDC provider's client id list.
	ClientID string `yaml:"client_id"`
	// ClientSecret (or ClientSecretFile: a file holding it, relative to
	// data_dir unless absolute) for a confidential client; neither for a
	// public client (PKCE only).
	ClientSecret     string `yaml:"client_secret"`
	ClientSecretFile string `yaml:"client_secret_file"`
	// Scopes asked for besides "openid" (default: profile email).
	Scopes []string `yaml:"scopes"`
	// Roles are the role ARNs offered: with one, the person signs in as
	// it; with several, the console asks which after the provider's
	// sign-in.
	Roles []string `yaml:"roles"`
}

var (
	// idpIDRe and roleARNRe are compiled on first use: their {1,64} and
	// {1,512} make large programs (~400 KB, ~2 ms), which every postern
	// process paid at start.
	idpIDRe   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`) })
	roleARNRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^arn:aws:iam::\d{12}:role/[\w+=,.@/-]{1,512}$`) })
	idpSlugRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`[^a-z0-9_-]+`) })
)

// ProviderID is the provider's id: ID, or one made from Name.
func (p IdentityProvider) ProviderID() string {
	if p.ID != "" {
		return p.ID
	}
	id := strings.Trim(idpSlugRe().ReplaceAllString(strings.ToLower(p.Name), "-"), "-")
	if len(id) > 64 {
		id = id[:64]
	}
	return id
}

// validateIdentityProviders checks console.identity_providers.
func validateIdentityProviders(ps []IdentityProvider) []error {
	var errs []error
	seen := map[string]bool{}
	for i, p := range ps {
		where := fmt.Sprintf("console.identity_providers[%d]", i)
		if strings.TrimSpace(p.Name) == "" || len(p.Name) > 128 {
			errs = append(errs, fmt.Errorf("%s.name must be set (at most 128 characters)", where))
		}
		id := p.ProviderID()
		switch {
		case !idpIDRe().MatchString(id):
			errs = append(errs, fmt.Errorf("%s.id %q must be 1 to 64 letters, digits, '-' or '_'", where, id))
		case seen[id]:
			errs = append(errs, fmt.Errorf("%s.id %q is used by another provider", where, id))
		}
		seen[id] = true
		u, err := url.Parse(p.Issuer)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			errs = append(errs, fmt.Errorf("%s.issuer %q must be an https URL without query or fragment", where, p.Issuer))
		}
		if p.ClientID == "" {
			errs = append(errs, fmt.Errorf("%s.client_id must be set", where))
		}
		if p.ClientSecret != "" && p.ClientSecretFile != "" {
			errs = append(errs, fmt.Errorf("%s: set client_secret or client_secret_file, not both", where))
		}
		for _, s := range p.Scopes {
			if s == "" || strings.ContainsAny(s, " \t\r\n\"\\") {
				errs = append(errs, fmt.Errorf("%s.scopes: %q is not a scope", where, s))
			}
		}
		if len(p.Roles) == 0 {
			errs = append(errs, fmt.Errorf("%s.roles must list at least one role ARN", where))
		}
		roles := map[string]bool{}
		for _, r := range p.Roles {
			if !roleARNRe().MatchString(r) {
				errs = append(errs, fmt.Errorf("%s.roles: %q is not a role ARN (arn:aws:iam::<account>:role/<name>)", where, r))
			}
			if roles[r] {
				errs = append(errs, fmt.Errorf("%s.roles: %q is listed twice", where, r))
			}
			roles[r] = true
		}
	}
	if len(errs) > 0 {
		return []error{errors.Join(errs...)}
	}
	return nil
}
