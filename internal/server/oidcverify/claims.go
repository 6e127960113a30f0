package oidcverify

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode"
)

// TagsClaim is the claim that carries AWS session tags.
const TagsClaim = "https://aws.amazon.com/tags"

// Limits on session tags, as AWS STS applies them.
const (
	maxSessionTags = 50
	maxTagKeyLen   = 128
	maxTagValueLen = 256
)

// Claims are a verified token's claims.
type Claims struct {
	Issuer   string
	Subject  string
	Audience []string
	// ClientID is the provider's client id that admitted the token: an
	// aud value, or azp when no aud value is in the list.
	ClientID string
	// AuthorizedParty is the azp claim ("" when absent).
	AuthorizedParty string
	// AMR is the amr claim (a single string is taken as a list of one).
	AMR   []string
	Email string
	// IssuedAt, NotBefore (zero when absent) and Expiry are the iat, nbf
	// and exp claims.
	IssuedAt, NotBefore, Expiry time.Time
	// PrincipalTags are the session tags of TagsClaim's principal_tags
	// (nil when absent); TransitiveTagKeys its transitive_tag_keys.
	PrincipalTags     map[string]string
	TransitiveTagKeys []string
	// KeyID and Algorithm are the signature's kid and alg.
	KeyID, Algorithm string
	// Raw holds every claim; numbers are json.Number.
	Raw map[string]any
}

