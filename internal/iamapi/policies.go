package iamapi

import (
	"errors"
	"net/http"
	"strings"

	"github.com/postern/postern/internal/api"
	"github.com/postern/postern/internal/awsid"
	"github.com/postern/postern/internal/awsproto"
	"github.com/postern/postern/internal/policy"
	"github.com/postern/postern/internal/store"
)

// kindInfo names what differs between the User, Group and Role variants of
// an action: the parameter, the noun and the name length limit.
type kindInfo struct {
	param, noun, arnKind, action string
	max                          int
}

var kinds = map[store.PrincipalKind]kindInfo{
	store.KindUser:  {"UserName", "user", "user", "User", 128},
	store.KindGroup: {"GroupName", "group", "group", "Group", 128},
	store.KindRole:  {"RoleName", "role", "role", "Role", 64},
}

// owner finds the user, group or role named in the request and authorizes
// action on its ARN. It returns the owner and its ARN.
func (h *handler) owner(c *api.Call, kind store.PrincipalKind, action string) (store.PrincipalRef, string, error) {
	ki := kinds[kind]
	n, err := name(c.Params, ki.param, ki.max)
	if err != nil {
		return store.PrincipalRef{}, "", err
	}
	arn := h.arn(ki.arnKind, "/", n)
	var found error
	switch kind {
	case store.KindUser:
		var u store.User
		if u, found = h.cfg.Store.GetUser(c.Ctx, n); found == nil {
			arn, n = u.ARN, u.UserName
		}
	case store.KindGroup:
		var g store.Group
		if g, found = h.cfg.Store.GetGroup(c.Ctx, n); found == nil {
			arn, n = g.ARN, g.GroupName
		}
	case store.KindRole:
		var r store.Role
		if r, found = h.cfg.Store.GetRole(c.Ctx, n); found == nil {
			arn, n = r.ARN, r.RoleName
		}
	}
	if found != nil && !errors.Is(found, store.ErrNotFound) {
		return store.PrincipalRef{}, "", found
	}
	if err := c.Authorize(action, arn, nil); err != nil {
		return store.PrincipalRef{}, "", err
	}
	if found != nil {
		return store.PrincipalRef{}, "", noSuchEntity("The %s with name %s cannot be found.", ki.noun, n)
	}
	return store.PrincipalRef{Kind: kind, Name: n}, arn, nil
}

func (h *handler) putInline(kind store.PrincipalKind) api.ActionFunc {
	return func(c *api.Call) (any, error) {
		ki := kinds[kind]
		policyName, err := name(c.Params, "PolicyName", 128)
		if err != nil {
			return nil, err
		}
		doc, err := required(c.Params, "PolicyDocument")
		if err != nil {
			return nil, err
		}
		owner, _, err := h.owner(c, kind, "iam:Put"+ki.action+"Policy")
		if err != nil {
			return nil, err
		}
		if err := checkPolicy(doc, policy.IdentityPolicy); err != nil {
			return nil, err
		}
		if err := h.cfg.Store.PutInlinePolicy(c.Ctx, store.InlinePolicy{Owner: owner, PolicyName: policyName, Document: doc}); err != nil {
			return nil, storeErr(err, ki.noun+" with name "+owner.Name)
		}
		return nil, nil
	}
}

func (h *handler) getInline(kind store.PrincipalKind) api.ActionFunc {
	return func(c *api.Call) (any, error) {
		ki := kinds[kind]
		policyName, err := name(c.Params, "PolicyName", 128)
		if err != nil {
			return nil, err
		}
		owner, _, err := h.owner(c, kind, "iam:Get"+ki.action+"Policy")
		if err != nil {
			return nil, err
		}
		p, err := h.cfg.Store.GetInlinePolicy(c.Ctx, owner, policyName)
		if errors.Is(err, store.ErrNotFound) {
			return nil, noSuchEntity("The %s policy with name %s cannot be found.", ki.noun, policyName)
		}
		if err != nil {
			return nil, err
		}
		type result struct {
			UserName       string `xml:"UserName,omitempty"`
			GroupName      string `xml:"GroupName,omitempty"`
			RoleName       string `xml:"RoleName,omitempty"`
			PolicyName     string `xml:"PolicyName"`
			PolicyDocument string `xml:"PolicyDocument"`
		}
		r := result{PolicyName: p.PolicyName, PolicyDocument: encodeDoc(p.Document)}
		switch kind {
		case store.KindUser:
			r.UserName = owner.Name
		case store.KindGroup:
			r.GroupName = owner.Name
		default:
			r.RoleName = owner.Name
		}
		return r, nil
	}
}

