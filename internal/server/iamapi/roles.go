package iamapi

import (
	"errors"
	"strconv"
	"strings"

	"github.com/postern/postern/internal/server/api"
	"github.com/postern/postern/internal/server/policy"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/wire/awsid"
)

// trustParam returns a trust policy parameter: a resource policy, within
// the trust policy quota, without Resource and with STS actions only (as
// IAM requires of AssumeRolePolicyDocument).
func trustParam(c *api.Call, param string) (string, error) {
	doc, err := policyParam(c.Params, param, policy.ResourcePolicy)
	if err != nil {
		return "", err
	}
	d, err := policy.Parse(doc, policy.ResourcePolicy)
	if err != nil { // policyParam parsed it already
		return "", wrap(err, "parse trust policy")
	}
	for _, st := range d.Statements {
		if len(st.Resource) > 0 || len(st.NotResource) > 0 {
			return "", malformedPolicy("Has prohibited field Resource")
		}
		for _, a := range st.Action {
			if !strings.HasPrefix(strings.ToLower(a), "sts:") {
				return "", malformedPolicy("AssumeRole policy may only specify STS AssumeRole actions.")
			}
		}
	}
	if policySize(doc) > quotaTrust {
		return "", limitExceeded("Cannot exceed quota for ACLSizePerRole: %d", quotaTrust)
	}
	return doc, nil
}

// createRole is CreateRole: RoleName, Path, AssumeRolePolicyDocument,
// Description, MaxSessionDuration, Tags. The users and roles the trust
// policy names must exist; it is stored naming them by unique id
// (bindTrust), in one transaction with the role.
func (h *handler) createRole(c *api.Call) (any, error) {
	roleName, p, desc, err := entityParams(c.Params, "RoleName", maxRoleName, true)
	if err != nil {
		return nil, err
	}
	maxDur := int64(3600)
	if v := c.Params.Get("MaxSessionDuration"); v != "" {
		n, err := strconv.ParseInt(v, 10, 32)
		switch {
		case err != nil:
			return nil, validation("1 validation error detected: Value '%s' at 'maxSessionDuration' failed to satisfy constraint: Member must be a number", v)
		case n < 3600:
			return nil, validation("1 validation error detected: Value '%s' at 'maxSessionDuration' failed to satisfy constraint: Member must have value greater than or equal to 3600", v)
		case n > 43200:
			return nil, validation("1 validation error detected: Value '%s' at 'maxSessionDuration' failed to satisfy constraint: Member must have value less than or equal to 43200", v)
		}
		maxDur = n
	}
	tags, err := tagsParam(c.Params)
	if err != nil {
		return nil, err
	}
	trust, err := trustParam(c, "AssumeRolePolicyDocument")
	if err != nil {
		return nil, err
	}
	arn := h.arn("role", p, roleName)
	if err := authorizeCreate(c, "iam:CreateRole", "iam:TagRole", arn, tags); err != nil {
		return nil, err
	}
	r := store.Role{RoleID: h.cfg.NewID(awsid.PrefixRole), RoleName: roleName, Path: p, ARN: arn, AssumeRolePolicyDocument: trust,
		Description: desc, MaxSessionDuration: int32(maxDur), CreateDate: h.now(), Tags: tags}
	err = h.cfg.Store.InTx(c.Ctx, func(tx store.Repo) error {
		stored := r
		doc, err := h.bindTrust(c.Ctx, tx, trust)
		if err != nil {
			return err
		}
		stored.AssumeRolePolicyDocument = doc
		return tx.CreateRole(c.Ctx, stored)
	})
	if err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, entityExists("Role with name %s already exists.", roleName)
		}
		return nil, wrap(err, "create role %s", roleName)
	}
	return struct {
		Role xmlRole `xml:"Role"`
	}{roleXML(r)}, nil
}

// getRole is GetRole.
func (h *handler) getRole(c *api.Call) (any, error) {
	owner, _, err := h.owner(c, store.KindRole, "iam:GetRole")
	if err != nil {
		return nil, err
	}
	r, err := h.cfg.Store.GetRole(c.Ctx, owner.Name)
	if err != nil {
		return nil, storeErr(err, "get role "+owner.Name, "role with name "+owner.Name)
	}
	if r, err = h.showRole(c.Ctx, h.cfg.Store, r, nil); err != nil {
		return nil, err
	}
	return struct {
		Role xmlRole `xml:"Role"`
	}{roleXML(r)}, nil
}

// listRoles is ListRoles: PathPrefix, Marker, MaxItems.
func (h *handler) listRoles(c *api.Call) (any, error) {
	prefix, err := pathPrefixParam(c.Params)
	if err != nil {
		return nil, err
	}
	if err := c.Authorize("iam:ListRoles", h.arn("role", prefix, ""), nil); err != nil {
		return nil, err
	}
	roles, err := h.cfg.Store.ListRoles(c.Ctx, prefix)
	if err != nil {
		return nil, wrap(err, "list roles")
	}
	start, end, next, err := paginate(c.Params, len(roles))
	if err != nil {
		return nil, err
	}
	out := struct {
		Roles []xmlRole `xml:"Roles>member"`
		page
	}{Roles: []xmlRole{}, page: pageOf(next)}
	arns := map[string]string{}
	for _, r := range roles[start:end] {
		r.Tags = nil // ListRoles does not return tags
		if r, err = h.showRole(c.Ctx, h.cfg.Store, r, arns); err != nil {
			return nil, err
		}
		out.Roles = append(out.Roles, roleXML(r))
	}
	return out, nil
}

// deleteRole is DeleteRole. A role with policies cannot be deleted; the
// checks and the delete run in one transaction. Sessions already issued
// are bound to the role's id, not its name: from the delete on they are
// refused (InvalidClientTokenId), even once a role of the same name is
// created again, and the tunnels they opened close as revoked.
func (h *handler) deleteRole(c *api.Call) (any, error) {
	owner, _, err := h.owner(c, store.KindRole, "iam:DeleteRole")
	if err != nil {
		return nil, err
	}
	err = h.cfg.Store.InTx(c.Ctx, func(tx store.Repo) error {
		if err := ownerDependents(c, tx, owner); err != nil {
			return err
		}
		return tx.DeleteRole(c.Ctx, owner.Name)
	})
	if err != nil {
		return nil, storeErr(err, "delete role "+owner.Name, "role with name "+owner.Name)
	}
	return nil, nil
}

// updateAssumeRolePolicy is UpdateAssumeRolePolicy: RoleName,
// PolicyDocument (the new trust policy). As in CreateRole, the users and
// roles it names are stored by unique id (bindTrust).
func (h *handler) updateAssumeRolePolicy(c *api.Call) (any, error) {
	doc, err := trustParam(c, "PolicyDocument")
	if err != nil {
		return nil, err
	}
	owner, _, err := h.owner(c, store.KindRole, "iam:UpdateAssumeRolePolicy")
	if err != nil {
		return nil, err
	}
	err = h.cfg.Store.InTx(c.Ctx, func(tx store.Repo) error {
		bound, err := h.bindTrust(c.Ctx, tx, doc)
		if err != nil {
			return err
		}
		return tx.UpdateAssumeRolePolicy(c.Ctx, owner.Name, bound)
	})
	if err != nil {
		return nil, storeErr(err, "update trust policy of "+owner.Name, "role with name "+owner.Name)
	}
	return nil, nil
}
