// Package store defines Postern's persistence contract: the records the
// server keeps and the repository interfaces that every storage backend
// (SQLite by default, PostgreSQL for several replicas) implements.
//
// The package holds no SQL and no I/O. Implementations live in
// subpackages (store/sqlstore) and must pass the conformance suite in
// store/storetest. Secret material never reaches a store in plain text:
// secret access keys and MFA seeds arrive already sealed (see package
// sealer), session tokens as hashes and console passwords as KDF hashes.
package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors returned by every implementation. Callers test them with
// errors.Is; implementations wrap them with context.
var (
	// ErrNotFound means the addressed record does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict means a record with the same unique key already exists
	// (a user name, a group name, an access key id, ...).
	ErrConflict = errors.New("store: already exists")
	// ErrInUse means a record cannot be deleted because other records
	// still depend on it (a user that still has access keys, policies or
	// group memberships; a managed policy that is still attached; ...).
	ErrInUse = errors.New("store: still in use")
)

// Store is a storage backend. Its Repo methods run each call in its own
// transaction; InTx runs several calls in one transaction, so that records
// that depend on each other are written together or not at all.
type Store interface {
	Repo
	// InTx runs fn in one transaction. If fn returns an error (or panics)
	// the transaction is rolled back and nothing fn wrote stays behind;
	// otherwise it is committed. The Repo passed to fn must not be used
	// after fn returns.
	//
	// A backend with several concurrent writers (PostgreSQL) runs InTx
	// transactions as if one after the other, and may run fn again when
	// the database aborts an attempt because a concurrent transaction
	// changed what fn read. fn must therefore start from scratch each
	// time: variables outside fn that it fills (slices it appends to,
	// counters, flags) must be reset at its start, not only declared
	// before the call.
	InTx(ctx context.Context, fn func(tx Repo) error) error
	// Close releases the backend's resources.
	Close() error
}

// ChangeCounter is implemented by stores that can tell cheaply whether
// anything was written: Changes returns a number that grows with every
// committed write of the records callers cache (identities, policies, the
// EC2 model); writes to the tunnel side's own tables (audit events,
// presigned-URL uses, agent connection times) need not count. Callers may cache what they read while it stays the
// same. A store shared by several processes (PostgreSQL with replicas)
// must not implement it unless the count covers every process's writes.
type ChangeCounter interface {
	Changes() uint64
}

// Repo groups every repository of the store. It is one interface so that a
// transaction can span them all.
type Repo interface {
	Settings
	Users
	AccessKeys
	Groups
	Roles
	Policies
	Sessions
	EC2
	Tunnels
	SSHKeys
	HostKeys
	Replicas
	LiveTunnels
	LoginProfiles
	PasswordPolicies
	MFADevices
	OIDCProviders
}

// Settings holds installation-wide values such as the account id and the
// region, keyed by name.
type Settings interface {
	// GetSetting returns ErrNotFound when the key was never set.
	GetSetting(ctx context.Context, key string) (string, error)
	// PutSetting creates or replaces a value.
	PutSetting(ctx context.Context, key, value string) error
}

// Tag is a key/value pair on a resource.
type Tag struct {
	Key   string
	Value string
}

// User is an IAM user.
type User struct {
	UserID     string // AIDA…, unique
	UserName   string // unique, case-insensitive as in AWS
	Path       string // "/" by default
	ARN        string
	CreateDate time.Time
	Tags       []Tag
}

// Users is the IAM user repository.
type Users interface {
	// CreateUser returns ErrConflict if the name (compared case-insensitively) exists.
	CreateUser(ctx context.Context, u User) error
	// GetUser looks a user up by name (case-insensitively).
	GetUser(ctx context.Context, userName string) (User, error)
	// GetUserByID looks a user up by its AIDA… id.
	GetUserByID(ctx context.Context, userID string) (User, error)
	// ListUsers returns users whose path starts with pathPrefix ("" or "/"
	// for all), ordered by user name.
	ListUsers(ctx context.Context, pathPrefix string) ([]User, error)
	// DeleteUser returns ErrInUse while the user still has access keys,
	// inline or attached policies, or group memberships (AWS's DeleteConflict).
	DeleteUser(ctx context.Context, userName string) error
}

