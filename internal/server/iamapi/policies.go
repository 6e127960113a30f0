package iamapi

import (
	"errors"
	"strings"

	"github.com/postern/postern/internal/server/api"
	"github.com/postern/postern/internal/server/policy"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/wire/awsid"
)

// kindInfo names what differs between the User, Group and Role variants of
// an action.
type kindInfo struct {
	param  string // the name parameter: "UserName"
	noun   string // for messages and ARNs: "user"
	action string // in action names: "User"
	max    int    // longest name that addresses an entity
	quota  int    // size quota of all inline policies together
}

// kinds describes users, groups and roles.
var kinds = map[store.PrincipalKind]kindInfo{
	store.KindUser:  {"UserName", "user", "User", maxExistingUserName, quotaUserInline},
	store.KindGroup: {"GroupName", "group", "Group", maxGroupName, quotaGroupInline},
	store.KindRole:  {"RoleName", "role", "Role", maxRoleName, quotaRoleInline},
}

// owner finds the user, group or role named in the request and authorizes
// action on its ARN (with the extra condition keys), before revealing
// whether it exists. It returns the entity (its name as created) and ARN.
//
// A caller denied on the entity gets the denial it would get were there no
// such entity (see authorizeEntity): neither the answer nor its wording
// (the name's case as created, the entity's path) tells it the entity
// exists.
func (h *handler) owner(c *api.Call, kind store.PrincipalKind, action string, extra ...policy.Context) (store.PrincipalRef, string, error) {
	ki := kinds[kind]
	n, err := name(c.Params, ki.param, ki.max)
	if err != nil {
		return store.PrincipalRef{}, "", err
	}
	asAsked := h.arn(ki.noun, "/", n)
	arn := asAsked
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
		return store.PrincipalRef{}, "", wrap(found, "get %s %s", ki.noun, n)
	}
	var ctx policy.Context
	if len(extra) > 0 {
		ctx = extra[0]
	}
	if err := authorizeEntity(c, action, arn, asAsked, ctx); err != nil {
		return store.PrincipalRef{}, "", err
	}
	if found != nil {
		return store.PrincipalRef{}, "", noSuchEntity("The %s with name %s cannot be found.", ki.noun, n)
	}
	return store.PrincipalRef{Kind: kind, Name: n}, arn, nil
}

// authorizeEntity authorizes action on an entity's ARN, arn (asAsked when
// there is no such entity). A denial there is answered, when the caller
// is denied on asAsked too, as the denial on asAsked: the ARN as the
// request spells the name, with path "/", which is what a caller asking
// about a missing entity is told. The answer to a caller without
// permission is then the same whether the entity exists or not.
func authorizeEntity(c *api.Call, action, arn, asAsked string, ctx policy.Context) error {
	dec, err := c.Decide(action, arn, ctx)
	if err != nil || dec.Allowed {
		return err
	}
	if arn != asAsked {
		missing, err := c.Decide(action, asAsked, ctx)
		if err != nil {
			return err
		}
		if !missing.Allowed {
			return c.Deny(action, asAsked, missing)
		}
	}
	return c.Deny(action, arn, dec)
}

