package iamapi

import (
	"errors"
	"log/slog"

	"github.com/postern/postern/internal/server/api"
	"github.com/postern/postern/internal/server/policy"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/wire/awsid"
)

// tagContext returns the request-tag condition keys (aws:RequestTag/<key>,
// aws:TagKeys) of a create with tags, or nil without tags.
func tagContext(tags []store.Tag) policy.Context {
	if len(tags) == 0 {
		return nil
	}
	ctx := policy.Context{}
	keys := make([]string, len(tags))
	for i, t := range tags {
		ctx.Set("aws:RequestTag/"+t.Key, t.Value)
		keys[i] = t.Key
	}
	ctx.Set("aws:TagKeys", keys...)
	return ctx
}

// authorizeCreate authorizes a create action on arn and, when the request
// carries tags, the matching tag action (AWS requires both).
func authorizeCreate(c *api.Call, action, tagAction, arn string, tags []store.Tag) error {
	extra := tagContext(tags)
	if err := c.Authorize(action, arn, extra); err != nil {
		return err
	}
	if len(tags) > 0 {
		return c.Authorize(tagAction, arn, extra)
	}
	return nil
}

// createUser is CreateUser: UserName, Path, Tags.
func (h *handler) createUser(c *api.Call) (any, error) {
	userName, p, _, err := entityParams(c.Params, "UserName", maxUserName, false)
	if err != nil {
		return nil, err
	}
	tags, err := tagsParam(c.Params)
	if err != nil {
		return nil, err
	}
	arn := h.arn("user", p, userName)
	if err := authorizeCreate(c, "iam:CreateUser", "iam:TagUser", arn, tags); err != nil {
		return nil, err
	}
	// The store writes the user and its tags in one transaction.
	u := store.User{UserID: h.cfg.NewID(awsid.PrefixUser), UserName: userName, Path: p, ARN: arn, CreateDate: h.now(), Tags: tags}
	if err := h.cfg.Store.CreateUser(c.Ctx, u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, entityExists("User with name %s already exists.", userName)
		}
		return nil, wrap(err, "create user %s", userName)
	}
	return struct {
		User xmlUser `xml:"User"`
	}{userXML(u)}, nil
}

// lookupUser finds the user userName for action, authorizing action on its
// ARN first so that a caller without the permission cannot learn whether
// the user exists.
func (h *handler) lookupUser(c *api.Call, action, userName string) (store.User, error) {
	u, err := h.cfg.Store.GetUser(c.Ctx, userName)
	asAsked := h.arn("user", "/", userName)
	arn := asAsked
	if err == nil {
		arn = u.ARN
	} else if !errors.Is(err, store.ErrNotFound) {
		return u, wrap(err, "get user %s", userName)
	}
	if aerr := authorizeEntity(c, action, arn, asAsked, nil); aerr != nil {
		return u, aerr
	}
	if err != nil {
		return u, noSuchEntity("The user with name %s cannot be found.", userName)
	}
	return u, nil
}

// getUser is GetUser: UserName, or the caller.
func (h *handler) getUser(c *api.Call) (any, error) {
	userName, err := userParam(c)
	if err != nil {
		return nil, err
	}
	u, err := h.lookupUser(c, "iam:GetUser", userName)
	if err != nil {
		return nil, err
	}
	x := userXML(u)
	if lp, err := h.cfg.Store.GetLoginProfile(c.Ctx, u.UserName); err == nil && !lp.PasswordLastUsed.IsZero() {
		x.PasswordLastUsed = ts(lp.PasswordLastUsed)
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, wrap(err, "get login profile of %s", u.UserName)
	}
	return struct {
		User xmlUser `xml:"User"`
	}{x}, nil
}

// listUsers is ListUsers: PathPrefix, Marker, MaxItems.
func (h *handler) listUsers(c *api.Call) (any, error) {
	prefix, err := pathPrefixParam(c.Params)
	if err != nil {
		return nil, err
	}
	// AWS names the path as the resource: arn:aws:iam::<acct>:user/.
	if err := c.Authorize("iam:ListUsers", h.arn("user", prefix, ""), nil); err != nil {
		return nil, err
	}
	users, err := h.cfg.Store.ListUsers(c.Ctx, prefix)
	if err != nil {
		return nil, wrap(err, "list users")
	}
	start, end, next, err := paginate(c.Params, len(users))
	if err != nil {
		return nil, err
	}
	out := struct {
		Users []xmlUser `xml:"Users>member"`
		page
	}{Users: []xmlUser{}, page: pageOf(next)}
	for _, u := range users[start:end] {
		u.Tags = nil // ListUsers does not return tags
		out.Users = append(out.Users, userXML(u))
	}
	return out, nil
}