// parseClaims decodes a JWT payload into Claims, checking the shapes of
// the claims it reads: iss, sub, aud, exp and iat are required; nbf,
// azp, amr, email and TagsClaim are optional. It checks no value against
// a configuration or a clock. Errors wrap ErrInvalidToken, or
// ErrRejectedClaim for an invalid session-tags claim.
func parseClaims(payload []byte) (*Claims, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil {
		return nil, invalid("claims are not a JSON object: %v", err)
	}
	if dec.More() {
		return nil, invalid("trailing data after the claims")
	}
	if raw == nil {
		return nil, invalid("claims are null")
	}
	c := &Claims{Raw: raw}
	var err error
	if c.Issuer, err = requiredString(raw, "iss"); err != nil {
		return nil, err
	}
	if c.Subject, err = requiredString(raw, "sub"); err != nil {
		return nil, err
	}
	if c.Audience, err = stringOrList(raw, "aud"); err != nil {
		return nil, err
	}
	if len(c.Audience) == 0 {
		return nil, invalid("Missing a required claim: aud")
	}
	if c.Expiry, err = numericDate(raw, "exp", true); err != nil {
		return nil, err
	}
	if c.IssuedAt, err = numericDate(raw, "iat", true); err != nil {
		return nil, err
	}
	if c.NotBefore, err = numericDate(raw, "nbf", false); err != nil {
		return nil, err
	}
	if c.AuthorizedParty, err = optionalString(raw, "azp"); err != nil {
		return nil, err
	}
	if c.Email, err = optionalString(raw, "email"); err != nil {
		return nil, err
	}
	if c.AMR, err = stringOrList(raw, "amr"); err != nil {
		return nil, err
	}
	if v, ok := raw[TagsClaim]; ok {
		if c.PrincipalTags, c.TransitiveTagKeys, err = parseTags(v); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func requiredString(raw map[string]any, name string) (string, error) {
	v, ok := raw[name]
	if !ok {
		return "", invalid("Missing a required claim: %s", name)
	}
	s, ok := v.(string)
	if !ok || s == "" {
		return "", invalid("claim %s is not a non-empty string", name)
	}
	return s, nil
}

func optionalString(raw map[string]any, name string) (string, error) {
	v, ok := raw[name]
	if !ok || v == nil {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", invalid("claim %s is not a string", name)
	}
	return s, nil
}

// stringOrList reads a claim that is a string or a list of strings.
func stringOrList(raw map[string]any, name string) ([]string, error) {
	v, ok := raw[name]
	if !ok || v == nil {
		return nil, nil
	}
	switch v := v.(type) {
	case string:
		return []string{v}, nil
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, invalid("claim %s holds a non-string", name)
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, invalid("claim %s is neither a string nor a list of strings", name)
}

// numericDate reads a NumericDate (seconds since the epoch, possibly
// fractional).
func numericDate(raw map[string]any, name string, required bool) (time.Time, error) {
	v, ok := raw[name]
	if !ok || v == nil {
		if required {
			return time.Time{}, invalid("Missing a required claim: %s", name)
		}
		return time.Time{}, nil
	}
	n, ok := v.(json.Number)
	if !ok {
		return time.Time{}, invalid("claim %s is not a number", name)
	}
	f, err := n.Float64()
	// Bounded to years 0..9999 so that time arithmetic cannot overflow.
	if err != nil || math.IsNaN(f) || f < -62135596800 || f > 253402300799 {
		return time.Time{}, invalid("claim %s is not a valid NumericDate", name)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
}

// parseTags reads the session-tags claim:
//
//	{"principal_tags": {"Key": ["Value"], ...}, "transitive_tag_keys": ["Key", ...]}
//
// Each tag takes one value (a list of one string, or a string). At most
// 50 tags; keys of 1..128 and values of 0..256 characters from AWS's tag
// alphabet; no key twice in any letter case; transitive keys must be
// tags. Errors wrap ErrRejectedClaim.
func parseTags(v any) (map[string]string, []string, error) {
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, nil, rejected("claim %s is not an object", TagsClaim)
	}
	for k := range obj {
		if k != "principal_tags" && k != "transitive_tag_keys" {
			return nil, nil, rejected("claim %s has an unknown member %q", TagsClaim, k)
		}
	}
	tags := map[string]string{}
	folded := map[string]string{}
	if pt, ok := obj["principal_tags"]; ok && pt != nil {
		m, ok := pt.(map[string]any)
		if !ok {
			return nil, nil, rejected("principal_tags is not an object")
		}
		if len(m) > maxSessionTags {
			return nil, nil, rejected("principal_tags holds %d tags, more than %d", len(m), maxSessionTags)
		}
		for key, val := range m {
			if err := checkTag(key, maxTagKeyLen, false); err != nil {
				return nil, nil, rejected("session tag key %q: %s", key, err)
			}
			if strings.HasPrefix(strings.ToLower(key), "aws:") {
				// AWS reserves the prefix: a token cannot name a tag as AWS's own.
				return nil, nil, rejected("session tag key %q: the prefix aws: is reserved", key)
			}
			var s string
			switch val := val.(type) {
			case string:
				s = val
			case []any:
				if len(val) != 1 {
					return nil, nil, rejected("session tag %q has %d values, want one", key, len(val))
				}
				if s, ok = val[0].(string); !ok {
					return nil, nil, rejected("session tag %q has a non-string value", key)
				}
			default:
				return nil, nil, rejected("session tag %q is neither a string nor a list of one string", key)
			}
			if err := checkTag(s, maxTagValueLen, true); err != nil {
				return nil, nil, rejected("session tag %q value: %s", key, err)
			}
			low := strings.ToLower(key)
			if prev, dup := folded[low]; dup {
				return nil, nil, rejected("session tags %q and %q differ only in case", prev, key)
			}
			folded[low] = key
			tags[key] = s
		}
	}
	var transitive []string
	if tt, ok := obj["transitive_tag_keys"]; ok && tt != nil {
		list, ok := tt.([]any)
		if !ok {
			return nil, nil, rejected("transitive_tag_keys is not a list")
		}
		seen := map[string]bool{}
		for _, e := range list {
			k, ok := e.(string)
			if !ok {
				return nil, nil, rejected("transitive_tag_keys holds a non-string")
			}
			orig, ok := folded[strings.ToLower(k)]
			if !ok {
				return nil, nil, rejected("transitive tag key %q is not a principal tag", k)
			}
			if !seen[orig] {
				seen[orig] = true
				transitive = append(transitive, orig)
			}
		}
	}
	return tags, transitive, nil
}

// checkTag checks a tag key or value: length and AWS's tag characters
// (Unicode letters, digits, white space and _ . : / = + - @).
func checkTag(s string, max int, emptyOK bool) error {
	n := 0
	for _, r := range s {
		n++
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsSpace(r) && !strings.ContainsRune("_.:/=+-@", r) {
			return fmt.Errorf("character %q is not allowed", r)
		}
	}
	if n == 0 && !emptyOK {
		return errors.New("empty")
	}
	if n > max {
		return fmt.Errorf("longer than %d characters", max)
	}
	return nil
}