func (h *handler) listInline(kind store.PrincipalKind) api.ActionFunc {
	return func(c *api.Call) (any, error) {
		ki := kinds[kind]
		owner, _, err := h.owner(c, kind, "iam:List"+ki.action+"Policies")
		if err != nil {
			return nil, err
		}
		ps, err := h.cfg.Store.ListInlinePolicies(c.Ctx, owner)
		if err != nil {
			return nil, storeErr(err, ki.noun+" with name "+owner.Name)
		}
		start, end, next, err := paginate(c.Params, len(ps))
		if err != nil {
			return nil, err
		}
		out := struct {
			PolicyNames []string `xml:"PolicyNames>member"`
			page
		}{PolicyNames: []string{}, page: page{IsTruncated: next != "", Marker: next}}
		for _, p := range ps[start:end] {
			out.PolicyNames = append(out.PolicyNames, p.PolicyName)
		}
		return out, nil
	}
}

func (h *handler) deleteInline(kind store.PrincipalKind) api.ActionFunc {
	return func(c *api.Call) (any, error) {
		ki := kinds[kind]
		policyName, err := name(c.Params, "PolicyName", 128)
		if err != nil {
			return nil, err
		}
		owner, _, err := h.owner(c, kind, "iam:Delete"+ki.action+"Policy")
		if err != nil {
			return nil, err
		}
		err = h.cfg.Store.DeleteInlinePolicy(c.Ctx, owner, policyName)
		if errors.Is(err, store.ErrNotFound) {
			return nil, noSuchEntity("The %s policy with name %s cannot be found.", ki.noun, policyName)
		}
		return nil, err
	}
}

func (h *handler) createPolicy(c *api.Call) (any, error) {
	policyName, err := name(c.Params, "PolicyName", 128)
	if err != nil {
		return nil, err
	}
	p, err := path(c.Params, "Path")
	if err != nil {
		return nil, err
	}
	doc, err := required(c.Params, "PolicyDocument")
	if err != nil {
		return nil, err
	}
	arn := h.arn("policy", p, policyName)
	if err := c.Authorize("iam:CreatePolicy", arn, nil); err != nil {
		return nil, err
	}
	if err := checkPolicy(doc, policy.IdentityPolicy); err != nil {
		return nil, err
	}
	now := h.now()
	mp := store.ManagedPolicy{PolicyID: awsid.Unique(awsid.PrefixPolicy), PolicyName: policyName, Path: p, ARN: arn,
		Description: c.Params.Get("Description"), Document: doc, DefaultVersionID: "v1", CreateDate: now, UpdateDate: now}
	if err := h.cfg.Store.CreateManagedPolicy(c.Ctx, mp); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, awsproto.Errorf(http.StatusConflict, "EntityAlreadyExists", "A policy called %s already exists. Duplicate names are not allowed.", policyName)
		}
		return nil, err
	}
	return struct {
		Policy xmlPolicy `xml:"Policy"`
	}{policyXML(mp)}, nil
}

// managed finds a managed policy by PolicyArn and authorizes action on it.
func (h *handler) managed(c *api.Call, action string) (store.ManagedPolicy, error) {
	arn, err := required(c.Params, "PolicyArn")
	if err != nil {
		return store.ManagedPolicy{}, err
	}
	if !strings.HasPrefix(arn, "arn:aws:iam::") {
		return store.ManagedPolicy{}, awsproto.Errorf(http.StatusBadRequest, "InvalidInput", "ARN %s is not valid.", arn)
	}
	if err := c.Authorize(action, arn, nil); err != nil {
		return store.ManagedPolicy{}, err
	}
	p, err := h.cfg.Store.GetManagedPolicy(c.Ctx, arn)
	if errors.Is(err, store.ErrNotFound) {
		return p, noSuchEntity("Policy %s does not exist or is not attachable.", arn)
	}
	return p, err
}

func (h *handler) getPolicy(c *api.Call) (any, error) {
	p, err := h.managed(c, "iam:GetPolicy")
	if err != nil {
		return nil, err
	}
	return struct {
		Policy xmlPolicy `xml:"Policy"`
	}{policyXML(p)}, nil
}

func (h *handler) getPolicyVersion(c *api.Call) (any, error) {
	p, err := h.managed(c, "iam:GetPolicyVersion")
	if err != nil {
		return nil, err
	}
	v, err := required(c.Params, "VersionId")
	if err != nil {
		return nil, err
	}
	if v != p.DefaultVersionID {
		return nil, noSuchEntity("Policy %s version %s does not exist or is not attachable.", p.ARN, v)
	}
	type version struct {
		Document         string `xml:"Document"`
		VersionID        string `xml:"VersionId"`
		IsDefaultVersion bool   `xml:"IsDefaultVersion"`
		CreateDate       string `xml:"CreateDate"`
	}
	return struct {
		PolicyVersion version `xml:"PolicyVersion"`
	}{version{encodeDoc(p.Document), v, true, ts(p.CreateDate)}}, nil
}