// Access key statuses.
const (
	KeyActive   = "Active"
	KeyInactive = "Inactive"
)

// AccessKey is a long-term access key of a user.
type AccessKey struct {
	AccessKeyID  string // AKIA…, unique
	UserName     string
	UserID       string // the owner's AIDA…, filled by reads; CreateAccessKey goes by UserName
	SecretSealed []byte // the secret access key, sealed; never plain text
	Status       string // KeyActive or KeyInactive
	CreateDate   time.Time
}

// AccessKeys is the access-key repository.
type AccessKeys interface {
	// CreateAccessKey returns ErrNotFound if the user does not exist and
	// ErrConflict if the id exists.
	CreateAccessKey(ctx context.Context, k AccessKey) error
	GetAccessKey(ctx context.Context, accessKeyID string) (AccessKey, error)
	// ListAccessKeys returns the user's keys ordered by creation date.
	ListAccessKeys(ctx context.Context, userName string) ([]AccessKey, error)
	UpdateAccessKeyStatus(ctx context.Context, accessKeyID, status string) error
	DeleteAccessKey(ctx context.Context, accessKeyID string) error
}

// Group is an IAM group.
type Group struct {
	GroupID    string // AGPA…
	GroupName  string // unique, case-insensitive
	Path       string
	ARN        string
	CreateDate time.Time
}

// Groups is the group repository, including memberships.
type Groups interface {
	CreateGroup(ctx context.Context, g Group) error
	GetGroup(ctx context.Context, groupName string) (Group, error)
	ListGroups(ctx context.Context, pathPrefix string) ([]Group, error)
	// DeleteGroup returns ErrInUse while the group has members, inline or
	// attached policies.
	DeleteGroup(ctx context.Context, groupName string) error
	// AddUserToGroup is idempotent; ErrNotFound if either side is missing.
	AddUserToGroup(ctx context.Context, groupName, userName string) error
	// RemoveUserFromGroup returns ErrNotFound if the user is not a member.
	RemoveUserFromGroup(ctx context.Context, groupName, userName string) error
	// ListGroupsForUser is ordered by group name.
	ListGroupsForUser(ctx context.Context, userName string) ([]Group, error)
	// ListGroupMembers is ordered by user name.
	ListGroupMembers(ctx context.Context, groupName string) ([]User, error)
}

// Role is an IAM role.
type Role struct {
	RoleID                   string // AROA…
	RoleName                 string // unique, case-insensitive
	Path                     string
	ARN                      string
	AssumeRolePolicyDocument string // the trust policy, as JSON
	Description              string
	MaxSessionDuration       int32 // seconds, 3600–43200
	CreateDate               time.Time
	Tags                     []Tag
}

// Roles is the role repository.
type Roles interface {
	CreateRole(ctx context.Context, r Role) error
	GetRole(ctx context.Context, roleName string) (Role, error)
	// GetRoleByID looks a role up by its AROA… id. A role deleted and
	// created again under the same name has a new id, so the old id stays
	// ErrNotFound.
	GetRoleByID(ctx context.Context, roleID string) (Role, error)
	ListRoles(ctx context.Context, pathPrefix string) ([]Role, error)
	// UpdateAssumeRolePolicy replaces the trust policy.
	UpdateAssumeRolePolicy(ctx context.Context, roleName, document string) error
	// DeleteRole returns ErrInUse while the role has inline or attached policies.
	DeleteRole(ctx context.Context, roleName string) error
}

// PrincipalKind says which kind of identity a policy is attached to.
type PrincipalKind string

// The identities that carry inline and attached policies.
const (
	KindUser  PrincipalKind = "user"
	KindGroup PrincipalKind = "group"
	KindRole  PrincipalKind = "role"
)

// PrincipalRef names a user, group or role.
type PrincipalRef struct {
	Kind PrincipalKind
	Name string
}

// InlinePolicy is a policy embedded in one user, group or role.
type InlinePolicy struct {
	Owner      PrincipalRef
	PolicyName string
	Document   string // JSON
}

