package oidcverify

// Fetches is how many times v fetched (or tried to fetch) the provider's
// discovery document and keys.
func (v *Verifier) Fetches() int {
	v.keys.mu.Lock()
	defer v.keys.mu.Unlock()
	return v.keys.fetches
}

// ParseClaims exposes parseClaims to the external tests.
var ParseClaims = parseClaims
