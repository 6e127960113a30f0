package endpoints

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/wire/awsid"
	"github.com/postern/postern/internal/wire/tunnelproto"
)

// Join tokens: a single-use, short-lived secret that lets one new agent
// join one endpoint. The store keeps only HashSecret of the secret.

var (
	// ErrInvalidJoinToken: the join token is unknown, expired or used
	// (or its endpoint is gone).
	ErrInvalidJoinToken = errors.New("endpoints: the join token is unknown, expired or already used")
	// ErrAgentKeyInUse: an agent with this key has joined already.
	ErrAgentKeyInUse = errors.New("endpoints: an agent with this key has joined already")
)

// HashSecret is how join-token secrets are stored: their SHA-256.
func HashSecret(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// TokenRequest asks for a join token.
type TokenRequest struct {
	// EndpointID is the endpoint the agent will serve; CreatedBy is the
	// ARN of the principal asking.
	EndpointID, CreatedBy string
	// TTL is the token's lifetime.
	TTL time.Duration
	// Server (host:port) and CAPin (hex SHA-256 of the CA certificate)
	// tell the agent where and whom to join.
	Server, CAPin string
}

// IssuedToken is a new join token: its text form for the agent, and its
// record (without the secret).
type IssuedToken struct {
	Token string
	store.JoinToken
}

// IssueJoinToken makes and records a join token. The caller checks that
// the endpoint exists and is Joinable.
func (h *Endpoints) IssueJoinToken(ctx context.Context, req TokenRequest) (IssuedToken, error) {
	secretBytes := make([]byte, 32)
	if _, err := rand.Read(secretBytes); err != nil {
		return IssuedToken{}, fmt.Errorf("endpoints: join token secret: %w", err)
	}
	secret := base64.RawURLEncoding.EncodeToString(secretBytes)
	now := h.now().UTC().Truncate(time.Millisecond)
	t := store.JoinToken{TokenHash: HashSecret(secret), TokenID: h.ids(awsid.PrefixJoinToken), EndpointID: req.EndpointID,
		CreatedBy: req.CreatedBy, CreatedAt: now, ExpiresAt: now.Add(req.TTL)}
	if err := h.st.CreateJoinToken(ctx, t); err != nil {
		return IssuedToken{}, fmt.Errorf("endpoints: create join token for %s: %w", req.EndpointID, err)
	}
	tok := tunnelproto.JoinToken{Server: req.Server, CAPin: req.CAPin, EndpointID: req.EndpointID, Secret: secret}
	return IssuedToken{Token: tok.Encode(), JoinToken: t}, nil
}

// JoinRequest is an agent's redemption of a join token.
type JoinRequest struct {
	// Secret is the token's secret (tunnelproto.JoinRequest.Token).
	Secret string
	// Name and Version are what the agent says of itself.
	Name, Version string
	// KeyFingerprint is the agent's TLS client key; Address where it
	// connects from.
	KeyFingerprint, Address string
}

// Joined is an agent that joined.
type Joined struct {
	AgentID  string
	Endpoint store.Endpoint
	Vpc      store.Vpc
}

// Redeem uses a join token: in one transaction it marks the token used,
// records the new agent and lets it join the token's endpoint. Errors
// wrap ErrInvalidJoinToken (unknown, expired or used token, or its
// endpoint gone), ErrAgentKeyInUse (the key joined already) or
// ErrInvalidTransition (the endpoint is being deleted or failed).
func (h *Endpoints) Redeem(ctx context.Context, jr JoinRequest) (Joined, error) {
	now := h.now().UTC()
	j := Joined{AgentID: h.ids(awsid.PrefixNetworkInterface)}
	err := h.st.InTx(ctx, func(tx store.Repo) error {
		tok, err := tx.RedeemJoinToken(ctx, HashSecret(jr.Secret), j.AgentID, now)
		if err != nil {
			return err
		}
		if j.Endpoint, err = tx.GetEndpoint(ctx, tok.EndpointID); err != nil {
			return err
		}
		if j.Vpc, err = tx.GetVpc(ctx, j.Endpoint.VpcID); err != nil {
			return err
		}
		if err := tx.CreateAgent(ctx, store.Agent{AgentID: j.AgentID, EndpointID: j.Endpoint.EndpointID, Name: jr.Name,
			KeyFingerprint: jr.KeyFingerprint, CreatedAt: now, CreatedBy: tok.CreatedBy, LastAddress: jr.Address,
			LastVersion: jr.Version, LastConnectedAt: now}); err != nil {
			return err
		}
		return h.AgentJoinedIn(ctx, tx, j.Endpoint.EndpointID, j.AgentID)
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return Joined{}, fmt.Errorf("%w: %w", ErrInvalidJoinToken, err)
	case errors.Is(err, store.ErrConflict):
		return Joined{}, fmt.Errorf("%w: %w", ErrAgentKeyInUse, err)
	case err != nil:
		return Joined{}, fmt.Errorf("endpoints: redeem join token: %w", err)
	}
	return j, nil
}
