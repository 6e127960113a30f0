package sigv4

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

const (
	algorithm     = "AWS4-HMAC-SHA256"
	timeFormat    = "20060102T150405Z"
	dateFormat    = "20060102"
	emptySHA256   = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	unsignedBody  = "UNSIGNED-PAYLOAD"
	terminator    = "aws4_request"
	defaultSkew   = 15 * time.Minute
	defaultExpiry = 15 * time.Minute
	maxExpiry     = 7 * 24 * time.Hour
)

func errorf(r Reason, format string, args ...any) *Error {
	return &Error{Reason: r, Message: fmt.Sprintf(format, args...)}
}

var mismatch = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."

// Scope is a credential scope: AKID/date/region/service/aws4_request.
type Scope struct {
	AccessKeyID string
	Date        string
	Region      string
	Service     string
}

// String returns the scope without the access key id.
func (s Scope) String() string { return s.Date + "/" + s.Region + "/" + s.Service + "/" + terminator }

// ParseCredential parses "AKID/yyyymmdd/region/service/aws4_request".
func ParseCredential(c string) (Scope, error) {
	// Five parts split on '/' without a slice: the verifier parses one
	// per signed request.
	var parts [5]string
	n, rest := 0, c
	for ; n < len(parts)-1; n++ {
		p, r, ok := strings.Cut(rest, "/")
		if !ok {
			break
		}
		parts[n], rest = p, r
	}
	parts[n] = rest
	if n != 4 || strings.IndexByte(rest, '/') >= 0 || parts[0] == "" || parts[4] != terminator {
		return Scope{}, errorf(ReasonMalformed, "Credential should be scoped to a valid region, service and date: %q", c)
	}
	if _, ok := parseDate(parts[1]); !ok {
		return Scope{}, errorf(ReasonMalformed, "Credential should be scoped to a valid date: %q", c)
	}
	if parts[2] == "" || parts[3] == "" {
		return Scope{}, errorf(ReasonMalformed, "Credential should be scoped to a valid region and service: %q", c)
	}
	return Scope{AccessKeyID: parts[0], Date: parts[1], Region: parts[2], Service: parts[3]}, nil
}

// parseDate reads a yyyymmdd date (dateFormat) as time.Parse(dateFormat,
// s) does, without its allocations: eight digits naming a day that
// exists.
func parseDate(s string) (time.Time, bool) {
	if len(s) != 8 {
		return time.Time{}, false
	}
	y, ok1 := digits(s[0:4])
	m, ok2 := digits(s[4:6])
	d, ok3 := digits(s[6:8])
	if !ok1 || !ok2 || !ok3 || m < 1 || m > 12 || d < 1 {
		return time.Time{}, false
	}
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	if t.Day() != d { // normalised: the month has no such day
		return time.Time{}, false
	}
	return t, true
}

// parseAmzDate reads an X-Amz-Date (timeFormat, yyyymmddThhmmssZ) as
// time.Parse(timeFormat, s) does, without its allocations.
func parseAmzDate(s string) (time.Time, bool) {
	if len(s) != len(timeFormat) || s[8] != 'T' || s[15] != 'Z' {
		return time.Time{}, false
	}
	day, ok := parseDate(s[:8])
	h, ok1 := digits(s[9:11])
	m, ok2 := digits(s[11:13])
	sec, ok3 := digits(s[13:15])
	if !ok || !ok1 || !ok2 || !ok3 || h > 23 || m > 59 || sec > 59 {
		return time.Time{}, false
	}
	return day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(sec)*time.Second), true
}

// digits reads s, ASCII digits only, as a decimal number.
func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// Authorization is a parsed Authorization header.
type Authorization struct {
	Scope         Scope
	SignedHeaders []string
	Signature     string
}

