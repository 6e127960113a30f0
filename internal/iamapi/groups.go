package iamapi

import (
	"errors"
	"net/http"

	"github.com/postern/postern/internal/api"
	"github.com/postern/postern/internal/awsid"
	"github.com/postern/postern/internal/awsproto"
	"github.com/postern/postern/internal/store"
)

func (h *handler) createGroup(c *api.Call) (any, error) {
	groupName, err := name(c.Params, "GroupName", 128)
	if err != nil {
		return nil, err
	}
	p, err := path(c.Params, "Path")
	if err != nil {
		return nil, err
	}
	arn := h.arn("group", p, groupName)
	if err := c.Authorize("iam:CreateGroup", arn, nil); err != nil {
		return nil, err
	}
	g := store.Group{GroupID: awsid.Unique(awsid.PrefixGroup), GroupName: groupName, Path: p, ARN: arn, CreateDate: h.now()}
	if err := h.cfg.Store.CreateGroup(c.Ctx, g); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, awsproto.Errorf(http.StatusConflict, "EntityAlreadyExists", "Group with name %s already exists.", groupName)
		}
		return nil, err
	}
	return struct {
		Group xmlGroup `xml:"Group"`
	}{groupXML(g)}, nil
}

func (h *handler) getGroup(c *api.Call) (any, error) {
	owner, _, err := h.owner(c, store.KindGroup, "iam:GetGroup")
	if err != nil {
		return nil, err
	}
	g, err := h.cfg.Store.GetGroup(c.Ctx, owner.Name)
	if err != nil {
		return nil, storeErr(err, "group with name "+owner.Name)
	}
	members, err := h.cfg.Store.ListGroupMembers(c.Ctx, owner.Name)
	if err != nil {
		return nil, storeErr(err, "group with name "+owner.Name)
	}
	start, end, next, err := paginate(c.Params, len(members))
	if err != nil {
		return nil, err
	}
	out := struct {
		Group xmlGroup  `xml:"Group"`
		Users []xmlUser `xml:"Users>member"`
		page
	}{Group: groupXML(g), Users: []xmlUser{}, page: page{IsTruncated: next != "", Marker: next}}
	for _, u := range members[start:end] {
		out.Users = append(out.Users, userXML(u))
	}
	return out, nil
}

func (h *handler) listGroups(c *api.Call) (any, error) {
	prefix, err := path(c.Params, "PathPrefix")
	if err != nil {
		return nil, err
	}
	if err := c.Authorize("iam:ListGroups", h.arn("group", prefix, "*"), nil); err != nil {
		return nil, err
	}
	groups, err := h.cfg.Store.ListGroups(c.Ctx, prefix)
	if err != nil {
		return nil, err
	}
	return groupsPage(c, groups)
}

func groupsPage(c *api.Call, groups []store.Group) (any, error) {
	start, end, next, err := paginate(c.Params, len(groups))
	if err != nil {
		return nil, err
	}
	out := struct {
		Groups []xmlGroup `xml:"Groups>member"`
		page
	}{Groups: []xmlGroup{}, page: page{IsTruncated: next != "", Marker: next}}
	for _, g := range groups[start:end] {
		out.Groups = append(out.Groups, groupXML(g))
	}
	return out, nil
}

func (h *handler) deleteGroup(c *api.Call) (any, error) {
	owner, _, err := h.owner(c, store.KindGroup, "iam:DeleteGroup")
	if err != nil {
		return nil, err
	}
	if err := h.cfg.Store.DeleteGroup(c.Ctx, owner.Name); err != nil {
		return nil, storeErr(err, "group with name "+owner.Name)
	}
	return nil, nil
}

func (h *handler) membership(c *api.Call, action string) (store.PrincipalRef, string, error) {
	userName, err := name(c.Params, "UserName", 128)
	if err != nil {
		return store.PrincipalRef{}, "", err
	}
	owner, _, err := h.owner(c, store.KindGroup, action)
	if err != nil {
		return store.PrincipalRef{}, "", err
	}
	if _, err := h.cfg.Store.GetUser(c.Ctx, userName); errors.Is(err, store.ErrNotFound) {
		return store.PrincipalRef{}, "", noSuchEntity("The user with name %s cannot be found.", userName)
	} else if err != nil {
		return store.PrincipalRef{}, "", err
	}
	return owner, userName, nil
}

func (h *handler) addUserToGroup(c *api.Call) (any, error) {
	group, userName, err := h.membership(c, "iam:AddUserToGroup")
	if err != nil {
		return nil, err
	}
	if err := h.cfg.Store.AddUserToGroup(c.Ctx, group.Name, userName); err != nil {
		return nil, storeErr(err, "group with name "+group.Name)
	}
	return nil, nil
}

func (h *handler) removeUserFromGroup(c *api.Call) (any, error) {
	group, userName, err := h.membership(c, "iam:RemoveUserFromGroup")
	if err != nil {
		return nil, err
	}
	if err := h.cfg.Store.RemoveUserFromGroup(c.Ctx, group.Name, userName); errors.Is(err, store.ErrNotFound) {
		return nil, noSuchEntity("The user with name %s is not a member of group %s.", userName, group.Name)
	} else if err != nil {
		return nil, err
	}
	return nil, nil
}

func (h *handler) listGroupsForUser(c *api.Call) (any, error) {
	owner, _, err := h.owner(c, store.KindUser, "iam:ListGroupsForUser")
	if err != nil {
		return nil, err
	}
	groups, err := h.cfg.Store.ListGroupsForUser(c.Ctx, owner.Name)
	if err != nil {
		return nil, storeErr(err, "user with name "+owner.Name)
	}
	return groupsPage(c, groups)
}
