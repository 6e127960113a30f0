package main

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// opStorage is the example's in-memory storage (auth requests, codes,
// tokens, device authorizations) with this program's clients, users,
// extra claims and signing key.
type opStorage struct {
	*storage.Storage
	key     *signingKey
	clients map[string]*client
	users   userStore
}

var _ exampleop.Storage = (*opStorage)(nil)

func newStorage(cfg *config, key *signingKey) (*opStorage, error) {
	users := userStore{bySubject: map[string]*user{}, byName: map[string]*user{}}
	for _, u := range cfg.Users {
		usr := &user{User: storage.User{ID: u.Subject, Username: u.Username, Password: u.Password, Email: u.Email, EmailVerified: u.Email != ""}, claims: u.Claims}
		users.bySubject[u.Subject] = usr
		users.byName[u.Username] = usr
	}
	clients := map[string]*client{}
	// The example storage checks its own client map when a device
	// authorization starts; it holds a placeholder for each client, and
	// every other lookup goes through GetClientByClientID below.
	placeholders := map[string]*storage.Client{}
	for _, c := range cfg.Clients {
		clients[c.ID] = &client{spec: c, lifetime: time.Duration(cfg.IDTokenLifetimeSeconds) * time.Second}
		placeholders[c.ID] = storage.DeviceClient(c.ID, "")
	}
	return &opStorage{
		Storage: storage.NewStorageWithClients(users, placeholders),
		key:     key,
		clients: clients,
		users:   users,
	}, nil
}

// SigningKey implements op.Storage: this start's key.
func (s *opStorage) SigningKey(context.Context) (op.SigningKey, error) { return s.key, nil }

// SignatureAlgorithms implements op.Storage.
func (s *opStorage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{s.key.alg}, nil
}

// KeySet implements op.Storage: the JWKS holds only this start's key, so
// a restart rotates the key and the old one is gone.
func (s *opStorage) KeySet(context.Context) ([]op.Key, error) {
	return []op.Key{publicKey{s.key}}, nil
}

// GetClientByClientID implements op.Storage.
func (s *opStorage) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	c, ok := s.clients[id]
	if !ok {
		return nil, errors.New("client not found")
	}
	return c, nil
}

// AuthorizeClientIDSecret implements op.Storage.
func (s *opStorage) AuthorizeClientIDSecret(_ context.Context, id, secret string) error {
	c, ok := s.clients[id]
	if !ok || c.spec.Secret == "" {
		return errors.New("client not found or not confidential")
	}
	if subtle.ConstantTimeCompare([]byte(c.spec.Secret), []byte(secret)) != 1 {
		return errors.New("invalid client secret")
	}
	return nil
}

// SetUserinfoFromRequest implements op.CanSetUserinfoFromRequest (used for
// ID tokens): the example's scope-based claims, then the user's e-mail
// and configured claims.
func (s *opStorage) SetUserinfoFromRequest(ctx context.Context, info *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	if err := s.Storage.SetUserinfoFromRequest(ctx, info, req, scopes); err != nil {
		return err
	}
	u, ok := s.users.bySubject[req.GetSubject()]
	if !ok {
		return fmt.Errorf("user %q not found", req.GetSubject())
	}
	if u.Email != "" {
		info.Email = u.Email
		info.EmailVerified = oidc.Bool(true)
	}
	info.PreferredUsername = u.Username
	for k, v := range u.claims {
		info.AppendClaims(k, v)
	}
	return nil
}

// CompleteDeviceAuthorization: the example's device login passes the user
// name; tokens name the user by subject.
func (s *opStorage) CompleteDeviceAuthorization(ctx context.Context, userCode, username string) error {
	u, ok := s.users.byName[username]
	if !ok {
		return fmt.Errorf("user %q not found", username)
	}
	return s.Storage.CompleteDeviceAuthorization(ctx, userCode, u.ID)
}

type user struct {
	storage.User
	claims map[string]any
}

// userStore implements storage.UserStore.
type userStore struct {
	bySubject map[string]*user
	byName    map[string]*user
}

func (u userStore) GetUserByID(id string) *storage.User {
	if usr, ok := u.bySubject[id]; ok {
		return &usr.User
	}
	return nil
}

func (u userStore) GetUserByUsername(name string) *storage.User {
	if usr, ok := u.byName[name]; ok {
		return &usr.User
	}
	return nil
}

func (u userStore) ExampleClientID() string { return storage.ServiceUserID }

// client implements op.Client for a clientSpec.
type client struct {
	spec     clientSpec
	lifetime time.Duration
}

func (c *client) GetID() string                    { return c.spec.ID }
func (c *client) RedirectURIs() []string           { return c.spec.RedirectURIs }
func (c *client) PostLogoutRedirectURIs() []string { return nil }
func (c *client) ApplicationType() op.ApplicationType {
	// A client without a secret is public: the provider treats only
	// native and user-agent applications so.
	if c.spec.Native || c.spec.Secret == "" {
		return op.ApplicationTypeNative
	}
	return op.ApplicationTypeWeb
}
func (c *client) AuthMethod() oidc.AuthMethod {
	if c.spec.Secret == "" {
		return oidc.AuthMethodNone
	}
	return oidc.AuthMethodBasic
}
func (c *client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *client) GrantTypes() []oidc.GrantType {
	var g []oidc.GrantType
	if len(c.spec.RedirectURIs) > 0 {
		g = append(g, oidc.GrantTypeCode, oidc.GrantTypeRefreshToken)
	}
	if c.spec.Device {
		g = append(g, oidc.GrantTypeDeviceCode)
	}
	return g
}
func (c *client) LoginURL(id string) string            { return "/login/username?authRequestID=" + id }
func (c *client) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeBearer }
func (c *client) IDTokenLifetime() time.Duration       { return c.lifetime }
func (c *client) DevMode() bool                        { return !c.spec.Native } // web clients: http loopback redirects
func (c *client) IsScopeAllowed(string) bool           { return false }
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return true }
func (c *client) ClockSkew() time.Duration             { return 0 }
func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
