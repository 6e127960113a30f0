package cli

import (
	"context"
	"errors"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// errNoCredentials marks a credentials failure the AWS CLI reports as
// "Unable to locate credentials" (exit 253): nothing on this machine gave
// credentials. apiError decides on it with errors.Is, never on the SDK's
// message text.
var errNoCredentials = errors.New("no credentials")

// noCredentialsError is err marked as errNoCredentials; its text is err's.
type noCredentialsError struct{ err error }

func (e *noCredentialsError) Error() string   { return e.err.Error() }
func (e *noCredentialsError) Unwrap() []error { return []error{errNoCredentials, e.err} }

// markNoCredentials wraps a non-nil err as errNoCredentials.
func markNoCredentials(err error) error {
	if err == nil {
		return nil
	}
	return &noCredentialsError{err: err}
}

// fallbackCredentials wraps the SDK's last resort, the EC2 instance role
// (tried when no environment variable, profile or container setting gives
// credentials), so that its failure is errNoCredentials. The optional
// interfaces the SDK looks for on a provider pass through.
type fallbackCredentials struct{ aws.CredentialsProvider }

func (p fallbackCredentials) Retrieve(ctx context.Context) (aws.Credentials, error) {
	c, err := p.CredentialsProvider.Retrieve(ctx)
	return c, markNoCredentials(err)
}

func (p fallbackCredentials) ProviderSources() []aws.CredentialSource {
	return providerSources(p.CredentialsProvider)
}

func (p fallbackCredentials) IsCredentialsProvider(target aws.CredentialsProvider) bool {
	return aws.IsCredentialsProvider(p.CredentialsProvider, target)
}

// providerSources is where p's credentials come from, as the SDK records it.
func providerSources(p aws.CredentialsProvider) []aws.CredentialSource {
	if s, ok := p.(aws.CredentialProviderSource); ok {
		return s.ProviderSources()
	}
	return nil
}

// withNoCredentialsMark returns p, wrapped as fallbackCredentials when its
// only source is the EC2 instance role.
func withNoCredentialsMark(p aws.CredentialsProvider) aws.CredentialsProvider {
	if p == nil || !slices.Equal(providerSources(p), []aws.CredentialSource{aws.CredentialSourceIMDS}) {
		return p
	}
	return fallbackCredentials{p}
}
