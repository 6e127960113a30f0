package iamapi

import (
	"errors"
	"net/http"

	"github.com/postern/postern/internal/api"
	"github.com/postern/postern/internal/awsid"
	"github.com/postern/postern/internal/awsproto"
	"github.com/postern/postern/internal/policy"
	"github.com/postern/postern/internal/store"
)

func (h *handler) createRole(c *api.Call) (any, error) {
	roleName, err := name(c.Params, "RoleName", 64)
	if err != nil {
		return nil, err
	}
	p, err := path(c.Params, "Path")
	if err != nil {
		return nil, err
	}
	trust, err := required(c.Params, "AssumeRolePolicyDocument")
	if err != nil {
		return nil, err
	}
	maxDur, err := c.Params.Int("MaxSessionDuration", 3600, 3600, 43200)
	if err != nil {
		return nil, validation("The requested MaxSessionDuration is invalid: it must be between 3600 and 43200 seconds.")
	}
	tags, err := tagsParam(c.Params)
	if err != nil {
		return nil, err
	}
	arn := h.arn("role", p, roleName)
	if err := c.Authorize("iam:CreateRole", arn, nil); err != nil {
		return nil, err
	}
	if err := checkPolicy(trust, policy.ResourcePolicy); err != nil {
		return nil, err
	}
	r := store.Role{RoleID: awsid.Unique(awsid.PrefixRole), RoleName: roleName, Path: p, ARN: arn, AssumeRolePolicyDocument: trust,
		Description: c.Params.Get("Description"), MaxSessionDuration: int32(maxDur), CreateDate: h.now(), Tags: tags}
	if err := h.cfg.Store.CreateRole(c.Ctx, r); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, awsproto.Errorf(http.StatusConflict, "EntityAlreadyExists", "Role with name %s already exists.", roleName)
		}
		return nil, err
	}
	return struct {
		Role xmlRole `xml:"Role"`
	}{roleXML(r)}, nil
}

func (h *handler) getRole(c *api.Call) (any, error) {
	owner, _, err := h.owner(c, store.KindRole, "iam:GetRole")
	if err != nil {
		return nil, err
	}
	r, err := h.cfg.Store.GetRole(c.Ctx, owner.Name)
	if err != nil {
		return nil, storeErr(err, "role with name "+owner.Name)
	}
	return struct {
		Role xmlRole `xml:"Role"`
	}{roleXML(r)}, nil
}

func (h *handler) listRoles(c *api.Call) (any, error) {
	prefix, err := path(c.Params, "PathPrefix")
	if err != nil {
		return nil, err
	}
	if err := c.Authorize("iam:ListRoles", h.arn("role", prefix, "*"), nil); err != nil {
		return nil, err
	}
	roles, err := h.cfg.Store.ListRoles(c.Ctx, prefix)
	if err != nil {
		return nil, err
	}
	start, end, next, err := paginate(c.Params, len(roles))
	if err != nil {
		return nil, err
	}
	out := struct {
		Roles []xmlRole `xml:"Roles>member"`
		page
	}{Roles: []xmlRole{}, page: page{IsTruncated: next != "", Marker: next}}
	for _, r := range roles[start:end] {
		out.Roles = append(out.Roles, roleXML(r))
	}
	return out, nil
}

func (h *handler) deleteRole(c *api.Call) (any, error) {
	owner, _, err := h.owner(c, store.KindRole, "iam:DeleteRole")
	if err != nil {
		return nil, err
	}
	if err := h.cfg.Store.DeleteRole(c.Ctx, owner.Name); err != nil {
		return nil, storeErr(err, "role with name "+owner.Name)
	}
	return nil, nil
}

func (h *handler) updateAssumeRolePolicy(c *api.Call) (any, error) {
	doc, err := required(c.Params, "PolicyDocument")
	if err != nil {
		return nil, err
	}
	owner, _, err := h.owner(c, store.KindRole, "iam:UpdateAssumeRolePolicy")
	if err != nil {
		return nil, err
	}
	if err := checkPolicy(doc, policy.ResourcePolicy); err != nil {
		return nil, err
	}
	if err := h.cfg.Store.UpdateAssumeRolePolicy(c.Ctx, owner.Name, doc); err != nil {
		return nil, storeErr(err, "role with name "+owner.Name)
	}
	return nil, nil
}
