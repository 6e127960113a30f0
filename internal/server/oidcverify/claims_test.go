package oidcverify

import (
	"errors"
	"strings"
	"testing"
	"time"
)

const base = `"iss":"https://op.example","sub":"s","aud":"a","exp":2000000000,"iat":1700000000`

func TestParseClaims(t *testing.T) {
	for _, tc := range []struct {
		name    string
		payload string
		want    error
		check   func(t *testing.T, c *Claims)
	}{
		{name: "minimal", payload: `{` + base + `}`, check: func(t *testing.T, c *Claims) {
			if c.Issuer != "https://op.example" || c.Subject != "s" || len(c.Audience) != 1 || c.Audience[0] != "a" {
				t.Errorf("%+v", c)
			}
			if !c.Expiry.Equal(time.Unix(2000000000, 0)) || !c.IssuedAt.Equal(time.Unix(1700000000, 0)) || !c.NotBefore.IsZero() {
				t.Errorf("times %v %v %v", c.Expiry, c.IssuedAt, c.NotBefore)
			}
			if c.PrincipalTags != nil {
				t.Errorf("tags %v", c.PrincipalTags)
			}
		}},
		{name: "aud list, azp, amr string, nbf fractional", payload: `{` + base + `,"aud":["x","a"],"azp":"z","amr":"mfa","nbf":1700000000.5}`, check: func(t *testing.T, c *Claims) {
			if len(c.Audience) != 2 || c.AuthorizedParty != "z" || len(c.AMR) != 1 || c.AMR[0] != "mfa" {
				t.Errorf("%+v", c)
			}
			if !c.NotBefore.Equal(time.Unix(1700000000, 5e8)) {
				t.Errorf("nbf %v", c.NotBefore)
			}
		}},
		{name: "tags", payload: `{` + base + `,"https://aws.amazon.com/tags":{"principal_tags":{"Project":["Automation"],"cost-center":"9 8/7"},"transitive_tag_keys":["project","Project"]}}`, check: func(t *testing.T, c *Claims) {
			if c.PrincipalTags["Project"] != "Automation" || c.PrincipalTags["cost-center"] != "9 8/7" {
				t.Errorf("tags %v", c.PrincipalTags)
			}
			if len(c.TransitiveTagKeys) != 1 || c.TransitiveTagKeys[0] != "Project" {
				t.Errorf("transitive %v", c.TransitiveTagKeys)
			}
		}},
		{name: "not JSON", payload: `eyJ`, want: ErrInvalidToken},
		{name: "null", payload: `null`, want: ErrInvalidToken},
		{name: "array", payload: `[]`, want: ErrInvalidToken},
		{name: "trailing data", payload: `{` + base + `} {}`, want: ErrInvalidToken},
		{name: "no iss", payload: `{"sub":"s","aud":"a","exp":2000000000,"iat":1}`, want: ErrInvalidToken},
		{name: "no aud", payload: `{"iss":"i","sub":"s","exp":2000000000,"iat":1}`, want: ErrInvalidToken},
		{name: "empty aud list", payload: `{` + base + `,"aud":[]}`, want: ErrInvalidToken},
		{name: "aud number", payload: `{` + base + `,"aud":5}`, want: ErrInvalidToken},
		{name: "no exp", payload: `{"iss":"i","sub":"s","aud":"a","iat":1}`, want: ErrInvalidToken},
		{name: "no iat", payload: `{"iss":"i","sub":"s","aud":"a","exp":2000000000}`, want: ErrInvalidToken},
		{name: "exp string", payload: `{` + base + `,"exp":"2000000000"}`, want: ErrInvalidToken},
		{name: "exp huge", payload: `{` + base + `,"exp":1e300}`, want: ErrInvalidToken},
		{name: "sub empty", payload: `{` + base + `,"sub":""}`, want: ErrInvalidToken},
		{name: "amr object", payload: `{` + base + `,"amr":{}}`, want: ErrInvalidToken},
		{name: "tags not an object", payload: `{` + base + `,"https://aws.amazon.com/tags":[{"principal_tags":{}}]}`, want: ErrRejectedClaim},
		{name: "tags unknown member", payload: `{` + base + `,"https://aws.amazon.com/tags":{"principal_tag":{}}}`, want: ErrRejectedClaim},
		{name: "tag two values", payload: `{` + base + `,"https://aws.amazon.com/tags":{"principal_tags":{"k":["a","b"]}}}`, want: ErrRejectedClaim},
		{name: "tag bad character", payload: `{` + base + `,"https://aws.amazon.com/tags":{"principal_tags":{"k*":["a"]}}}`, want: ErrRejectedClaim},
		{name: "tag key too long", payload: `{` + base + `,"https://aws.amazon.com/tags":{"principal_tags":{"` + strings.Repeat("k", 129) + `":["a"]}}}`, want: ErrRejectedClaim},
		{name: "tag value too long", payload: `{` + base + `,"https://aws.amazon.com/tags":{"principal_tags":{"k":["` + strings.Repeat("v", 257) + `"]}}}`, want: ErrRejectedClaim},
		{name: "reserved tag key prefix", payload: `{` + base + `,"https://aws.amazon.com/tags":{"principal_tags":{"AWS:PrincipalType":["IAMUser"]}}}`, want: ErrRejectedClaim},
		{name: "tag keys differ in case", payload: `{` + base + `,"https://aws.amazon.com/tags":{"principal_tags":{"k":["a"],"K":["b"]}}}`, want: ErrRejectedClaim},
		{name: "transitive key not a tag", payload: `{` + base + `,"https://aws.amazon.com/tags":{"principal_tags":{"k":["a"]},"transitive_tag_keys":["x"]}}`, want: ErrRejectedClaim},
		{name: "too many tags", payload: `{` + base + `,"https://aws.amazon.com/tags":{"principal_tags":{` + manyTags(51) + `}}}`, want: ErrRejectedClaim},
		{name: "fifty tags", payload: `{` + base + `,"https://aws.amazon.com/tags":{"principal_tags":{` + manyTags(50) + `}}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseClaims([]byte(tc.payload))
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("parseClaims: %v, want %v", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseClaims: %v", err)
			}
			if tc.check != nil {
				tc.check(t, c)
			}
		})
	}
}

func manyTags(n int) string {
	var parts []string
	for i := range n {
		parts = append(parts, `"k`+strings.Repeat("x", i)+`":["v"]`)
	}
	return strings.Join(parts, ",")
}

// FuzzParseClaims: parseClaims never panics, fails only with the
// package's sentinels, and what it accepts satisfies its rules.
func FuzzParseClaims(f *testing.F) {
	f.Add([]byte(`{` + base + `}`))
	f.Add([]byte(`{` + base + `,"aud":["x","a"],"azp":"z","amr":["pwd","mfa"],"nbf":1.5,"email":"e@x"}`))
	f.Add([]byte(`{` + base + `,"https://aws.amazon.com/tags":{"principal_tags":{"Project":["Automation"]},"transitive_tag_keys":["Project"]}}`))
	f.Add([]byte(`{"iss":1}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		c, err := parseClaims(payload)
		if err != nil {
			if !errors.Is(err, ErrInvalidToken) && !errors.Is(err, ErrRejectedClaim) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		if c.Issuer == "" || c.Subject == "" || len(c.Audience) == 0 || c.Expiry.IsZero() || c.IssuedAt.IsZero() || c.Raw == nil {
			t.Fatalf("accepted incomplete claims %+v", c)
		}
		if len(c.PrincipalTags) > maxSessionTags {
			t.Fatalf("%d tags accepted", len(c.PrincipalTags))
		}
		for k, v := range c.PrincipalTags {
			if checkTag(k, maxTagKeyLen, false) != nil || checkTag(v, maxTagValueLen, true) != nil {
				t.Fatalf("bad tag %q=%q accepted", k, v)
			}
		}
		for _, k := range c.TransitiveTagKeys {
			if _, ok := c.PrincipalTags[k]; !ok {
				t.Fatalf("transitive key %q is no tag", k)
			}
		}
	})
}

// FuzzParseJWKS: parseJWKS never panics and keeps only usable keys.
func FuzzParseJWKS(f *testing.F) {
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"islqPgfvorshx-ePpSjurW4RvEbfgc-eDkPUevyln7w","y":"kagXc31wqKn7Ay9hNPbM2qh-FG_qqddTYZkPLtjqDLI","kid":"k","use":"sig","alg":"ES256"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`))
	f.Add([]byte(`{"keys":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		keys, _, err := parseJWKS(body)
		if err != nil {
			return
		}
		for _, k := range keys {
			if ok, why := usableKey(&k); !ok {
				t.Fatalf("kept an unusable key: %s", why)
			}
			if !k.IsPublic() {
				t.Fatal("kept a private key")
			}
		}
	})
}
