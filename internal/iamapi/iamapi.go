// Package iamapi serves the IAM (Query protocol, 2010-05-08) and STS
// (2011-06-15) subsets Postern implements: users, access keys, groups,
// inline and managed policies, roles, the policy simulator, caller
// identity and role sessions. It is the edge for these services: store
// errors become IAM's error codes here, and responses take the XML shapes
// the AWS SDKs and the AWS CLI parse.
package iamapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/postern/postern/internal/api"
	"github.com/postern/postern/internal/awsid"
	"github.com/postern/postern/internal/awsproto"
	"github.com/postern/postern/internal/identity"
	"github.com/postern/postern/internal/policy"
	"github.com/postern/postern/internal/sealer"
	"github.com/postern/postern/internal/store"
)

// Service identities.
const (
	IAMNamespace = "https://iam.amazonaws.com/doc/2010-05-08/"
	IAMVersion   = "2010-05-08"
	STSNamespace = "https://sts.amazonaws.com/doc/2011-06-15/"
	STSVersion   = "2011-06-15"
	// AdministratorAccessARN is the AWS-managed policy Bootstrap creates.
	AdministratorAccessARN = "arn:aws:iam::aws:policy/AdministratorAccess"
	adminPolicyDocument    = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`
	// maxKeysPerUser is AWS's limit of access keys per user.
	maxKeysPerUser = 2
)

// Config configures the IAM and STS services.
type Config struct {
	Store      store.Store
	Sealer     *sealer.Sealer
	Authorizer *identity.Authorizer // required by NewIAM and NewSTS, not by Bootstrap
	AccountID  string
	// Now defaults to time.Now.
	Now func() time.Time
	// MaxSessionDuration caps AssumeRole's DurationSeconds beyond the
	// role's own maximum; default 12 hours.
	MaxSessionDuration time.Duration
}

func (cfg Config) withDefaults(needAuthz bool) (Config, error) {
	if cfg.Store == nil || cfg.Sealer == nil || cfg.AccountID == "" || (needAuthz && cfg.Authorizer == nil) {
		return cfg, errors.New("iamapi: Config needs Store, Sealer, AccountID and Authorizer")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxSessionDuration == 0 {
		cfg.MaxSessionDuration = 12 * time.Hour
	}
	return cfg, nil
}

// handler holds what the actions share.
type handler struct {
	cfg Config
}

func (h *handler) now() time.Time { return h.cfg.Now().UTC() }

func (h *handler) arn(kind, path, name string) string {
	return "arn:aws:iam::" + h.cfg.AccountID + ":" + kind + path + name
}

// NewIAM returns the IAM service.
func NewIAM(cfg Config) (*api.Service, error) {
	cfg, err := cfg.withDefaults(true)
	if err != nil {
		return nil, err
	}
	h := &handler{cfg: cfg}
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
			"AddUserToGroup": h.addUserToGroup, "RemoveUserFromGroup": h.removeUserFromGroup, "ListGroupsForUser": h.listGroupsForUser,
			"CreatePolicy": h.createPolicy, "GetPolicy": h.getPolicy, "ListPolicies": h.listPolicies,
			"DeletePolicy": h.deletePolicy, "GetPolicyVersion": h.getPolicyVersion,
			"AttachUserPolicy": h.attach(store.KindUser), "DetachUserPolicy": h.detach(store.KindUser),
			"AttachGroupPolicy": h.attach(store.KindGroup), "DetachGroupPolicy": h.detach(store.KindGroup),
			"AttachRolePolicy": h.attach(store.KindRole), "DetachRolePolicy": h.detach(store.KindRole),
			"ListAttachedUserPolicies": h.listAttached(store.KindUser), "ListAttachedGroupPolicies": h.listAttached(store.KindGroup),
			"ListAttachedRolePolicies": h.listAttached(store.KindRole),
			"CreateRole":               h.createRole, "GetRole": h.getRole, "ListRoles": h.listRoles, "DeleteRole": h.deleteRole,
			"UpdateAssumeRolePolicy":  h.updateAssumeRolePolicy,
			"SimulatePrincipalPolicy": h.simulatePrincipalPolicy,
		},
	}, nil
}

// NewSTS returns the STS service.
func NewSTS(cfg Config) (*api.Service, error) {
	cfg, err := cfg.withDefaults(true)
	if err != nil {
		return nil, err
	}
	h := &handler{cfg: cfg}
	return &api.Service{
		SigningName: "sts", Protocol: api.ProtocolQuery, Namespace: STSNamespace, Version: STSVersion,
		Actions: map[string]api.ActionFunc{
			"GetCallerIdentity": h.getCallerIdentity,
			"AssumeRole":        h.assumeRole,
		},
	}, nil
}

// BootstrapResult says what Bootstrap made.
type BootstrapResult struct {
	Created         bool
	User            store.User
	AccessKeyID     string
	SecretAccessKey string
}

// Bootstrap makes, once, the AWS-managed AdministratorAccess policy and an
// administrator with it attached and one access key, in one transaction.
// When the user exists it changes nothing and returns Created=false.
func Bootstrap(ctx context.Context, cfg Config, adminName string) (BootstrapResult, error) {
	cfg, err := cfg.withDefaults(false)
	if err != nil {
		return BootstrapResult{}, err
	}
	h := &handler{cfg: cfg}
	var res BootstrapResult
	err = cfg.Store.InTx(ctx, func(tx store.Repo) error {
		u, err := tx.GetUser(ctx, adminName)
		if err == nil {
			res.User = u
			return nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		now := h.now()
		if _, err := tx.GetManagedPolicy(ctx, AdministratorAccessARN); errors.Is(err, store.ErrNotFound) {
			err = tx.CreateManagedPolicy(ctx, store.ManagedPolicy{
				PolicyID: awsid.Unique(awsid.PrefixPolicy), PolicyName: "AdministratorAccess", Path: "/",
				ARN: AdministratorAccessARN, Description: "Provides full access to Postern.",
				Document: adminPolicyDocument, DefaultVersionID: "v1", CreateDate: now, UpdateDate: now,
			})
			if err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		u = store.User{UserID: awsid.Unique(awsid.PrefixUser), UserName: adminName, Path: "/", ARN: h.arn("user", "/", adminName), CreateDate: now}
		if err := tx.CreateUser(ctx, u); err != nil {
			return err
		}
		if err := tx.AttachPolicy(ctx, store.PrincipalRef{Kind: store.KindUser, Name: adminName}, AdministratorAccessARN); err != nil {
			return err
		}
		key, secret, err := h.newAccessKey(adminName)
		if err != nil {
			return err
		}
		if err := tx.CreateAccessKey(ctx, key); err != nil {
			return err
		}
		res = BootstrapResult{Created: true, User: u, AccessKeyID: key.AccessKeyID, SecretAccessKey: secret}
		return nil
	})
	if err != nil {
		return BootstrapResult{}, fmt.Errorf("iamapi: bootstrap %s: %w", adminName, err)
	}
	return res, nil
}

// newAccessKey makes a key record with its secret sealed.
func (h *handler) newAccessKey(userName string) (store.AccessKey, string, error) {
	id := awsid.AccessKeyID(awsid.PrefixAccessKey)
	secret := awsid.SecretAccessKey()
	sealed, err := h.cfg.Sealer.Seal([]byte(secret), []byte(id))
	if err != nil {
		return store.AccessKey{}, "", fmt.Errorf("iamapi: seal secret: %w", err)
	}
	return store.AccessKey{AccessKeyID: id, UserName: userName, SecretSealed: sealed, Status: store.KeyActive, CreateDate: h.now()}, secret, nil
}

// ---- errors (this package is the edge: IAM's codes live here) ----

func noSuchEntity(format string, args ...any) *awsproto.Error {
	return awsproto.Errorf(http.StatusNotFound, "NoSuchEntity", format, args...)
}

func validation(format string, args ...any) *awsproto.Error {
	return awsproto.Errorf(http.StatusBadRequest, "ValidationError", format, args...)
}

// storeErr maps a store error for a named entity to IAM's code.
func storeErr(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return noSuchEntity("The %s cannot be found.", what)
	case errors.Is(err, store.ErrConflict):
		return awsproto.Errorf(http.StatusConflict, "EntityAlreadyExists", "%s already exists.", what)
	case errors.Is(err, store.ErrInUse):
		return awsproto.Errorf(http.StatusConflict, "DeleteConflict", "Cannot delete entity, %s.", inUseReason(err))
	}
	return err
}

func inUseReason(err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "access key"):
		return "must delete access keys first"
	case strings.Contains(msg, "group membership"):
		return "must remove user from group first"
	case strings.Contains(msg, "member"):
		return "must remove users from group first"
	case strings.Contains(msg, "attachment"), strings.Contains(msg, "attached"):
		return "must detach all policies first"
	case strings.Contains(msg, "inline"):
		return "must delete policies first"
	}
	return "it is still in use"
}

// ---- parameter validation ----

var (
	nameRe = regexp.MustCompile(`^[\w+=,.@-]+$`)
	pathRe = regexp.MustCompile(`^/([\x21-\x7e]*/)?$`)
)

// required returns a parameter or IAM's wording of a missing one.
func required(p awsproto.Params, name string) (string, error) {
	v := p.Get(name)
	if v == "" {
		field := strings.ToLower(name[:1]) + name[1:]
		return "", validation("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", field)
	}
	return v, nil
}

// name validates an IAM entity name parameter.
func name(p awsproto.Params, param string, max int) (string, error) {
	v, err := required(p, param)
	if err != nil {
		return "", err
	}
	field := strings.ToLower(param[:1]) + param[1:]
	if len(v) > max {
		return "", validation("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must have length less than or equal to %d", v, field, max)
	}
	if !nameRe.MatchString(v) {
		return "", validation("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+", v, field)
	}
	return v, nil
}

// path validates an optional Path or PathPrefix parameter.
func path(p awsproto.Params, param string) (string, error) {
	v := p.Get(param)
	if v == "" {
		return "/", nil
	}
	if len(v) > 512 || !pathRe.MatchString(v) {
		return "", validation("The specified value for %s is invalid. It must begin and end with / and contain only alphanumeric characters and/or / characters.", strings.ToLower(param[:1])+param[1:])
	}
	return v, nil
}

// checkPolicy parses a policy document as put, with AWS's code for a bad one.
func checkPolicy(doc string, kind policy.Kind) error {
	if _, err := policy.Parse(doc, kind); err != nil {
		var pe *policy.ParseError
		if errors.As(err, &pe) {
			return awsproto.Errorf(http.StatusBadRequest, "MalformedPolicyDocument", "%s", pe.Msg)
		}
		return awsproto.Errorf(http.StatusBadRequest, "MalformedPolicyDocument", "%s", err.Error())
	}
	return nil
}

func tagsParam(p awsproto.Params) ([]store.Tag, error) {
	n := p.Count("Tags.member")
	if n > 50 {
		return nil, awsproto.Errorf(http.StatusConflict, "LimitExceeded", "Cannot add more than 50 tags.")
	}
	tags := make([]store.Tag, 0, n)
	for i := 1; i <= n; i++ {
		k := p.Get(fmt.Sprintf("Tags.member.%d.Key", i))
		if k == "" {
			return nil, validation("1 validation error detected: Value null at 'tags.%d.member.key' failed to satisfy constraint: Member must not be null", i)
		}
		tags = append(tags, store.Tag{Key: k, Value: p.Get(fmt.Sprintf("Tags.member.%d.Value", i))})
	}
	return tags, nil
}

// paginate applies IAM's Marker/MaxItems to a list of n items. The marker
// is the index of the next item, as text.
func paginate(p awsproto.Params, n int) (start, end int, next string, err error) {
	maxItems, err := p.Int("MaxItems", 100, 1, 1000)
	if err != nil {
		return 0, 0, "", validation("MaxItems must be between 1 and 1000.")
	}
	if m := p.Get("Marker"); m != "" {
		if _, serr := fmt.Sscanf(m, "%d", &start); serr != nil || start < 0 || start > n {
			return 0, 0, "", validation("Invalid Marker.")
		}
	}
	end = start + int(maxItems)
	if end >= n {
		return start, n, "", nil
	}
	return start, end, fmt.Sprint(end), nil
}

// caller is a shorthand for the principal's user name when it is a user.
func callerUser(c *api.Call) (string, error) {
	if c.Principal.Type != identity.TypeIAMUser {
		return "", validation("Must specify userName when calling with non-User credentials")
	}
	return c.Principal.UserName, nil
}
