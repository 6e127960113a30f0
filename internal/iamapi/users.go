package iamapi

import (
	"errors"
	"net/http"

	"github.com/postern/postern/internal/api"
	"github.com/postern/postern/internal/awsid"
	"github.com/postern/postern/internal/awsproto"
	"github.com/postern/postern/internal/store"
)

func (h *handler) createUser(c *api.Call) (any, error) {
	userName, err := name(c.Params, "UserName", 64)
	if err != nil {
		return nil, err
	}
	p, err := path(c.Params, "Path")
	if err != nil {
		return nil, err
	}
	tags, err := tagsParam(c.Params)
	if err != nil {
		return nil, err
	}
	arn := h.arn("user", p, userName)
	if err := c.Authorize("iam:CreateUser", arn, nil); err != nil {
		return nil, err
	}
	u := store.User{UserID: awsid.Unique(awsid.PrefixUser), UserName: userName, Path: p, ARN: arn, CreateDate: h.now(), Tags: tags}
	if err := h.cfg.Store.CreateUser(c.Ctx, u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, awsproto.Errorf(http.StatusConflict, "EntityAlreadyExists", "User with name %s already exists.", userName)
		}
		return nil, err
	}
	return struct {
		User xmlUser `xml:"User"`
	}{userXML(u)}, nil
}

// lookupUser finds a user for an action, authorizing on its ARN. An empty
// name means the caller.
func (h *handler) lookupUser(c *api.Call, action, userName string) (store.User, error) {
	u, err := h.cfg.Store.GetUser(c.Ctx, userName)
	arn := h.arn("user", "/", userName)
	if err == nil {
		arn = u.ARN
	} else if !errors.Is(err, store.ErrNotFound) {
		return u, err
	}
	// Authorize before revealing whether the user exists.
	if aerr := c.Authorize(action, arn, nil); aerr != nil {
		return u, aerr
	}
	if err != nil {
		return u, noSuchEntity("The user with name %s cannot be found.", userName)
	}
	return u, nil
}

// userParam returns UserName, or the caller's name when it is absent.
func userParam(c *api.Call) (string, error) {
	if c.Params.Get("UserName") == "" {
		return callerUser(c)
	}
	return name(c.Params, "UserName", 128)
}

func (h *handler) getUser(c *api.Call) (any, error) {
	userName, err := userParam(c)
	if err != nil {
		return nil, err
	}
	u, err := h.lookupUser(c, "iam:GetUser", userName)
	if err != nil {
		return nil, err
	}
	return struct {
		User xmlUser `xml:"User"`
	}{userXML(u)}, nil
}

func (h *handler) listUsers(c *api.Call) (any, error) {
	prefix, err := path(c.Params, "PathPrefix")
	if err != nil {
		return nil, err
	}
	if err := c.Authorize("iam:ListUsers", h.arn("user", prefix, "*"), nil); err != nil {
		return nil, err
	}
	users, err := h.cfg.Store.ListUsers(c.Ctx, prefix)
	if err != nil {
		return nil, err
	}
	start, end, next, err := paginate(c.Params, len(users))
	if err != nil {
		return nil, err
	}
	out := struct {
		Users []xmlUser `xml:"Users>member"`
		page
	}{page: page{IsTruncated: next != "", Marker: next}}
	out.Users = []xmlUser{}
	for _, u := range users[start:end] {
		out.Users = append(out.Users, userXML(u))
	}
	return out, nil
}

func (h *handler) deleteUser(c *api.Call) (any, error) {
	userName, err := name(c.Params, "UserName", 128)
	if err != nil {
		return nil, err
	}
	if _, err := h.lookupUser(c, "iam:DeleteUser", userName); err != nil {
		return nil, err
	}
	if err := h.cfg.Store.DeleteUser(c.Ctx, userName); err != nil {
		return nil, storeErr(err, "user with name "+userName)
	}
	return nil, nil
}

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
			return awsproto.Errorf(http.StatusConflict, "LimitExceeded", "Cannot exceed quota for AccessKeysPerUser: %d", maxKeysPerUser)
		}
		return tx.CreateAccessKey(c.Ctx, key)
	})
	if err != nil {
		return nil, storeErr(err, "user with name "+u.UserName)
	}
	return struct {
		AccessKey xmlAccessKey `xml:"AccessKey"`
	}{xmlAccessKey{UserName: u.UserName, AccessKeyID: key.AccessKeyID, Status: key.Status, SecretAccessKey: secret, CreateDate: ts(key.CreateDate)}}, nil
}

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
		return nil, storeErr(err, "user with name "+u.UserName)
	}
	out := struct {
		AccessKeyMetadata []xmlAccessKey `xml:"AccessKeyMetadata>member"`
		page
	}{AccessKeyMetadata: []xmlAccessKey{}}
	for _, k := range keys {
		out.AccessKeyMetadata = append(out.AccessKeyMetadata, xmlAccessKey{UserName: k.UserName, AccessKeyID: k.AccessKeyID, Status: k.Status, CreateDate: ts(k.CreateDate)})
	}
	return out, nil
}

// ownKey finds an access key of the user named by UserName (or the caller)
// and authorizes action on that user.
func (h *handler) ownKey(c *api.Call, action string) (store.AccessKey, error) {
	id, err := required(c.Params, "AccessKeyId")
	if err != nil {
		return store.AccessKey{}, err
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
	return k, err
}

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
		return nil, storeErr(err, "Access Key with id "+k.AccessKeyID)
	}
	return nil, nil
}

func (h *handler) deleteAccessKey(c *api.Call) (any, error) {
	k, err := h.ownKey(c, "iam:DeleteAccessKey")
	if err != nil {
		return nil, err
	}
	if err := h.cfg.Store.DeleteAccessKey(c.Ctx, k.AccessKeyID); err != nil {
		return nil, storeErr(err, "Access Key with id "+k.AccessKeyID)
	}
	return nil, nil
}