// deleteUser is DeleteUser. As in AWS, a user with access keys, policies
// or group memberships cannot be deleted; the checks and the delete run in
// one transaction.
func (h *handler) deleteUser(c *api.Call) (any, error) {
	userName, err := name(c.Params, "UserName", maxExistingUserName)
	if err != nil {
		return nil, err
	}
	u, err := h.lookupUser(c, "iam:DeleteUser", userName)
	if err != nil {
		return nil, err
	}
	ref := store.PrincipalRef{Kind: store.KindUser, Name: u.UserName}
	err = h.cfg.Store.InTx(c.Ctx, func(tx store.Repo) error {
		keys, err := tx.ListAccessKeys(c.Ctx, u.UserName)
		if err != nil {
			return err
		}
		if len(keys) > 0 {
			return deleteConflict("must delete access keys first")
		}
		if _, err := tx.GetLoginProfile(c.Ctx, u.UserName); err == nil {
			return deleteConflict("must delete login profile first")
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		mfa, err := tx.ListMFADevices(c.Ctx, u.UserName)
		if err != nil {
			return err
		}
		if len(mfa) > 0 {
			return deleteConflict("must remove MFA device first")
		}
		if err := ownerDependents(c, tx, ref); err != nil {
			return err
		}
		groups, err := tx.ListGroupsForUser(c.Ctx, u.UserName)
		if err != nil {
			return err
		}
		if len(groups) > 0 {
			return deleteConflict("must remove users from group first")
		}
		return tx.DeleteUser(c.Ctx, u.UserName)
	})
	if err != nil {
		return nil, storeErr(err, "delete user "+u.UserName, "user with name "+u.UserName)
	}
	return nil, nil
}

// ownerDependents returns DeleteConflict when a user, group or role still
// has inline or attached policies.
func ownerDependents(c *api.Call, tx store.Repo, ref store.PrincipalRef) error {
	inline, err := tx.ListInlinePolicies(c.Ctx, ref)
	if err != nil {
		return err
	}
	if len(inline) > 0 {
		return deleteConflict("must delete policies first")
	}
	attached, err := tx.ListAttachedPolicies(c.Ctx, ref)
	if err != nil {
		return err
	}
	if len(attached) > 0 {
		return deleteConflict("must detach all policies first")
	}
	return nil
}

// createAccessKey is CreateAccessKey: UserName, or the caller. A user has
// at most two keys; the count and the insert run in one transaction.
func (h *handler) createAccessKey(c *api.Call) (any, error) {
	userName, err := userParam(c)
	if err != nil {
		return nil, err
	}
	u, err := h.lookupUser(c, "iam:CreateAccessKey", userName)
	if err != nil {
		return nil, err
	}
	key, secret, err := h.newAccessKey(u.UserName)
	if err != nil {
		return nil, err
	}
	err = h.cfg.Store.InTx(c.Ctx, func(tx store.Repo) error {
		keys, err := tx.ListAccessKeys(c.Ctx, u.UserName)
		if err != nil {
			return err
		}
		if len(keys) >= maxKeysPerUser {
			return limitExceeded("Cannot exceed quota for AccessKeysPerUser: %d", maxKeysPerUser)
		}
		return tx.CreateAccessKey(c.Ctx, key)
	})
	if err != nil {
		return nil, storeErr(err, "create access key for "+u.UserName, "user with name "+u.UserName)
	}
	c.Logger.LogAttrs(c.Ctx, slog.LevelInfo, "access key created", slog.String("user", u.UserName),
		slog.String("access_key_id", key.AccessKeyID), slog.String("by", c.Principal.ARN))
	return struct {
		AccessKey xmlAccessKey `xml:"AccessKey"`
	}{xmlAccessKey{UserName: u.UserName, AccessKeyID: key.AccessKeyID, Status: key.Status, SecretAccessKey: secret, CreateDate: ts(key.CreateDate)}}, nil
}

// listAccessKeys is ListAccessKeys: UserName, or the caller.
func (h *handler) listAccessKeys(c *api.Call) (any, error) {
	userName, err := userParam(c)
	if err != nil {
		return nil, err
	}
	u, err := h.lookupUser(c, "iam:ListAccessKeys", userName)
	if err != nil {
		return nil, err
	}
	keys, err := h.cfg.Store.ListAccessKeys(c.Ctx, u.UserName)
	if err != nil {
		return nil, storeErr(err, "list access keys of "+u.UserName, "user with name "+u.UserName)
	}
	start, end, next, err := paginate(c.Params, len(keys))
	if err != nil {
		return nil, err
	}
	out := struct {
		AccessKeyMetadata []xmlAccessKey `xml:"AccessKeyMetadata>member"`
		page
	}{AccessKeyMetadata: []xmlAccessKey{}, page: pageOf(next)}
	for _, k := range keys[start:end] {
		out.AccessKeyMetadata = append(out.AccessKeyMetadata, xmlAccessKey{UserName: k.UserName, AccessKeyID: k.AccessKeyID, Status: k.Status, CreateDate: ts(k.CreateDate)})
	}
	return out, nil
}

// ownKey finds the access key AccessKeyId of the user named by UserName
// (or the caller), authorizing action on that user. A key of another
// user is NoSuchEntity, as in AWS.
func (h *handler) ownKey(c *api.Call, action string) (store.AccessKey, error) {
	id, err := required(c.Params, "AccessKeyId")
	if err != nil {
		return store.AccessKey{}, err
	}
	if len(id) < 16 || len(id) > 128 {
		return store.AccessKey{}, validation("1 validation error detected: Value '%s' at 'accessKeyId' failed to satisfy constraint: Member must have length between 16 and 128", id)
	}
	userName, err := userParam(c)
	if err != nil {
		return store.AccessKey{}, err
	}
	u, err := h.lookupUser(c, action, userName)
	if err != nil {
		return store.AccessKey{}, err
	}
	k, err := h.cfg.Store.GetAccessKey(c.Ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && k.UserName != u.UserName) {
		return k, noSuchEntity("The Access Key with id %s cannot be found.", id)
	}
	return k, wrap(err, "get access key %s", id)
}

// updateAccessKey is UpdateAccessKey: AccessKeyId, Status, UserName.
func (h *handler) updateAccessKey(c *api.Call) (any, error) {
	status, err := required(c.Params, "Status")
	if err != nil {
		return nil, err
	}
	if status != store.KeyActive && status != store.KeyInactive {
		return nil, validation("1 validation error detected: Value '%s' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]", status)
	}
	k, err := h.ownKey(c, "iam:UpdateAccessKey")
	if err != nil {
		return nil, err
	}
	if err := h.cfg.Store.UpdateAccessKeyStatus(c.Ctx, k.AccessKeyID, status); err != nil {
		return nil, storeErr(err, "update access key "+k.AccessKeyID, "Access Key with id "+k.AccessKeyID)
	}
	c.Logger.LogAttrs(c.Ctx, slog.LevelInfo, "access key status changed", slog.String("access_key_id", k.AccessKeyID),
		slog.String("status", status), slog.String("by", c.Principal.ARN))
	return nil, nil
}

// deleteAccessKey is DeleteAccessKey: AccessKeyId, UserName.
func (h *handler) deleteAccessKey(c *api.Call) (any, error) {
	k, err := h.ownKey(c, "iam:DeleteAccessKey")
	if err != nil {
		return nil, err
	}
	if err := h.cfg.Store.DeleteAccessKey(c.Ctx, k.AccessKeyID); err != nil {
		return nil, storeErr(err, "delete access key "+k.AccessKeyID, "Access Key with id "+k.AccessKeyID)
	}
	c.Logger.LogAttrs(c.Ctx, slog.LevelInfo, "access key deleted", slog.String("access_key_id", k.AccessKeyID),
		slog.String("by", c.Principal.ARN))
	return nil, nil
}
