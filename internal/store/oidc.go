package store

import (
	"context"
	"time"
)

// OIDCProvider is an IAM OpenID Connect identity provider: an issuer whose
// ID tokens STS AssumeRoleWithWebIdentity accepts.
type OIDCProvider struct {
	// ARN is arn:aws:iam::<account>:oidc-provider/<URL>; unique.
	ARN string
	// URL is the issuer without its https:// scheme (host[:port][/path]),
	// as IAM shows it and as condition keys name it ("<URL>:sub").
	URL string
	// ClientIDs are the audiences accepted (IAM's ClientIDList), in the
	// order they were added.
	ClientIDs []string
	// Thumbprints are SHA-1 fingerprints (40 lower-case hex digits) of the
	// top certificate of a chain the provider's hosts may present.
	Thumbprints []string
	Tags        []Tag
	CreateDate  time.Time
}

// OIDCProviders is the OIDC identity-provider repository.
type OIDCProviders interface {
	// CreateOIDCProvider returns ErrConflict if the ARN exists.
	CreateOIDCProvider(ctx context.Context, p OIDCProvider) error
	GetOIDCProvider(ctx context.Context, arn string) (OIDCProvider, error)
	// ListOIDCProviders returns every provider, ordered by ARN.
	ListOIDCProviders(ctx context.Context) ([]OIDCProvider, error)
	// UpdateOIDCProvider replaces the client ids, thumbprints and tags of
	// the provider p.ARN names; ErrNotFound if it does not exist.
	UpdateOIDCProvider(ctx context.Context, p OIDCProvider) error
	// DeleteOIDCProvider returns ErrNotFound if it does not exist. Role
	// sessions issued through the provider stay until they expire.
	DeleteOIDCProvider(ctx context.Context, arn string) error
}