// ManagedPolicy is a customer-managed policy that can be attached to many
// identities. Postern keeps one version (v1) per policy.
type ManagedPolicy struct {
	PolicyID         string // ANPA…
	PolicyName       string // unique, case-insensitive
	Path             string
	ARN              string // unique
	Description      string
	Document         string // JSON of the default version
	DefaultVersionID string // "v1"
	AttachmentCount  int32  // computed by the store from attachments
	CreateDate       time.Time
	UpdateDate       time.Time
}

// Policies holds inline policies, managed policies and their attachments.
type Policies interface {
	// PutInlinePolicy creates or replaces; ErrNotFound if the owner is missing.
	PutInlinePolicy(ctx context.Context, p InlinePolicy) error
	GetInlinePolicy(ctx context.Context, owner PrincipalRef, policyName string) (InlinePolicy, error)
	// ListInlinePolicies is ordered by policy name.
	ListInlinePolicies(ctx context.Context, owner PrincipalRef) ([]InlinePolicy, error)
	DeleteInlinePolicy(ctx context.Context, owner PrincipalRef, policyName string) error

	CreateManagedPolicy(ctx context.Context, p ManagedPolicy) error
	GetManagedPolicy(ctx context.Context, arn string) (ManagedPolicy, error)
	ListManagedPolicies(ctx context.Context, pathPrefix string) ([]ManagedPolicy, error)
	// DeleteManagedPolicy returns ErrInUse while the policy is attached.
	DeleteManagedPolicy(ctx context.Context, arn string) error

	// AttachPolicy is idempotent; ErrNotFound if the owner or policy is missing.
	AttachPolicy(ctx context.Context, owner PrincipalRef, policyARN string) error
	// DetachPolicy returns ErrNotFound if the policy was not attached.
	DetachPolicy(ctx context.Context, owner PrincipalRef, policyARN string) error
	// ListAttachedPolicies is ordered by policy name.
	ListAttachedPolicies(ctx context.Context, owner PrincipalRef) ([]ManagedPolicy, error)
}

// Session is a set of temporary credentials: a role session issued by STS
// AssumeRole (RoleID set), or a console session of an IAM user issued at
// sign-in (UserID set, the Role fields empty).
type Session struct {
	AccessKeyID      string // ASIA…, unique
	SecretSealed     []byte // sealed secret access key
	SessionTokenHash []byte // SHA-256 of the session token; the token itself is never stored
	RoleName         string
	RoleARN          string
	RoleID           string
	SessionName      string
	SourceUserARN    string // who assumed the role, or the signed-in user
	SourceIP         string
	Expiration       time.Time
	CreateDate       time.Time
	// UserID is the AIDA… id of the user a console session belongs to;
	// empty for role sessions.
	UserID string
	// MFAAuthenticated says the identity behind the session proved an MFA
	// code (at sign-in, or in the session that assumed the role).
	MFAAuthenticated bool
	// AuthTime is when that identity authenticated (sign-in, or the
	// authentication of the session that assumed the role); zero when
	// unknown. aws:MultiFactorAuthAge counts from it.
	AuthTime time.Time
	// Federation is the web identity a role session was issued to by
	// AssumeRoleWithWebIdentity; zero for other sessions.
	Federation WebIdentity
}

// WebIdentity is the federated identity behind a role session issued by
// AssumeRoleWithWebIdentity.
type WebIdentity struct {
	// Provider is the ARN of the IAM OIDC provider that admitted the
	// token; empty for a session that is not federated.
	Provider string
	// Subject and Audience are the token's sub and the client id (aud)
	// that admitted it.
	Subject  string
	Audience string
	// SourceIdentity is the request's SourceIdentity ("" when none).
	SourceIdentity string
	// Tags are the session tags of the token's principal_tags claim, in
	// key order.
	Tags []Tag
}

// Sessions is the temporary-credential repository.
type Sessions interface {
	CreateSession(ctx context.Context, s Session) error
	GetSession(ctx context.Context, accessKeyID string) (Session, error)
	// DeleteSession removes one session (sign-out); ErrNotFound if it
	// does not exist.
	DeleteSession(ctx context.Context, accessKeyID string) error
	// DeleteExpiredSessions removes sessions that expired before t and
	// returns how many it removed.
	DeleteExpiredSessions(ctx context.Context, before time.Time) (int, error)
}