// ParseAuthorization parses an AWS4-HMAC-SHA256 Authorization header
// value; a component given twice is refused (ReasonMalformed).
func ParseAuthorization(h string) (Authorization, error) {
	var a Authorization
	rest, ok := strings.CutPrefix(h, algorithm)
	if !ok || (rest != "" && rest[0] != ' ') {
		return a, errorf(ReasonIncomplete, "Unsupported authorization type or algorithm in header: %q", truncate(h))
	}
	var cred, signed, sig string
	var haveCred, haveSigned, haveSig bool
	for part := range strings.SplitSeq(rest, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return a, errorf(ReasonIncomplete, "Authorization header requires each component to be of the form key=value. Authorization=%s", truncate(h))
		}
		// A component given twice is refused, as a repeated X-Amz-*
		// parameter or header is: a reader taking the other one (a log,
		// a client's error) would see a request other than the one verified.
		if (k == "Credential" && haveCred) || (k == "SignedHeaders" && haveSigned) || (k == "Signature" && haveSig) {
			return a, errorf(ReasonMalformed, "The Authorization header component '%s' appears more than once. Each component may be sent once.", k)
		}
		switch k {
		case "Credential":
			cred, haveCred = v, true
		case "SignedHeaders":
			signed, haveSigned = v, true
		case "Signature":
			sig, haveSig = v, true
		default:
			return a, errorf(ReasonIncomplete, "Authorization header has an unknown component %q. Authorization=%s", k, truncate(h))
		}
	}
	for _, m := range []struct {
		ok   bool
		name string
	}{{haveCred, "Credential"}, {haveSigned, "SignedHeaders"}, {haveSig, "Signature"}} {
		if !m.ok {
			return a, errorf(ReasonIncomplete, "Authorization header requires '%s' parameter. Authorization=%s", m.name, truncate(h))
		}
	}
	scope, err := ParseCredential(cred)
	if err != nil {
		return a, err
	}
	a.Scope = scope
	if signed == "" {
		return a, errorf(ReasonIncomplete, "Authorization header requires 'SignedHeaders' parameter. Authorization=%s", truncate(h))
	}
	a.SignedHeaders = strings.Split(signed, ";")
	for _, name := range a.SignedHeaders {
		if name == "" || !isLower(name) {
			return a, errorf(ReasonMalformed, "SignedHeaders %q must list lower-case header names separated by ';'", signed)
		}
	}
	if !isHex64(sig) {
		return a, errorf(ReasonMalformed, "Signature %q is not 64 hexadecimal digits", truncate(sig))
	}
	a.Signature = sig
	return a, nil
}

// isLower is strings.ToLower(s) == s, without strings.ToLower's work
// for the ASCII names every SDK signs.
func isLower(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			return strings.ToLower(s) == s
		}
		if 'A' <= c && c <= 'Z' {
			return false
		}
	}
	return true
}

