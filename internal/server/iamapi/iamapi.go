// Package iamapi serves the IAM (Query protocol, 2010-05-08) and STS
// (2011-06-15) subsets Postern implements: users, access keys, groups,
// inline and managed policies, roles, the policy simulator, login
// profiles and the account password policy, virtual MFA devices, OpenID
// Connect identity providers, caller identity and role sessions (AssumeRole,
// and AssumeRoleWithWebIdentity, served unsigned as AWS serves it). It also signs IAM users in for the console
// (SignIn, IssueUserSession: a session of the user, not an API action). It is the edge for these services: store
// errors become IAM's error codes here, and responses take the XML shapes
// the AWS SDKs and the AWS CLI parse.
//
// Every action authorizes itself through api.Call.Authorize with the
// resource ARN AWS uses for it (arn:aws:iam::<account>:user<path><name>,
// …:group…, …:role…, …:policy…). Records that depend on each other, and
// checks that must hold when a record is written (quotas, dependents of a
// deleted entity, a role's trust at AssumeRole), run in one store
// transaction. Secrets appear only in the CreateAccessKey, AssumeRole and
// CreateVirtualMFADevice responses (and SignIn's result) and are never
// logged; passwords appear in none.
package iamapi

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/postern/postern/internal/server/api"
	"github.com/postern/postern/internal/server/identity"
	"github.com/postern/postern/internal/server/sealer"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/wire/awsid"
)