func (h *handler) listPolicies(c *api.Call) (any, error) {
	prefix, err := path(c.Params, "PathPrefix")
	if err != nil {
		return nil, err
	}
	scope := c.Params.Get("Scope")
	switch scope {
	case "", "All", "AWS", "Local":
	default:
		return nil, validation("1 validation error detected: Value '%s' at 'scope' failed to satisfy constraint: Member must satisfy enum value set: [All, AWS, Local]", scope)
	}
	onlyAttached, err := c.Params.Bool("OnlyAttached", false)
	if err != nil {
		return nil, err
	}
	if err := c.Authorize("iam:ListPolicies", "*", nil); err != nil {
		return nil, err
	}
	all, err := h.cfg.Store.ListManagedPolicies(c.Ctx, prefix)
	if err != nil {
		return nil, err
	}
	var ps []store.ManagedPolicy
	for _, p := range all {
		aws := strings.HasPrefix(p.ARN, "arn:aws:iam::aws:")
		if (scope == "AWS" && !aws) || (scope == "Local" && aws) || (onlyAttached && p.AttachmentCount == 0) {
			continue
		}
		ps = append(ps, p)
	}
	start, end, next, err := paginate(c.Params, len(ps))
	if err != nil {
		return nil, err
	}
	out := struct {
		Policies []xmlPolicy `xml:"Policies>member"`
		page
	}{Policies: []xmlPolicy{}, page: page{IsTruncated: next != "", Marker: next}}
	for _, p := range ps[start:end] {
		out.Policies = append(out.Policies, policyXML(p))
	}
	return out, nil
}

func (h *handler) deletePolicy(c *api.Call) (any, error) {
	p, err := h.managed(c, "iam:DeletePolicy")
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(p.ARN, "arn:aws:iam::aws:") {
		return nil, awsproto.Errorf(http.StatusBadRequest, "InvalidInput", "Cannot delete an AWS managed policy.")
	}
	if err := h.cfg.Store.DeleteManagedPolicy(c.Ctx, p.ARN); err != nil {
		if errors.Is(err, store.ErrInUse) {
			return nil, awsproto.Errorf(http.StatusConflict, "DeleteConflict", "Cannot delete a policy attached to entities.")
		}
		return nil, storeErr(err, "policy "+p.ARN)
	}
	return nil, nil
}

func (h *handler) attach(kind store.PrincipalKind) api.ActionFunc {
	return func(c *api.Call) (any, error) {
		arn, err := required(c.Params, "PolicyArn")
		if err != nil {
			return nil, err
		}
		owner, _, err := h.owner(c, kind, "iam:Attach"+kinds[kind].action+"Policy")
		if err != nil {
			return nil, err
		}
		if _, err := h.cfg.Store.GetManagedPolicy(c.Ctx, arn); errors.Is(err, store.ErrNotFound) {
			return nil, noSuchEntity("Policy %s does not exist or is not attachable.", arn)
		} else if err != nil {
			return nil, err
		}
		if err := h.cfg.Store.AttachPolicy(c.Ctx, owner, arn); err != nil {
			return nil, storeErr(err, "policy "+arn)
		}
		return nil, nil
	}
}

func (h *handler) detach(kind store.PrincipalKind) api.ActionFunc {
	return func(c *api.Call) (any, error) {
		arn, err := required(c.Params, "PolicyArn")
		if err != nil {
			return nil, err
		}
		owner, _, err := h.owner(c, kind, "iam:Detach"+kinds[kind].action+"Policy")
		if err != nil {
			return nil, err
		}
		if err := h.cfg.Store.DetachPolicy(c.Ctx, owner, arn); errors.Is(err, store.ErrNotFound) {
			return nil, noSuchEntity("Policy %s was not found.", arn)
		} else if err != nil {
			return nil, err
		}
		return nil, nil
	}
}

func (h *handler) listAttached(kind store.PrincipalKind) api.ActionFunc {
	return func(c *api.Call) (any, error) {
		owner, _, err := h.owner(c, kind, "iam:ListAttached"+kinds[kind].action+"Policies")
		if err != nil {
			return nil, err
		}
		ps, err := h.cfg.Store.ListAttachedPolicies(c.Ctx, owner)
		if err != nil {
			return nil, storeErr(err, kinds[kind].noun+" with name "+owner.Name)
		}
		start, end, next, err := paginate(c.Params, len(ps))
		if err != nil {
			return nil, err
		}
		out := struct {
			AttachedPolicies []xmlAttached `xml:"AttachedPolicies>member"`
			page
		}{AttachedPolicies: []xmlAttached{}, page: page{IsTruncated: next != "", Marker: next}}
		for _, p := range ps[start:end] {
			out.AttachedPolicies = append(out.AttachedPolicies, xmlAttached{p.PolicyName, p.ARN})
		}
		return out, nil
	}
}