func truncate(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

func (v *Verifier) skew() time.Duration {
	if v.MaxSkew > 0 {
		return v.MaxSkew
	}
	return defaultSkew
}

// Verify picks the form: the Authorization header when present, the
// presigned query when X-Amz-Algorithm is in the URL, else
// ReasonMissingAuth. A presigned request must have an empty body: its
// signature covers no payload.
func (v *Verifier) Verify(ctx context.Context, r *http.Request, body []byte) (*Result, error) {
	return v.VerifyQuery(ctx, r, body, nil)
}

// VerifyQuery is Verify for a caller that has parsed r's query already:
// q is what r.URL.Query() returns (url.ParseQuery of r.URL.RawQuery, the
// pairs it could parse), read here instead of parsing the query again;
// nil q: Verify parses it. q is only read.
func (v *Verifier) VerifyQuery(ctx context.Context, r *http.Request, body []byte, q url.Values) (*Result, error) {
	if r.Header.Get("Authorization") != "" {
		return v.VerifyRequest(ctx, r, body)
	}
	if q == nil {
		q = r.URL.Query()
	}
	if q.Has("X-Amz-Algorithm") {
		if len(body) > 0 {
			return nil, errorf(ReasonIncomplete, "A presigned request must not carry a body: its signature does not cover one. Sign the request in the Authorization header instead.")
		}
		return v.verifyPresigned(ctx, r, q)
	}
	return nil, errorf(ReasonMissingAuth, "Request is missing Authentication Token")
}

func (v *Verifier) checkScope(s Scope) error {
	if len(v.Regions) == 0 {
		return nil
	}
	for _, r := range v.Regions {
		if r == s.Region {
			return nil
		}
	}
	return errorf(ReasonWrongScope, "Credential should be scoped to a valid region. This server serves region '%s'.", strings.Join(v.Regions, "', '"))
}

// authHeaders are the headers of the Authorization-header form that
// VerifyRequest reads by their first value (canonical keys); each may
// appear once.
var authHeaders = [...]string{"Authorization", "X-Amz-Date", "X-Amz-Security-Token"}

// VerifyRequest verifies the Authorization-header form. body is the whole
// request body. A request that repeats one of authHeaders is refused
// (ReasonMalformed).
func (v *Verifier) VerifyRequest(ctx context.Context, r *http.Request, body []byte) (*Result, error) {
	// Headers read here by their first value are refused when repeated,
	// as the presigned form's parameters are (X-Amz-Content-Sha256 is
	// checked with the body's hash below).
	for _, name := range authHeaders {
		if len(r.Header[name]) > 1 {
			return nil, errorf(ReasonMalformed, "The header '%s' appears more than once. Each authentication header may be sent once.", name)
		}
	}
	auth, err := ParseAuthorization(r.Header.Get("Authorization"))
	if err != nil {
		return nil, err
	}
	if !contains(auth.SignedHeaders, "host") {
		return nil, errorf(ReasonIncomplete, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
	}
	amzDate := r.Header.Get("X-Amz-Date")
	if amzDate == "" {
		return nil, errorf(ReasonIncomplete, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=%s", truncate(r.Header.Get("Authorization")))
	}
	t, ok := parseAmzDate(amzDate)
	if !ok {
		return nil, errorf(ReasonMalformed, "Invalid X-Amz-Date %q: it must be in the form yyyyMMddTHHmmssZ", truncate(amzDate))
	}
	// parseAmzDate took the date as written: its first eight digits are
	// what t.Format(dateFormat) would write.
	if amzDate[:8] != auth.Scope.Date {
		return nil, errorf(ReasonSignatureMismatch, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s'", auth.Scope.Date, amzDate[:8])
	}
	if err := v.checkScope(auth.Scope); err != nil {
		return nil, err
	}
	now := v.now()
	if d := t.Sub(now); d > v.skew() {
		return nil, errorf(ReasonSkew, "Signature not yet current: %s is still later than %s (%s + %d min.)", amzDate, now.Add(v.skew()).UTC().Format(timeFormat), now.UTC().Format(timeFormat), int(v.skew().Minutes()))
	} else if -d > v.skew() {
		return nil, errorf(ReasonSkew, "Signature expired: %s is now earlier than %s (%s - %d min.)", amzDate, now.Add(-v.skew()).UTC().Format(timeFormat), now.UTC().Format(timeFormat), int(v.skew().Minutes()))
	}
	// The signature always covers the body's own hash: UNSIGNED-PAYLOAD
	// and the STREAMING-* forms would let the body change after signing.
	var bodyHash [2 * sha256.Size]byte // hex, on the stack
	sum := sha256.Sum256(body)
	hex.Encode(bodyHash[:], sum[:])
	if vals := r.Header.Values("X-Amz-Content-Sha256"); len(vals) > 0 {
		if h := vals[0]; len(vals) > 1 || h != string(bodyHash[:]) {
			if h == unsignedBody || strings.HasPrefix(h, "STREAMING-") {
				return nil, errorf(ReasonSignatureMismatch, "Unsigned and streaming payloads are not accepted: the 'x-amz-content-sha256' header must be the SHA-256 of the request body, and the signature must cover it.")
			}
			return nil, errorf(ReasonSignatureMismatch, "The provided 'x-amz-content-sha256' header does not match what was computed.")
		}
	}
	token := r.Header.Get("X-Amz-Security-Token")
	cred, err := v.Lookup(ctx, auth.Scope.AccessKeyID, token)
	if err != nil {
		return nil, err
	}
	query := ""
	if r.URL.RawQuery != "" {
		query = CanonicalQuery(r.URL.Query(), "")
	}
	var buf [1024]byte // the canonical request is only hashed: build it on the stack
	canon, err := appendCanonicalRequest(buf[:0], r, query, auth.SignedHeaders, bodyHash[:])
	if err != nil {
		return nil, err
	}
	if !signatureMatches(v.signingKey(cred.SecretAccessKey, auth.Scope), amzDate, auth.Scope, canon, auth.Signature) {
		return nil, errorf(ReasonSignatureMismatch, "%s", mismatch)
	}
	return &Result{AccessKeyID: auth.Scope.AccessKeyID, SessionToken: token, Region: auth.Scope.Region, Service: auth.Scope.Service,
		SigningTime: t, SignedHeaders: auth.SignedHeaders, Signature: auth.Signature}, nil
}

// Presigned holds the SigV4 parameters of a presigned URL.
type Presigned struct {
	Scope         Scope
	Date          time.Time
	AmzDate       string
	Expires       time.Duration // 0 when X-Amz-Expires was absent
	SignedHeaders []string
	SecurityToken string
	Signature     string
}

// presignParams are the query parameters of the presigned form that
// ParsePresigned reads; each may appear once.
var presignParams = [...]string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
	"X-Amz-SignedHeaders", "X-Amz-Security-Token", "X-Amz-Signature"}

// ParsePresigned reads the X-Amz-* parameters of a presigned query. A
// query that repeats one of them is refused (ReasonMalformed).
func ParsePresigned(q url.Values) (Presigned, error) {
	var p Presigned
	if !q.Has("X-Amz-Algorithm") && !q.Has("X-Amz-Credential") && !q.Has("X-Amz-Signature") {
		return p, errorf(ReasonMissingAuth, "Request is missing Authentication Token")
	}
	// A parameter sent twice is refused before any is read: the
	// signature covers every value of the others (the canonical query
	// lists each), but a reader taking the first value (Get) would act
	// on a request other than the one signed, and a second
	// X-Amz-Signature is left out of what is signed.
	for _, name := range presignParams {
		if len(q[name]) > 1 {
			return p, errorf(ReasonMalformed, "The query-string parameter '%s' appears more than once. Each X-Amz-* authentication parameter may be sent once.", name)
		}
	}
	for _, name := range []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Signature"} {
		if q.Get(name) == "" {
			return p, errorf(ReasonIncomplete, "AWS query-string parameters must include '%s'. Re-examine the query-string parameters.", name)
		}
	}
	if a := q.Get("X-Amz-Algorithm"); a != algorithm {
		return p, errorf(ReasonMalformed, "X-Amz-Algorithm only supports %q, not %q", algorithm, truncate(a))
	}
	scope, err := ParseCredential(q.Get("X-Amz-Credential"))
	if err != nil {
		return p, err
	}
	p.Scope = scope
	p.AmzDate = q.Get("X-Amz-Date")
	var ok bool
	if p.Date, ok = parseAmzDate(p.AmzDate); !ok {
		return p, errorf(ReasonMalformed, "Invalid X-Amz-Date %q: it must be in the form yyyyMMddTHHmmssZ", truncate(p.AmzDate))
	}
	if p.AmzDate[:8] != scope.Date {
		return p, errorf(ReasonSignatureMismatch, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s'", scope.Date, p.AmzDate[:8])
	}
	if e := q.Get("X-Amz-Expires"); e != "" || q.Has("X-Amz-Expires") {
		n, err := strconv.ParseInt(e, 10, 64)
		if err != nil || n <= 0 {
			return p, errorf(ReasonMalformed, "X-Amz-Expires must be a positive number of seconds, not %q", truncate(e))
		}
		if n > int64(maxExpiry/time.Second) {
			return p, errorf(ReasonMalformed, "X-Amz-Expires must be less than a week (in seconds) that is 604800")
		}
		p.Expires = time.Duration(n) * time.Second
	}
	p.SignedHeaders = strings.Split(q.Get("X-Amz-SignedHeaders"), ";")
	for _, name := range p.SignedHeaders {
		if name == "" || strings.ToLower(name) != name {
			return p, errorf(ReasonMalformed, "X-Amz-SignedHeaders %q must list lower-case header names separated by ';'", truncate(q.Get("X-Amz-SignedHeaders")))
		}
	}
	if !contains(p.SignedHeaders, "host") {
		return p, errorf(ReasonIncomplete, "'Host' must be a 'SignedHeader' in the AWS Authorization.")
	}
	p.Signature = q.Get("X-Amz-Signature")
	if !isHex64(p.Signature) {
		return p, errorf(ReasonMalformed, "X-Amz-Signature %q is not 64 hexadecimal digits", truncate(p.Signature))
	}
	p.SecurityToken = q.Get("X-Amz-Security-Token")
	return p, nil
}

// VerifyPresigned verifies the presigned query form (as /openTunnel uses).
// The payload hash may be the SHA-256 of the empty string (what the AWS
// CLI and the Go SDK sign) or UNSIGNED-PAYLOAD; either way the request's
// body is not covered, so the caller must not act on one (Verify refuses
// a presigned request that carries a body).
func (v *Verifier) VerifyPresigned(ctx context.Context, r *http.Request) (*Result, error) {
	return v.verifyPresigned(ctx, r, r.URL.Query())
}

// verifyPresigned is VerifyPresigned with r's query parsed into q.
func (v *Verifier) verifyPresigned(ctx context.Context, r *http.Request, q url.Values) (*Result, error) {
	p, err := ParsePresigned(q)
	if err != nil {
		return nil, err
	}
	if err := v.checkScope(p.Scope); err != nil {
		return nil, err
	}
	maxExp := v.MaxPresignExpiry
	if maxExp == 0 {
		maxExp = maxExpiry
	}
	if p.Expires > maxExp {
		return nil, errorf(ReasonMalformed, "X-Amz-Expires must be at most %d seconds", int64(maxExp/time.Second))
	}
	exp := p.Expires
	if exp == 0 {
		exp = v.DefaultPresignExpiry
		if exp == 0 {
			exp = defaultExpiry
		}
	}
	now := v.now()
	if p.Date.Sub(now) > v.skew() {
		return nil, errorf(ReasonSkew, "Signature not yet current: %s is still later than %s", p.AmzDate, now.Add(v.skew()).UTC().Format(timeFormat))
	}
	expires := p.Date.Add(exp)
	if now.After(expires) {
		return nil, errorf(ReasonExpired, "Request has expired")
	}
	cred, err := v.Lookup(ctx, p.Scope.AccessKeyID, p.SecurityToken)
	if err != nil {
		return nil, err
	}
	key := v.signingKey(cred.SecretAccessKey, p.Scope)
	query := CanonicalQuery(q, "X-Amz-Signature")
	ok := false
	var buf [1024]byte // the canonical request is only hashed: build it on the stack
	for _, payload := range []string{emptySHA256, unsignedBody} {
		canon, err := appendCanonicalRequest(buf[:0], r, query, p.SignedHeaders, payload)
		if err != nil {
			return nil, err
		}
		if signatureMatches(key, p.AmzDate, p.Scope, canon, p.Signature) {
			ok = true
		}
	}
	if !ok {
		return nil, errorf(ReasonSignatureMismatch, "%s", mismatch)
	}
	return &Result{AccessKeyID: p.Scope.AccessKeyID, SessionToken: p.SecurityToken, Region: p.Scope.Region, Service: p.Scope.Service,
		SigningTime: p.Date, SignedHeaders: p.SignedHeaders, Presigned: true, Expires: expires, Signature: p.Signature}, nil
}

// keyCache memoises derived signing keys: one HMAC chain per
// (secret, day, region, service) instead of four HMACs per request.
type keyCache struct {
	mu sync.Mutex // guards m
	m  map[[32]byte]*signingKey
}

// signingKey is a derived key and the HMAC-SHA256 states keyed with it
// that verifications return for reuse (hmac.New allocates two SHA-256
// states and the padded key each time; a keyed state that is Reset is
// the same as a new one).
type signingKey struct {
	key  []byte
	macs sync.Pool // of *macState
}

// macState is a keyed HMAC-SHA256 with the buffers one verification
// passes through it: bytes handed to the hash.Hash interface escape to
// the heap, so they live here, reused with the state, instead of being
// allocated on every call.
type macState struct {
	h   hash.Hash
	sts [192]byte // the string to sign; a longer scope's grows a copy
	sum [sha256.Size]byte
}

func (k *signingKey) mac() *macState {
	if m, ok := k.macs.Get().(*macState); ok {
		return m
	}
	return &macState{h: hmac.New(sha256.New, k.key)}
}

func (k *signingKey) release(m *macState) {
	m.h.Reset()
	clear(m.sum[:]) // the expected signature is not kept past its use
	k.macs.Put(m)
}

const maxCachedKeys = 1024

func (v *Verifier) signingKey(secret string, s Scope) *signingKey {
	// sha256(secret \x00 scope), built on the stack.
	var kb [256]byte
	ks := append(append(kb[:0], secret...), 0)
	ks = append(append(append(append(ks, s.Date...), '/'), s.Region...), '/')
	ks = append(append(append(ks, s.Service...), '/'), terminator...)
	id := sha256.Sum256(ks)
	v.cacheOnce.Do(func() { v.cache = &keyCache{m: make(map[[32]byte]*signingKey)} })
	c := v.cache
	c.mu.Lock()
	k, ok := c.m[id]
	c.mu.Unlock()
	if ok {
		return k
	}
	k = &signingKey{key: SigningKey(secret, s)}
	c.mu.Lock()
	if len(c.m) >= maxCachedKeys {
		clear(c.m)
	}
	c.m[id] = k
	c.mu.Unlock()
	return k
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