// putInline is Put{User,Group,Role}Policy: the name parameter,
// PolicyName, PolicyDocument. The owner's size quota (all its inline
// policies together) is checked in the transaction that writes.
func (h *handler) putInline(kind store.PrincipalKind) api.ActionFunc {
	return func(c *api.Call) (any, error) {
		ki := kinds[kind]
		policyName, err := name(c.Params, "PolicyName", maxPolicyName)
		if err != nil {
			return nil, err
		}
		doc, err := policyParam(c.Params, "PolicyDocument", policy.IdentityPolicy)
		if err != nil {
			return nil, err
		}
		owner, _, err := h.owner(c, kind, "iam:Put"+ki.action+"Policy")
		if err != nil {
			return nil, err
		}
		err = h.cfg.Store.InTx(c.Ctx, func(tx store.Repo) error {
			existing, err := tx.ListInlinePolicies(c.Ctx, owner)
			if err != nil {
				return err
			}
			total := policySize(doc)
			for _, p := range existing {
				if !strings.EqualFold(p.PolicyName, policyName) { // a put replaces its namesake
					total += policySize(p.Document)
				}
			}
			if total > ki.quota {
				return limitExceeded("Maximum policy size of %d bytes exceeded for %s %s", ki.quota, ki.noun, owner.Name)
			}
			return tx.PutInlinePolicy(c.Ctx, store.InlinePolicy{Owner: owner, PolicyName: policyName, Document: doc})
		})
		if err != nil {
			return nil, storeErr(err, "put policy "+policyName+" of "+ki.noun+" "+owner.Name, ki.noun+" with name "+owner.Name)
		}
		return nil, nil
	}
}

// getInline is Get{User,Group,Role}Policy; the document is URL-encoded.
func (h *handler) getInline(kind store.PrincipalKind) api.ActionFunc {
	return func(c *api.Call) (any, error) {
		ki := kinds[kind]
		policyName, err := name(c.Params, "PolicyName", maxPolicyName)
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
			return nil, wrap(err, "get policy %s of %s %s", policyName, ki.noun, owner.Name)
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

// listInline is List{User,Group,Role}Policies: the inline policy names.
func (h *handler) listInline(kind store.PrincipalKind) api.ActionFunc {
	return func(c *api.Call) (any, error) {
		ki := kinds[kind]
		owner, _, err := h.owner(c, kind, "iam:List"+ki.action+"Policies")
		if err != nil {
			return nil, err
		}
		ps, err := h.cfg.Store.ListInlinePolicies(c.Ctx, owner)
		if err != nil {
			return nil, storeErr(err, "list policies of "+ki.noun+" "+owner.Name, ki.noun+" with name "+owner.Name)
		}
		start, end, next, err := paginate(c.Params, len(ps))
		if err != nil {
			return nil, err
		}
		out := struct {
			PolicyNames []string `xml:"PolicyNames>member"`
			page
		}{PolicyNames: []string{}, page: pageOf(next)}
		for _, p := range ps[start:end] {
			out.PolicyNames = append(out.PolicyNames, p.PolicyName)
		}
		return out, nil
	}
}

// deleteInline is Delete{User,Group,Role}Policy.
func (h *handler) deleteInline(kind store.PrincipalKind) api.ActionFunc {
	return func(c *api.Call) (any, error) {
		ki := kinds[kind]
		policyName, err := name(c.Params, "PolicyName", maxPolicyName)
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
		return nil, wrap(err, "delete policy %s of %s %s", policyName, ki.noun, owner.Name)
	}
}

// createPolicy is CreatePolicy: PolicyName, Path, PolicyDocument,
// Description. Postern keeps one version, v1.
func (h *handler) createPolicy(c *api.Call) (any, error) {
	policyName, p, desc, err := entityParams(c.Params, "PolicyName", maxPolicyName, true)
	if err != nil {
		return nil, err
	}
	if c.Params.Count("Tags.member") > 0 {
		return nil, invalidInput("Postern does not support tags on managed policies; create the policy without Tags.")
	}
	doc, err := policyParam(c.Params, "PolicyDocument", policy.IdentityPolicy)
	if err != nil {
		return nil, err
	}
	if policySize(doc) > quotaManaged {
		return nil, limitExceeded("Cannot exceed quota for PolicySize: %d", quotaManaged)
	}
	arn := h.arn("policy", p, policyName)
	if err := c.Authorize("iam:CreatePolicy", arn, nil); err != nil {
		return nil, err
	}
	now := h.now()
	mp := store.ManagedPolicy{PolicyID: h.cfg.NewID(awsid.PrefixPolicy), PolicyName: policyName, Path: p, ARN: arn,
		Description: desc, Document: doc, DefaultVersionID: "v1", CreateDate: now, UpdateDate: now}
	if err := h.cfg.Store.CreateManagedPolicy(c.Ctx, mp); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, entityExists("A policy called %s already exists. Duplicate names are not allowed.", policyName)
		}
		return nil, wrap(err, "create policy %s", policyName)
	}
	return struct {
		Policy xmlPolicy `xml:"Policy"`
	}{policyXML(mp)}, nil
}

