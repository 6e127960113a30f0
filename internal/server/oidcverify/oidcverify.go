// Package oidcverify verifies OpenID Connect ID tokens (web identity
// tokens) for one IAM OIDC identity provider the way AWS STS does for
// AssumeRoleWithWebIdentity: the provider's discovery document and JWKS
// fetched over HTTPS it trusts as AWS trusts it (the SHA-1 thumbprint of
// the top certificate of the presented chain is in the provider's list,
// or the chain verifies against the system roots), the keys cached and
// fetched again, at a bounded rate, when a token names a key the cache
// does not hold; RS256 and ES256 signatures; the issuer matched exactly;
// exp, nbf and iat checked with a bounded clock skew; aud (or, when no
// aud value is one, azp) among the provider's client ids; and the
// "https://aws.amazon.com/tags" session-tags claim parsed and checked.
//
// Signatures and JOSE parsing are go-jose's (github.com/go-jose/go-jose/v4)
// and discovery and ID-token verification are go-oidc's
// (github.com/coreos/go-oidc/v3); this package adds AWS's trust and claim
// rules. It keeps no state beyond its key cache, touches no store and
// serves no HTTP: trust policies, condition keys and AWS error codes
// belong to its callers. Its errors wrap one of the sentinels below,
// which the STS edge maps to AWS's error codes.
package oidcverify

import (
	"errors"
	"fmt"
)

// The sentinel errors. Every error Verify returns wraps exactly one of
// ErrInvalidToken, ErrRejectedClaim, ErrExpired and ErrCommunication (an
// untrusted certificate also wraps ErrUntrustedCertificate) with a
// message saying what was wrong.
//
// AWS STS's codes for them: ErrInvalidToken is InvalidIdentityToken,
// ErrExpired is ExpiredTokenException ("Token expired: current date/time
// ... must be before the expiration date/time ..."), ErrCommunication is
// IDPCommunicationError ("Couldn't retrieve verification key from your
// identity provider"). AWS answers a wrong audience with
// InvalidIdentityToken "Incorrect token audience" and a certificate that
// matches no thumbprint with InvalidIdentityToken "OpenIDConnect
// provider's HTTPS certificate doesn't match configured thumbprint"
// (both as observed from AWS); the edge that wants AWS's exact answers
// maps ErrRejectedClaim and ErrUntrustedCertificate accordingly, and
// keeps IDPRejectedClaim for claims a provider itself rejects.
var (
	// ErrInvalidToken: not a signed JWT, a signature that does not
	// verify, a key the provider does not publish, another issuer, a
	// missing required claim, a token not yet valid or issued in the
	// future.
	ErrInvalidToken = errors.New("invalid identity token")
	// ErrRejectedClaim: a well-formed, correctly signed token whose
	// claims the provider's configuration refuses: no aud (nor azp) among
	// the client ids, or an invalid session-tags claim.
	ErrRejectedClaim = errors.New("identity token claim rejected")
	// ErrExpired: the token's exp is past (beyond the allowed skew).
	ErrExpired = errors.New("identity token expired")
	// ErrCommunication: discovery or the JWKS could not be fetched, read
	// or trusted.
	ErrCommunication = errors.New("cannot communicate with the identity provider")
	// ErrUntrustedCertificate: the provider's TLS certificate matched no
	// thumbprint and did not verify against the trusted roots. Errors
	// wrapping it also wrap ErrCommunication.
	ErrUntrustedCertificate = errors.New("identity provider's certificate matches no configured thumbprint and no trusted root")
)

// Error is a refusal Verify returns: Kind is the sentinel it wraps,
// Detail says what was wrong, worded for the caller's answer (AWS puts it
// in its message). Callers take Detail with errors.As, never by cutting
// the error's text.
type Error struct {
	Kind   error
	Detail string
}

func (e *Error) Error() string { return e.Kind.Error() + ": " + e.Detail }

// Unwrap returns Kind.
func (e *Error) Unwrap() error { return e.Kind }

func refusal(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Detail: fmt.Sprintf(format, args...)}
}

func invalid(format string, args ...any) error {
	return refusal(ErrInvalidToken, format, args...)
}

func rejected(format string, args ...any) error {
	return refusal(ErrRejectedClaim, format, args...)
}

func communication(format string, args ...any) error {
	return refusal(ErrCommunication, format, args...)
}
