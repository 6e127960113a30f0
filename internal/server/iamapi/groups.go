package iamapi

import (
	"errors"

	"github.com/postern/postern/internal/server/api"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/wire/awsid"
)

// createGroup is CreateGroup: GroupName, Path.
func (h *handler) createGroup(c *api.Call) (any, error) {
	groupName, p, _, err := entityParams(c.Params, "GroupName", maxGroupName, false)
	if err != nil {
		return nil, err
	}
	arn := h.arn("group", p, groupName)
	if err := c.Authorize("iam:CreateGroup", arn, nil); err != nil {
		return nil, err
	}
	g := store.Group{GroupID: h.cfg.NewID(awsid.PrefixGroup), GroupName: groupName, Path: p, ARN: arn, CreateDate: h.now()}
	if err := h.cfg.Store.CreateGroup(c.Ctx, g); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, entityExists("Group with name %s already exists.", groupName)
		}
		return nil, wrap(err, "create group %s", groupName)
	}
	return struct {
		Group xmlGroup `xml:"Group"`
	}{groupXML(g)}, nil
}

// getGroup is GetGroup: the group and its members, paginated.
func (h *handler) getGroup(c *api.Call) (any, error) {
	owner, _, err := h.owner(c, store.KindGroup, "iam:GetGroup")
	if err != nil {
		return nil, err
	}
	g, err := h.cfg.Store.GetGroup(c.Ctx, owner.Name)
	if err != nil {
		return nil, storeErr(err, "get group "+owner.Name, "group with name "+owner.Name)
	}
	members, err := h.cfg.Store.ListGroupMembers(c.Ctx, owner.Name)
	if err != nil {
		return nil, storeErr(err, "list members of "+owner.Name, "group with name "+owner.Name)
	}
	start, end, next, err := paginate(c.Params, len(members))
	if err != nil {
		return nil, err
	}
	out := struct {
		Group xmlGroup  `xml:"Group"`
		Users []xmlUser `xml:"Users>member"`
		page
	}{Group: groupXML(g), Users: []xmlUser{}, page: pageOf(next)}
	for _, u := range members[start:end] {
		u.Tags = nil
		out.Users = append(out.Users, userXML(u))
	}
	return out, nil
}

// listGroups is ListGroups: PathPrefix, Marker, MaxItems.
func (h *handler) listGroups(c *api.Call) (any, error) {
	prefix, err := pathPrefixParam(c.Params)
	if err != nil {
		return nil, err
	}
	if err := c.Authorize("iam:ListGroups", h.arn("group", prefix, ""), nil); err != nil {
		return nil, err
	}
	groups, err := h.cfg.Store.ListGroups(c.Ctx, prefix)
	if err != nil {
		return nil, wrap(err, "list groups")
	}
	return groupsPage(c, groups)
}

// groupsPage is the paginated result of ListGroups and ListGroupsForUser.
func groupsPage(c *api.Call, groups []store.Group) (any, error) {
	start, end, next, err := paginate(c.Params, len(groups))
	if err != nil {
		return nil, err
	}
	out := struct {
		Groups []xmlGroup `xml:"Groups>member"`
		page
	}{Groups: []xmlGroup{}, page: pageOf(next)}
	for _, g := range groups[start:end] {
		out.Groups = append(out.Groups, groupXML(g))
	}
	return out, nil
}

// deleteGroup is DeleteGroup. A group with members or policies cannot be
// deleted; the checks and the delete run in one transaction.
func (h *handler) deleteGroup(c *api.Call) (any, error) {
	owner, _, err := h.owner(c, store.KindGroup, "iam:DeleteGroup")
	if err != nil {
		return nil, err
	}
	err = h.cfg.Store.InTx(c.Ctx, func(tx store.Repo) error {
		members, err := tx.ListGroupMembers(c.Ctx, owner.Name)
		if err != nil {
			return err
		}
		if len(members) > 0 {
			return deleteConflict("must remove users from group first")
		}
		if err := ownerDependents(c, tx, owner); err != nil {
			return err
		}
		return tx.DeleteGroup(c.Ctx, owner.Name)
	})
	if err != nil {
		return nil, storeErr(err, "delete group "+owner.Name, "group with name "+owner.Name)
	}
	return nil, nil
}

// membership reads the GroupName and UserName of AddUserToGroup and
// RemoveUserFromGroup, authorizing action on the group, and checks that
// the user exists.
func (h *handler) membership(c *api.Call, action string) (store.PrincipalRef, string, error) {
	userName, err := name(c.Params, "UserName", maxExistingUserName)
	if err != nil {
		return store.PrincipalRef{}, "", err
	}
	group, _, err := h.owner(c, store.KindGroup, action)
	if err != nil {
		return store.PrincipalRef{}, "", err
	}
	u, err := h.cfg.Store.GetUser(c.Ctx, userName)
	if errors.Is(err, store.ErrNotFound) {
		return store.PrincipalRef{}, "", noSuchEntity("The user with name %s cannot be found.", userName)
	} else if err != nil {
		return store.PrincipalRef{}, "", wrap(err, "get user %s", userName)
	}
	return group, u.UserName, nil
}

// addUserToGroup is AddUserToGroup (idempotent, as in AWS).
func (h *handler) addUserToGroup(c *api.Call) (any, error) {
	group, userName, err := h.membership(c, "iam:AddUserToGroup")
	if err != nil {
		return nil, err
	}
	if err := h.cfg.Store.AddUserToGroup(c.Ctx, group.Name, userName); err != nil {
		return nil, storeErr(err, "add "+userName+" to "+group.Name, "group with name "+group.Name)
	}
	return nil, nil
}

// removeUserFromGroup is RemoveUserFromGroup.
func (h *handler) removeUserFromGroup(c *api.Call) (any, error) {
	group, userName, err := h.membership(c, "iam:RemoveUserFromGroup")
	if err != nil {
		return nil, err
	}
	if err := h.cfg.Store.RemoveUserFromGroup(c.Ctx, group.Name, userName); errors.Is(err, store.ErrNotFound) {
		return nil, noSuchEntity("User %s is not in group %s.", userName, group.Name)
	} else if err != nil {
		return nil, wrap(err, "remove %s from %s", userName, group.Name)
	}
	return nil, nil
}

// listGroupsForUser is ListGroupsForUser: UserName, Marker, MaxItems.
func (h *handler) listGroupsForUser(c *api.Call) (any, error) {
	owner, _, err := h.owner(c, store.KindUser, "iam:ListGroupsForUser")
	if err != nil {
		return nil, err
	}
	groups, err := h.cfg.Store.ListGroupsForUser(c.Ctx, owner.Name)
	if err != nil {
		return nil, storeErr(err, "list groups of "+owner.Name, "user with name "+owner.Name)
	}
	return groupsPage(c, groups)
}
