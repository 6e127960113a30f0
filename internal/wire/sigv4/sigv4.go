// Package sigv4 verifies AWS Signature Version 4 requests: the Authorization
// header form that every SDK and the CLI send for API calls, and the
// presigned query form that /openTunnel uses.
//
// It is written by hand, not taken from the AWS SDK, because the SDK only
// signs: a server must accept whatever SignedHeaders set each client chose,
// with that client's header casing, a Host that carries a port, and both the
// hashed-payload and presigned forms. Signing in Postern's own clients uses
// the SDK's signer, and the tests check that every signature the SDK makes
// verifies here.
//
// The package is pure: no globals, the clock and the credential lookup are
// injected. Errors are *Error values with a Reason; the network edge maps
// reasons to AWS error codes.
package sigv4

import (
	"context"
	"sync"
	"time"
)

// Reason classifies why a request failed verification.
type Reason int

// Reasons a verification fails. The edge maps them to AWS codes:
//
//	ReasonMissingAuth        → MissingAuthenticationToken (403)
//	ReasonIncomplete         → IncompleteSignature (400)
//	ReasonMalformed          → IncompleteSignature / AuthFailure (400)
//	ReasonUnknownKey         → InvalidClientTokenId (403)
//	ReasonInvalidToken       → InvalidClientTokenId (403)
//	ReasonExpiredToken       → ExpiredToken (403)
//	ReasonSignatureMismatch  → SignatureDoesNotMatch (403)
//	ReasonExpired            → RequestExpired (400) / AccessDenied for presigned
//	ReasonSkew               → RequestTimeTooSkewed / SignatureDoesNotMatch (403)
//	ReasonWrongScope         → SignatureDoesNotMatch (403) (region/service)
const (
	ReasonMissingAuth Reason = iota + 1
	ReasonIncomplete
	ReasonMalformed
	ReasonUnknownKey
	ReasonInvalidToken
	ReasonExpiredToken
	ReasonSignatureMismatch
	ReasonExpired
	ReasonSkew
	ReasonWrongScope
)

// Error is a verification failure. Message is safe to show to the caller
// and is worded as AWS words it where AWS's wording is known.
type Error struct {
	Reason  Reason
	Message string
}

func (e *Error) Error() string { return "sigv4: " + e.Message }

// Credential is what a lookup returns for an access key id.
type Credential struct {
	SecretAccessKey string
}

// LookupFunc returns the secret for an access key id. sessionToken is the
// X-Amz-Security-Token the request carried ("" when none). The lookup is
// responsible for checking that the token belongs to the key (in constant
// time) and that the key is active; it reports failures as *Error with
// ReasonUnknownKey, ReasonInvalidToken or ReasonExpiredToken.
type LookupFunc func(ctx context.Context, accessKeyID, sessionToken string) (Credential, error)

// Verifier checks signatures. Fields must be set before first use and not
// changed afterwards.
type Verifier struct {
	// Lookup resolves access keys. Required.
	Lookup LookupFunc
	// Now returns the current time. Defaults to time.Now.
	Now func() time.Time
	// MaxSkew is how far X-Amz-Date may be from Now for header-signed
	// requests. Defaults to 15 minutes, as AWS.
	MaxSkew time.Duration
	// Regions lists the regions a credential scope may name. Empty means any.
	Regions []string
	// DefaultPresignExpiry applies to presigned URLs without X-Amz-Expires.
	// Defaults to 15 minutes.
	DefaultPresignExpiry time.Duration
	// MaxPresignExpiry caps X-Amz-Expires. Defaults to 7 days, as AWS.
	MaxPresignExpiry time.Duration

	cacheOnce sync.Once
	cache     *keyCache
}

// Result describes a request whose signature verified.
type Result struct {
	AccessKeyID   string
	SessionToken  string // "" for long-term keys
	Region        string
	Service       string
	SigningTime   time.Time
	SignedHeaders []string // lower case, as listed
	Presigned     bool
	// Expires is when a presigned URL stops being valid; zero for
	// header-signed requests.
	Expires time.Time
	// Signature is the hex signature the request carried (used to
	// recognise replays of a presigned URL).
	Signature string
}
