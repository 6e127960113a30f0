package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// uriEncode encodes s as SigV4 requires (RFC 3986: unreserved characters
// A–Z a–z 0–9 - _ . ~ stay, everything else is %XX upper-case); '/' is kept
// when encodeSlash is false.
func uriEncode(s string, encodeSlash bool) string {
	const hexdig = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' || (c == '/' && !encodeSlash) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexdig[c>>4])
		b.WriteByte(hexdig[c&15])
	}
	return b.String()
}

// CanonicalURI is the request path, each segment URI-encoded (services
// other than S3 encode the already-escaped path once more).
func CanonicalURI(u *url.URL) string {
	p := u.EscapedPath()
	if p == "" {
		return "/"
	}
	return uriEncode(p, false)
}

// CanonicalQuery is the query sorted by encoded key then value, each
// RFC 3986-encoded, leaving out the parameters in skip.
func CanonicalQuery(q url.Values, skip string) string {
	type kv struct{ k, v string }
	var pairs []kv
	for k, vs := range q {
		if k == skip {
			continue
		}
		ek := uriEncode(k, true)
		for _, v := range vs {
			pairs = append(pairs, kv{ek, uriEncode(v, true)})
		}
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(p.v)
	}
	return b.String()
}

// headerValue returns the canonical value of a signed header: the values
// of every field with that name, trimmed, inner runs of spaces folded to
// one, joined by ','. host comes from r.Host (it may carry a port) and
// content-length from r.ContentLength when the header map lacks it.
func headerValue(r *http.Request, name string) (string, bool) {
	switch name {
	case "host":
		h := r.Host
		if h == "" && r.URL != nil {
			h = r.URL.Host
		}
		return h, h != ""
	}
	vals := r.Header.Values(name)
	if len(vals) == 0 {
		if name == "content-length" && r.ContentLength >= 0 {
			return itoa(r.ContentLength), true
		}
		return "", false
	}
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = foldSpaces(strings.TrimSpace(v))
	}
	return strings.Join(out, ","), true
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func foldSpaces(s string) string {
	if !strings.Contains(s, "  ") {
		return s
	}
	var b strings.Builder
	space := false
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// CanonicalRequest builds the canonical request of SigV4:
//
//	Method \n CanonicalURI \n CanonicalQuery \n CanonicalHeaders \n SignedHeaders \n HashedPayload
func CanonicalRequest(r *http.Request, query string, signed []string, payloadHash string) (string, error) {
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	b.WriteString(CanonicalURI(r.URL))
	b.WriteByte('\n')
	b.WriteString(query)
	b.WriteByte('\n')
	for _, name := range signed {
		v, ok := headerValue(r, name)
		if !ok {
			return "", errorf(ReasonSignatureMismatch, "%s", mismatch)
		}
		b.WriteString(name)
		b.WriteByte(':')
		b.WriteString(v)
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(signed, ";"))
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String(), nil
}

// StringToSign is AWS4-HMAC-SHA256 \n time \n scope \n hex(SHA256(canonical request)).
func StringToSign(amzDate string, scope Scope, canonicalRequest string) string {
	sum := sha256.Sum256([]byte(canonicalRequest))
	return algorithm + "\n" + amzDate + "\n" + scope.String() + "\n" + hex.EncodeToString(sum[:])
}

// SigningKey derives kSigning = HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request").
func SigningKey(secret string, scope Scope) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), scope.Date)
	k = hmacSHA256(k, scope.Region)
	k = hmacSHA256(k, scope.Service)
	return hmacSHA256(k, terminator)
}

// Signature is hex(HMAC(signing key, string to sign)).
func Signature(key []byte, stringToSign string) string {
	return hex.EncodeToString(hmacSHA256(key, stringToSign))
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}