// Service identities.
const (
	// IAMNamespace is the XML namespace of IAM responses.
	IAMNamespace = "https://iam.amazonaws.com/doc/2010-05-08/"
	// IAMVersion is the IAM API version.
	IAMVersion = "2010-05-08"
	// STSNamespace is the XML namespace of STS responses.
	STSNamespace = "https://sts.amazonaws.com/doc/2011-06-15/"
	// STSVersion is the STS API version.
	STSVersion = "2011-06-15"
	// AdministratorAccessARN is the AWS-managed policy Bootstrap creates.
	AdministratorAccessARN = "arn:aws:iam::aws:policy/AdministratorAccess"
	// AdministratorAccessDocument is its document: everything is allowed.
	AdministratorAccessDocument = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`
)

// DefaultMaxSessionDuration is the default of Config.MaxSessionDuration,
// the longest role session AssumeRole issues (AWS's own ceiling).
const DefaultMaxSessionDuration = 12 * time.Hour

// Config configures the IAM and STS services.
type Config struct {
	Store  store.Store
	Sealer *sealer.Sealer
	// Authorizer evaluates identity policies; required by NewIAM and
	// NewSTS (the same one the api.Dispatcher uses), not by Bootstrap.
	Authorizer *identity.Authorizer
	// AccountID is the 12-digit account every ARN names.
	AccountID string
	// Now is the clock for creation dates and session expirations;
	// default time.Now. Give the identity.Authenticator the same clock so
	// that sessions expire when their Expiration says.
	Now func() time.Time
	// MaxSessionDuration caps AssumeRole's DurationSeconds below the
	// role's own MaxSessionDuration; default DefaultMaxSessionDuration.
	MaxSessionDuration time.Duration
	// NewID returns a new IAM unique id with the given prefix (AIDA…,
	// AGPA…, AROA…, ANPA…); default awsid.Unique. Tests inject it to get
	// reproducible responses.
	NewID func(prefix string) string
	// OIDCRootCAs verify the TLS certificates of IAM OIDC providers that
	// none of a provider's thumbprints admits (AssumeRoleWithWebIdentity);
	// nil: the system's roots.
	OIDCRootCAs *x509.CertPool
	// Logger gets the OIDC providers' key fetches and failures; nil:
	// discarded.
	Logger *slog.Logger
}

// withDefaults checks cfg and fills in its defaults.
func (cfg Config) withDefaults(needAuthz bool) (Config, error) {
	if cfg.Store == nil || cfg.Sealer == nil || cfg.AccountID == "" {
		return cfg, errors.New("iamapi: Config needs Store, Sealer and AccountID")
	}
	if needAuthz && cfg.Authorizer == nil {
		return cfg, errors.New("iamapi: Config needs an Authorizer")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxSessionDuration <= 0 {
		cfg.MaxSessionDuration = DefaultMaxSessionDuration
	}
	if cfg.NewID == nil {
		cfg.NewID = awsid.Unique
	}
	return cfg, nil
}

// handler holds what the actions share.
type handler struct {
	cfg Config
	// verifiers are the OIDC providers' token verifiers (STS only).
	verifiers *verifiers
	// mfaFails counts wrong AssumeRole MFA codes per device (STS only).
	mfaFails *guessCounter
	// passwordFails counts wrong ChangePassword old passwords per user
	// id (IAM only).
	passwordFails *guessCounter
}

// now returns the current time in UTC.
func (h *handler) now() time.Time { return h.cfg.Now().UTC() }

// arn returns the ARN of an IAM entity of this account: kind is "user",
// "group", "role" or "policy", path begins and ends with "/".
func (h *handler) arn(kind, path, name string) string {
	return "arn:aws:iam::" + h.cfg.AccountID + ":" + kind + path + name
}

// NewIAM returns the IAM service.
func NewIAM(cfg Config) (*api.Service, error) {
	cfg, err := cfg.withDefaults(true)
	if err != nil {
		return nil, err
	}
	h := &handler{cfg: cfg, passwordFails: newGuessCounter()}
	return &api.Service{
		SigningName: "iam", Protocol: api.ProtocolQuery, Namespace: IAMNamespace, Version: IAMVersion,
		Actions: map[string]api.ActionFunc{
			"CreateUser": h.createUser, "GetUser": h.getUser, "ListUsers": h.listUsers, "DeleteUser": h.deleteUser,

			"CreateAccessKey": h.createAccessKey, "ListAccessKeys": h.listAccessKeys,
			"UpdateAccessKey": h.updateAccessKey, "DeleteAccessKey": h.deleteAccessKey,

			"PutUserPolicy": h.putInline(store.KindUser), "GetUserPolicy": h.getInline(store.KindUser),
			"ListUserPolicies": h.listInline(store.KindUser), "DeleteUserPolicy": h.deleteInline(store.KindUser),
			"PutGroupPolicy": h.putInline(store.KindGroup), "GetGroupPolicy": h.getInline(store.KindGroup),
			"ListGroupPolicies": h.listInline(store.KindGroup), "DeleteGroupPolicy": h.deleteInline(store.KindGroup),
			"PutRolePolicy": h.putInline(store.KindRole), "GetRolePolicy": h.getInline(store.KindRole),
			"ListRolePolicies": h.listInline(store.KindRole), "DeleteRolePolicy": h.deleteInline(store.KindRole),

			"CreateGroup": h.createGroup, "GetGroup": h.getGroup, "ListGroups": h.listGroups, "DeleteGroup": h.deleteGroup,
			"AddUserToGroup": h.addUserToGroup, "RemoveUserFromGroup": h.removeUserFromGroup,
			"ListGroupsForUser": h.listGroupsForUser,

			"CreatePolicy": h.createPolicy, "GetPolicy": h.getPolicy, "ListPolicies": h.listPolicies,
			"DeletePolicy": h.deletePolicy, "GetPolicyVersion": h.getPolicyVersion,
			"AttachUserPolicy": h.attach(store.KindUser), "DetachUserPolicy": h.detach(store.KindUser),
			"AttachGroupPolicy": h.attach(store.KindGroup), "DetachGroupPolicy": h.detach(store.KindGroup),
			"AttachRolePolicy": h.attach(store.KindRole), "DetachRolePolicy": h.detach(store.KindRole),
			"ListAttachedUserPolicies":  h.listAttached(store.KindUser),
			"ListAttachedGroupPolicies": h.listAttached(store.KindGroup),
			"ListAttachedRolePolicies":  h.listAttached(store.KindRole),

			"CreateRole": h.createRole, "GetRole": h.getRole, "ListRoles": h.listRoles, "DeleteRole": h.deleteRole,
			"UpdateAssumeRolePolicy": h.updateAssumeRolePolicy,

			"SimulatePrincipalPolicy": h.simulatePrincipalPolicy,

			"CreateLoginProfile": h.createLoginProfile, "GetLoginProfile": h.getLoginProfile,
			"UpdateLoginProfile": h.updateLoginProfile, "DeleteLoginProfile": h.deleteLoginProfile,
			"ChangePassword":           h.changePassword,
			"GetAccountPasswordPolicy": h.getAccountPasswordPolicy, "UpdateAccountPasswordPolicy": h.updateAccountPasswordPolicy,
			"DeleteAccountPasswordPolicy": h.deleteAccountPasswordPolicy,

			"CreateVirtualMFADevice": h.createVirtualMFADevice, "EnableMFADevice": h.enableMFADevice,
			"DeactivateMFADevice": h.deactivateMFADevice, "ListMFADevices": h.listMFADevices,
			"ListVirtualMFADevices": h.listVirtualMFADevices, "DeleteVirtualMFADevice": h.deleteVirtualMFADevice,

			"CreateOpenIDConnectProvider": h.createOpenIDConnectProvider, "GetOpenIDConnectProvider": h.getOpenIDConnectProvider,
			"ListOpenIDConnectProviders": h.listOpenIDConnectProviders, "DeleteOpenIDConnectProvider": h.deleteOpenIDConnectProvider,
			"AddClientIDToOpenIDConnectProvider":      h.addClientIDToOpenIDConnectProvider,
			"RemoveClientIDFromOpenIDConnectProvider": h.removeClientIDFromOpenIDConnectProvider,
			"UpdateOpenIDConnectProviderThumbprint":   h.updateOpenIDConnectProviderThumbprint,
			"TagOpenIDConnectProvider":                h.tagOpenIDConnectProvider, "UntagOpenIDConnectProvider": h.untagOpenIDConnectProvider,
			"ListOpenIDConnectProviderTags": h.listOpenIDConnectProviderTags,
		},
	}, nil
}

// NewSTS returns the STS service.
func NewSTS(cfg Config) (*api.Service, error) {
	cfg, err := cfg.withDefaults(true)
	if err != nil {
		return nil, err
	}
	h := &handler{cfg: cfg, verifiers: &verifiers{m: map[string]cachedVerifier{}}, mfaFails: newGuessCounter()}
	return &api.Service{
		SigningName: "sts", Protocol: api.ProtocolQuery, Namespace: STSNamespace, Version: STSVersion,
		Actions: map[string]api.ActionFunc{
			"GetCallerIdentity":         h.getCallerIdentity,
			"AssumeRole":                h.assumeRole,
			"AssumeRoleWithWebIdentity": h.assumeRoleWithWebIdentity,
		},
		// As in AWS, AssumeRoleWithWebIdentity needs no signature: the
		// token is the caller's proof. Its verification (which may fetch
		// the provider's keys) runs before the call's transaction.
		Unsigned: map[string]bool{"AssumeRoleWithWebIdentity": true},
		Prepare:  map[string]api.ActionFunc{"AssumeRoleWithWebIdentity": h.prepareWebIdentity},
	}, nil
}

// BootstrapResult says what Bootstrap made.
type BootstrapResult struct {
	// Created is false when the administrator already existed.
	Created bool
	// User is the administrator.
	User store.User
	// AccessKeyID and SecretAccessKey are the new access key; empty when
	// Created is false (a secret is only ever shown once).
	AccessKeyID     string
	SecretAccessKey string
}

// Bootstrap makes, once, the AWS-managed policy AdministratorAccess and a
// user adminName with it attached and one access key, all in one
// transaction. When the user exists it changes nothing and returns
// Created=false. cfg.Authorizer is not needed.
//
// The first time it runs on a store, Bootstrap also binds the trust
// policies saved by a Postern that stored principals by ARN (see
// bindStoredTrust), so that they name identities by unique id as the ones
// saved since do.
func Bootstrap(ctx context.Context, cfg Config, adminName string) (BootstrapResult, error) {
	cfg, err := cfg.withDefaults(false)
	if err != nil {
		return BootstrapResult{}, err
	}
	if !nameRe().MatchString(adminName) || len(adminName) > maxUserName {
		return BootstrapResult{}, fmt.Errorf("iamapi: bootstrap: invalid user name %q", adminName)
	}
	h := &handler{cfg: cfg}
	var res BootstrapResult
	err = cfg.Store.InTx(ctx, func(tx store.Repo) error {
		if err := h.bindStoredTrust(ctx, tx); err != nil {
			return err
		}
		u, err := tx.GetUser(ctx, adminName)
		if err == nil {
			res = BootstrapResult{User: u}
			return nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("look up user: %w", err)
		}
		now := h.now()
		if _, err := tx.GetManagedPolicy(ctx, AdministratorAccessARN); errors.Is(err, store.ErrNotFound) {
			err = tx.CreateManagedPolicy(ctx, store.ManagedPolicy{
				PolicyID: cfg.NewID(awsid.PrefixPolicy), PolicyName: "AdministratorAccess", Path: "/",
				ARN: AdministratorAccessARN, Description: "Provides full access to AWS services and resources.",
				Document: AdministratorAccessDocument, DefaultVersionID: "v1", CreateDate: now, UpdateDate: now,
			})
			if err != nil {
				return fmt.Errorf("create %s: %w", AdministratorAccessARN, err)
			}
		} else if err != nil {
			return fmt.Errorf("look up %s: %w", AdministratorAccessARN, err)
		}
		u = store.User{UserID: cfg.NewID(awsid.PrefixUser), UserName: adminName, Path: "/", ARN: h.arn("user", "/", adminName), CreateDate: now}
		if err := tx.CreateUser(ctx, u); err != nil {
			return fmt.Errorf("create user: %w", err)
		}
		if err := tx.AttachPolicy(ctx, store.PrincipalRef{Kind: store.KindUser, Name: adminName}, AdministratorAccessARN); err != nil {
			return fmt.Errorf("attach %s: %w", AdministratorAccessARN, err)
		}
		key, secret, err := h.newAccessKey(adminName)
		if err != nil {
			return err
		}
		if err := tx.CreateAccessKey(ctx, key); err != nil {
			return fmt.Errorf("create access key: %w", err)
		}
		res = BootstrapResult{Created: true, User: u, AccessKeyID: key.AccessKeyID, SecretAccessKey: secret}
		return nil
	})
	if err != nil {
		return BootstrapResult{}, fmt.Errorf("iamapi: bootstrap %s: %w", adminName, err)
	}
	return res, nil
}

// newAccessKey makes an active key record for userName with its secret
// sealed (additional data: the key id). It returns the plain secret too,
// for the one response that shows it.
func (h *handler) newAccessKey(userName string) (store.AccessKey, string, error) {
	id := awsid.AccessKeyID(awsid.PrefixAccessKey)
	secret := awsid.SecretAccessKey()
	sealed, err := h.cfg.Sealer.Seal([]byte(secret), []byte(id))
	if err != nil {
		return store.AccessKey{}, "", fmt.Errorf("iamapi: seal secret of %s: %w", id, err)
	}
	return store.AccessKey{AccessKeyID: id, UserName: userName, SecretSealed: sealed, Status: store.KeyActive, CreateDate: h.now()}, secret, nil
}