// managed finds the managed policy named by PolicyArn, authorizing action
// on it first.
func (h *handler) managed(c *api.Call, action string) (store.ManagedPolicy, error) {
	arn, err := policyARNParam(c.Params)
	if err != nil {
		return store.ManagedPolicy{}, err
	}
	if err := c.Authorize(action, arn, nil); err != nil {
		return store.ManagedPolicy{}, err
	}
	p, err := h.cfg.Store.GetManagedPolicy(c.Ctx, arn)
	if errors.Is(err, store.ErrNotFound) {
		return p, noSuchEntity("Policy %s does not exist or is not attachable.", arn)
	}
	return p, wrap(err, "get policy %s", arn)
}

// getPolicy is GetPolicy.
func (h *handler) getPolicy(c *api.Call) (any, error) {
	p, err := h.managed(c, "iam:GetPolicy")
	if err != nil {
		return nil, err
	}
	return struct {
		Policy xmlPolicy `xml:"Policy"`
	}{policyXML(p)}, nil
}

// getPolicyVersion is GetPolicyVersion; only v1 exists.
func (h *handler) getPolicyVersion(c *api.Call) (any, error) {
	v, err := required(c.Params, "VersionId")
	if err != nil {
		return nil, err
	}
	if !versionRe().MatchString(v) {
		return nil, validation(`1 validation error detected: Value '%s' at 'versionId' failed to satisfy constraint: Member must satisfy regular expression pattern: v[1-9][0-9]*(\.[A-Za-z0-9-]*)?`, v)
	}
	p, err := h.managed(c, "iam:GetPolicyVersion")
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

// isAWSManaged reports whether arn is an AWS-managed policy.
func isAWSManaged(arn string) bool { return strings.HasPrefix(arn, "arn:aws:iam::aws:") }

// listPolicies is ListPolicies: Scope (All|AWS|Local), OnlyAttached,
// PathPrefix, Marker, MaxItems.
func (h *handler) listPolicies(c *api.Call) (any, error) {
	prefix, err := pathPrefixParam(c.Params)
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
		return nil, validation("1 validation error detected: Value '%s' at 'onlyAttached' failed to satisfy constraint: Member must be true or false", c.Params.Get("OnlyAttached"))
	}
	if err := c.Authorize("iam:ListPolicies", "*", nil); err != nil {
		return nil, err
	}
	all, err := h.cfg.Store.ListManagedPolicies(c.Ctx, prefix)
	if err != nil {
		return nil, wrap(err, "list policies")
	}
	var ps []store.ManagedPolicy
	for _, p := range all {
		aws := isAWSManaged(p.ARN)
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
	}{Policies: []xmlPolicy{}, page: pageOf(next)}
	for _, p := range ps[start:end] {
		out.Policies = append(out.Policies, policyXML(p))
	}
	return out, nil
}

// deletePolicy is DeletePolicy; an attached policy cannot be deleted.
func (h *handler) deletePolicy(c *api.Call) (any, error) {
	p, err := h.managed(c, "iam:DeletePolicy")
	if err != nil {
		return nil, err
	}
	if isAWSManaged(p.ARN) {
		return nil, invalidInput("Cannot delete an AWS managed policy.")
	}
	if err := h.cfg.Store.DeleteManagedPolicy(c.Ctx, p.ARN); err != nil {
		if errors.Is(err, store.ErrInUse) {
			return nil, deleteConflictPolicy()
		}
		return nil, storeErr(err, "delete policy "+p.ARN, "policy "+p.ARN)
	}
	return nil, nil
}

