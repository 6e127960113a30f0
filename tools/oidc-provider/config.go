package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
)

// config is the JSON file named by -config.
type config struct {
	// Alg is the ID-token signing algorithm: RS256 (default) or ES256.
	Alg string `json:"alg"`
	// IDTokenLifetimeSeconds is how long ID tokens are valid (default 3600).
	IDTokenLifetimeSeconds int          `json:"id_token_lifetime_seconds"`
	Clients                []clientSpec `json:"clients"`
	Users                  []userSpec   `json:"users"`
}

// clientSpec registers one OAuth client.
type clientSpec struct {
	ID string `json:"id"`
	// Secret, when set, makes a confidential client (HTTP Basic or form
	// post authentication at the token endpoint); empty: a public client.
	Secret string `json:"secret"`
	// RedirectURIs for the authorization-code flow. For a native client a
	// loopback URI matches any port (RFC 8252, section 7.3).
	RedirectURIs []string `json:"redirect_uris"`
	// Native makes a native application (PKCE, loopback redirects).
	Native bool `json:"native"`
	// Device allows the device-authorization grant.
	Device bool `json:"device"`
}

// userSpec is one person who can sign in.
type userSpec struct {
	Subject  string `json:"subject"`
	Username string `json:"username"`
	Password string `json:"password"`
	Email    string `json:"email"`
	// Claims are added to the user's ID tokens, for example
	// "https://aws.amazon.com/tags" session tags. Claims the provider sets
	// itself (iss, sub, aud, exp, iat, amr when the sign-in set it, ...)
	// win over these.
	Claims map[string]any `json:"claims"`
}

func loadConfig(path string) (*config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	var cfg config
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	switch cfg.Alg {
	case "":
		cfg.Alg = "RS256"
	case "RS256", "ES256":
	default:
		return nil, fmt.Errorf("config %s: alg %q: want RS256 or ES256", path, cfg.Alg)
	}
	if cfg.IDTokenLifetimeSeconds < 0 {
		return nil, fmt.Errorf("config %s: negative id_token_lifetime_seconds", path)
	}
	if cfg.IDTokenLifetimeSeconds == 0 {
		cfg.IDTokenLifetimeSeconds = 3600
	}
	ids := map[string]bool{}
	for _, c := range cfg.Clients {
		if c.ID == "" {
			return nil, errors.New("config: a client has no id")
		}
		if ids[c.ID] {
			return nil, fmt.Errorf("config: client %q twice", c.ID)
		}
		ids[c.ID] = true
		if !c.Device && len(c.RedirectURIs) == 0 {
			return nil, fmt.Errorf("config: client %q has no redirect_uris and no device grant", c.ID)
		}
	}
	subs, names := map[string]bool{}, map[string]bool{}
	for _, u := range cfg.Users {
		if u.Subject == "" || u.Username == "" || u.Password == "" {
			return nil, errors.New("config: a user needs subject, username and password")
		}
		if subs[u.Subject] || names[u.Username] {
			return nil, fmt.Errorf("config: user %q/%q twice", u.Subject, u.Username)
		}
		subs[u.Subject], names[u.Username] = true, true
	}
	return &cfg, nil
}
