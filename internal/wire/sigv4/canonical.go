package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// uriEncode encodes s as SigV4 requires (RFC 3986: unreserved characters
// A–Z a–z 0–9 - _ . ~ stay, everything else is %XX upper-case); '/' is kept
// when encodeSlash is false.
func uriEncode(s string, encodeSlash bool) string {
	i := 0
	for i < len(s) && unreserved(s[i], encodeSlash) {
		i++
	}
	if i == len(s) { // nothing to encode (the usual case): no copy
		return s
	}
	return string(appendURIEncoded(make([]byte, 0, len(s)+8), s, encodeSlash))
}

func unreserved(c byte, encodeSlash bool) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' || (c == '/' && !encodeSlash)
}

// appendURIEncoded appends uriEncode(s, encodeSlash) to b.
func appendURIEncoded(b []byte, s string, encodeSlash bool) []byte {
	const hexdig = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c, encodeSlash) {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hexdig[c>>4], hexdig[c&15])
	}
	return b
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

// appendCanonicalURI appends CanonicalURI(u) to b.
func appendCanonicalURI(b []byte, u *url.URL) []byte {
	p := u.EscapedPath()
	if p == "" {
		return append(b, '/')
	}
	return appendURIEncoded(b, p, false)
}

// CanonicalQuery is the query sorted by encoded key then value, each
// RFC 3986-encoded, leaving out the parameters in skip.
//
// Keys are sorted once (distinct keys encode to distinct keys), values
// only where a key has several, and the text is written into one buffer
// of the right size: a presigned URL's query costs a few allocations
// instead of one per pair and sort.Slice's.
func CanonicalQuery(q url.Values, skip string) string {
	type key struct{ enc, raw string }
	var stack [16]key
	keys := stack[:0]
	n := 0
	for k, vs := range q {
		if k == skip || len(vs) == 0 {
			continue
		}
		ek := uriEncode(k, true)
		keys = append(keys, key{ek, k})
		for _, v := range vs {
			n += len(ek) + len(v) + 2
		}
	}
	slices.SortFunc(keys, func(a, b key) int { return strings.Compare(a.enc, b.enc) })
	b := make([]byte, 0, n+n/4)
	var vals []string
	for _, k := range keys {
		vs := q[k.raw]
		if len(vs) > 1 {
			vals = vals[:0]
			for _, v := range vs {
				vals = append(vals, uriEncode(v, true))
			}
			slices.Sort(vals)
			for _, v := range vals {
				b = appendPair(b, k.enc, v, false)
			}
			continue
		}
		b = appendPair(b, k.enc, vs[0], true)
	}
	return string(b)
}

// appendPair appends "&key=value" to b ("key=value" to an empty b); value
// is encoded first when encode.
func appendPair(b []byte, key, value string, encode bool) []byte {
	if len(b) > 0 {
		b = append(b, '&')
	}
	b = append(b, key...)
	b = append(b, '=')
	if encode {
		return appendURIEncoded(b, value, true)
	}
	return append(b, value...)
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
	vals := r.Header[headerKey(name)] // r.Header.Values(name)
	if len(vals) == 0 {
		if name == "content-length" && r.ContentLength >= 0 {
			return itoa(r.ContentLength), true
		}
		return "", false
	}
	if len(vals) == 1 { // the usual case: no slice, no join
		return foldSpaces(strings.TrimSpace(vals[0])), true
	}
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = foldSpaces(strings.TrimSpace(v))
	}
	return strings.Join(out, ","), true
}

// knownKeys maps the lower-case names the SDKs sign to their canonical
// header keys, so that a verification does not canonicalise (and
// allocate) each signed name anew.
var knownKeys = func() map[string]string {
	m := map[string]string{}
	for _, n := range []string{"content-type", "content-length", "content-md5", "x-amz-date", "x-amz-content-sha256",
		"x-amz-security-token", "x-amz-target", "x-amz-user-agent", "amz-sdk-invocation-id", "amz-sdk-request", "user-agent",
		"accept", "accept-encoding", "date", "x-amz-api-version"} {
		m[n] = textproto.CanonicalMIMEHeaderKey(n)
	}
	return m
}()

// headerKey is textproto.CanonicalMIMEHeaderKey(name), the key
// http.Header.Values looks name up under.
func headerKey(name string) string {
	if k, ok := knownKeys[name]; ok {
		return k
	}
	return textproto.CanonicalMIMEHeaderKey(name)
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
	b, err := appendCanonicalRequest(nil, r, query, signed, payloadHash)
	return string(b), err
}

// appendCanonicalRequest appends CanonicalRequest's text to b (a verifier
// passes a buffer on its stack: the canonical request is only hashed).
func appendCanonicalRequest[H string | []byte](b []byte, r *http.Request, query string, signed []string, payloadHash H) ([]byte, error) {
	b = append(b, r.Method...)
	b = append(b, '\n')
	b = appendCanonicalURI(b, r.URL)
	b = append(b, '\n')
	b = append(b, query...)
	b = append(b, '\n')
	for _, name := range signed {
		v, ok := headerValue(r, name)
		if !ok {
			return b, errorf(ReasonSignatureMismatch, "%s", mismatch)
		}
		b = append(b, name...)
		b = append(b, ':')
		b = append(b, v...)
		b = append(b, '\n')
	}
	b = append(b, '\n')
	for i, name := range signed {
		if i > 0 {
			b = append(b, ';')
		}
		b = append(b, name...)
	}
	b = append(b, '\n')
	b = append(b, payloadHash...)
	return b, nil
}

// StringToSign is AWS4-HMAC-SHA256 \n time \n scope \n hex(SHA256(canonical request)).
func StringToSign(amzDate string, scope Scope, canonicalRequest string) string {
	sum := sha256.Sum256([]byte(canonicalRequest))
	return algorithm + "\n" + amzDate + "\n" + scope.String() + "\n" + hex.EncodeToString(sum[:])
}

// signatureMatches tells, comparing in constant time, whether sig is
// Signature(key, StringToSign(amzDate, scope, canonicalRequest)), with
// fewer copies: the string to sign is built in one buffer and the
// signatures are compared as hex without building strings.
func signatureMatches(key *signingKey, amzDate string, scope Scope, canonicalRequest []byte, sig string) bool {
	sum := sha256.Sum256(canonicalRequest)
	m := key.mac()
	defer key.release(m)
	sts := append(m.sts[:0], algorithm...)
	sts = append(sts, '\n')
	sts = append(sts, amzDate...)
	sts = append(sts, '\n')
	sts = append(sts, scope.Date...)
	sts = append(sts, '/')
	sts = append(sts, scope.Region...)
	sts = append(sts, '/')
	sts = append(sts, scope.Service...)
	sts = append(sts, '/')
	sts = append(sts, terminator...)
	sts = append(sts, '\n')
	sts = hex.AppendEncode(sts, sum[:])
	m.h.Write(sts)
	var want [2 * sha256.Size]byte
	hex.Encode(want[:], m.h.Sum(m.sum[:0]))
	return hmac.Equal(want[:], []byte(sig))
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
