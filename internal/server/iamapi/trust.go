package iamapi

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/postern/postern/internal/server/policy"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/wire/awsproto"
)

// Trust policies name IAM users and roles of the account by unique id, as
// IAM stores them: bindTrust replaces each user or role ARN of the
// account in a trust policy's Principal (or NotPrincipal) "AWS" element by
// that identity's AROA…/AIDA… id when the policy is saved, and showTrust
// puts the identity's ARN back when the policy is shown, or leaves the id
// once the identity is gone. AssumeRole matches the caller by id
// (policy.Principal.ID), so a user or role deleted and created again under
// the same name is not trusted by what trusted the old one.

// invalidPrincipal is IAM's refusal of a principal that names no
// existing identity.
func invalidPrincipal(v string) error {
	return malformedPolicy(`Invalid principal in policy: "AWS":"` + v + `"`)
}

// ownPrincipal returns the kind ("user" or "role") and name of an IAM user
// or role ARN of this account; ok is false for any other value.
func (h *handler) ownPrincipal(v string) (kind, name string, ok bool) {
	seg := strings.SplitN(v, ":", 6)
	if len(seg) != 6 || seg[0] != "arn" || seg[2] != "iam" || seg[3] != "" || seg[4] != h.cfg.AccountID {
		return "", "", false
	}
	kind, rest, _ := strings.Cut(seg[5], "/")
	if (kind != "user" && kind != "role") || rest == "" {
		return "", "", false
	}
	return kind, rest[strings.LastIndexByte(rest, '/')+1:], true
}

// bindTrust returns a trust policy (one Parse accepted) as it is stored:
// each user or role of the account it names, by its unique id. A named
// user or role that does not exist, or a unique id given in place of an
// ARN, is refused as IAM refuses it (MalformedPolicyDocument). r is the
// transaction the policy is saved in.
func (h *handler) bindTrust(ctx context.Context, r store.Repo, doc string) (string, error) {
	return policy.MapAWSPrincipals(doc, func(v string) (string, error) { return h.bindPrincipal(ctx, r, v) })
}

// bindPrincipal returns what a trust policy stores for the "AWS" principal
// v: the unique id of a user or role of the account, anything else as it
// is. A *awsproto.Error refuses v.
func (h *handler) bindPrincipal(ctx context.Context, r store.Repo, v string) (string, error) {
	if policy.IsUniqueID(v) {
		return "", invalidPrincipal(v)
	}
	kind, name, ok := h.ownPrincipal(v)
	if !ok {
		return v, nil
	}
	var id, arn string
	var err error
	if kind == "user" {
		var u store.User
		u, err = r.GetUser(ctx, name)
		id, arn = u.UserID, u.ARN
	} else {
		var role store.Role
		role, err = r.GetRole(ctx, name)
		id, arn = role.RoleID, role.ARN
	}
	switch {
	case errors.Is(err, store.ErrNotFound) || (err == nil && !strings.EqualFold(arn, v)):
		return "", invalidPrincipal(v)
	case err != nil:
		return "", fmt.Errorf("look up principal %s: %w", v, err)
	}
	return id, nil
}

// showTrust returns a stored trust policy as IAM shows it: each unique id
// it holds replaced by the ARN of its user or role while that exists.
// arns caches look-ups across the policies of one response (nil: none).
func (h *handler) showTrust(ctx context.Context, r store.Repo, doc string, arns map[string]string) (string, error) {
	return policy.MapAWSPrincipals(doc, func(v string) (string, error) {
		if !policy.IsUniqueID(v) {
			return v, nil
		}
		if arn, ok := arns[v]; ok {
			return arn, nil
		}
		arn := v
		var err error
		if strings.HasPrefix(v, "AROA") {
			var role store.Role
			if role, err = r.GetRoleByID(ctx, v); err == nil {
				arn = role.ARN
			}
		} else {
			var u store.User
			if u, err = r.GetUserByID(ctx, v); err == nil {
				arn = u.ARN
			}
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return "", fmt.Errorf("look up principal %s: %w", v, err)
		}
		if arns != nil {
			arns[v] = arn
		}
		return arn, nil
	})
}

// showRole returns r with its trust policy as IAM shows it.
func (h *handler) showRole(ctx context.Context, rp store.Repo, r store.Role, arns map[string]string) (store.Role, error) {
	doc, err := h.showTrust(ctx, rp, r.AssumeRolePolicyDocument, arns)
	if err != nil {
		return r, fmt.Errorf("iamapi: trust policy of %s: %w", r.RoleName, err)
	}
	r.AssumeRolePolicyDocument = doc
	return r, nil
}

// settingTrustBound marks a store whose trust policies are all bound
// (bindStoredTrust ran).
const settingTrustBound = "iam.trust_principals_by_id"

// bindStoredTrust binds, once per store, the trust policies saved before
// Postern bound principals to unique ids: each user or role of the account
// they name is bound to the identity that has the name now. One that does
// not exist stays an ARN, which trusts nobody.
func (h *handler) bindStoredTrust(ctx context.Context, tx store.Repo) error {
	if _, err := tx.GetSetting(ctx, settingTrustBound); err == nil {
		return nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("read %s: %w", settingTrustBound, err)
	}
	roles, err := tx.ListRoles(ctx, "")
	if err != nil {
		return fmt.Errorf("list roles: %w", err)
	}
	for _, r := range roles {
		doc, err := policy.MapAWSPrincipals(r.AssumeRolePolicyDocument, func(v string) (string, error) {
			id, err := h.bindPrincipal(ctx, tx, v)
			var refused *awsproto.Error
			if errors.As(err, &refused) {
				return v, nil // names nobody: left as it was
			}
			return id, err
		})
		if err != nil {
			return fmt.Errorf("bind trust policy of %s: %w", r.RoleName, err)
		}
		if doc != r.AssumeRolePolicyDocument {
			if err := tx.UpdateAssumeRolePolicy(ctx, r.RoleName, doc); err != nil {
				return fmt.Errorf("bind trust policy of %s: %w", r.RoleName, err)
			}
		}
	}
	return tx.PutSetting(ctx, settingTrustBound, "1")
}