// attach is Attach{User,Group,Role}Policy: the name parameter, PolicyArn.
func (h *handler) attach(kind store.PrincipalKind) api.ActionFunc { return h.attachment(kind, true) }

// detach is Detach{User,Group,Role}Policy: the name parameter, PolicyArn.
func (h *handler) detach(kind store.PrincipalKind) api.ActionFunc { return h.attachment(kind, false) }

// attachment is Attach{User,Group,Role}Policy (attach true) or
// Detach{User,Group,Role}Policy. The request carries the iam:PolicyARN
// condition key, as in AWS.
func (h *handler) attachment(kind store.PrincipalKind, attach bool) api.ActionFunc {
	verb := "Detach"
	if attach {
		verb = "Attach"
	}
	return func(c *api.Call) (any, error) {
		arn, err := policyARNParam(c.Params)
		if err != nil {
			return nil, err
		}
		extra := policy.Context{}
		extra.Set("iam:PolicyARN", arn)
		owner, _, err := h.owner(c, kind, "iam:"+verb+kinds[kind].action+"Policy", extra)
		if err != nil {
			return nil, err
		}
		if attach {
			return nil, h.attachPolicy(c, kind, owner, arn)
		}
		return nil, h.detachPolicy(c, owner, arn)
	}
}

// attachPolicy attaches the managed policy arn, which must exist, to owner.
func (h *handler) attachPolicy(c *api.Call, kind store.PrincipalKind, owner store.PrincipalRef, arn string) error {
	err := h.cfg.Store.InTx(c.Ctx, func(tx store.Repo) error {
		if _, err := tx.GetManagedPolicy(c.Ctx, arn); errors.Is(err, store.ErrNotFound) {
			return noSuchEntity("Policy %s does not exist or is not attachable.", arn)
		} else if err != nil {
			return err
		}
		return tx.AttachPolicy(c.Ctx, owner, arn)
	})
	if err != nil {
		return storeErr(err, "attach "+arn+" to "+owner.Name, kinds[kind].noun+" with name "+owner.Name)
	}
	return nil
}

// detachPolicy detaches the managed policy arn, which must be attached,
// from owner.
func (h *handler) detachPolicy(c *api.Call, owner store.PrincipalRef, arn string) error {
	if err := h.cfg.Store.DetachPolicy(c.Ctx, owner, arn); errors.Is(err, store.ErrNotFound) {
		return noSuchEntity("Policy %s was not found.", arn)
	} else if err != nil {
		return wrap(err, "detach %s from %s", arn, owner.Name)
	}
	return nil
}

// listAttached is ListAttached{User,Group,Role}Policies: PathPrefix,
// Marker, MaxItems.
func (h *handler) listAttached(kind store.PrincipalKind) api.ActionFunc {
	return func(c *api.Call) (any, error) {
		prefix, err := pathPrefixParam(c.Params)
		if err != nil {
			return nil, err
		}
		owner, _, err := h.owner(c, kind, "iam:ListAttached"+kinds[kind].action+"Policies")
		if err != nil {
			return nil, err
		}
		all, err := h.cfg.Store.ListAttachedPolicies(c.Ctx, owner)
		if err != nil {
			return nil, storeErr(err, "list attached policies of "+owner.Name, kinds[kind].noun+" with name "+owner.Name)
		}
		var ps []store.ManagedPolicy
		for _, p := range all {
			if strings.HasPrefix(p.Path, prefix) {
				ps = append(ps, p)
			}
		}
		start, end, next, err := paginate(c.Params, len(ps))
		if err != nil {
			return nil, err
		}
		out := struct {
			AttachedPolicies []xmlAttached `xml:"AttachedPolicies>member"`
			page
		}{AttachedPolicies: []xmlAttached{}, page: pageOf(next)}
		for _, p := range ps[start:end] {
			out.AttachedPolicies = append(out.AttachedPolicies, xmlAttached{p.PolicyName, p.ARN})
		}
		return out, nil
	}
}
