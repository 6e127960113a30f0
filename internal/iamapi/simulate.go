package iamapi

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/postern/postern/internal/api"
	"github.com/postern/postern/internal/awsproto"
	"github.com/postern/postern/internal/identity"
	"github.com/postern/postern/internal/policy"
	"github.com/postern/postern/internal/store"
)

type xmlStatement struct {
	SourcePolicyID   string `xml:"SourcePolicyId"`
	SourcePolicyType string `xml:"SourcePolicyType"`
}

type xmlEvaluation struct {
	EvalActionName       string         `xml:"EvalActionName"`
	EvalResourceName     string         `xml:"EvalResourceName"`
	EvalDecision         string         `xml:"EvalDecision"`
	MatchedStatements    []xmlStatement `xml:"MatchedStatements>member"`
	MissingContextValues []string       `xml:"MissingContextValues>member"`
}

// simulatePrincipalPolicy evaluates the identity policies of a user or a
// role (plus PolicyInputList) for each action and resource, with the
// given context entries, and reports the decision and the statements that
// decided it.
func (h *handler) simulatePrincipalPolicy(c *api.Call) (any, error) {
	source, err := required(c.Params, "PolicySourceArn")
	if err != nil {
		return nil, err
	}
	actions := c.Params.List("ActionNames.member")
	if len(actions) == 0 {
		return nil, validation("1 validation error detected: Value null at 'actionNames' failed to satisfy constraint: Member must not be null")
	}
	resources := c.Params.List("ResourceArns.member")
	if len(resources) == 0 {
		resources = []string{"*"}
	}
	if err := c.Authorize("iam:SimulatePrincipalPolicy", source, nil); err != nil {
		return nil, err
	}
	ref, principal, err := h.simulatedPrincipal(c, source)
	if err != nil {
		return nil, err
	}
	sources, err := h.cfg.Authorizer.Sources(c.Ctx, ref)
	if err != nil {
		return nil, err
	}
	for i, doc := range c.Params.List("PolicyInputList.member") {
		d, err := policy.Parse(doc, policy.IdentityPolicy)
		if err != nil {
			return nil, awsproto.Errorf(http.StatusBadRequest, "MalformedPolicyDocument", "%s", err.Error())
		}
		sources = append(sources, policy.Source{Name: fmt.Sprintf("PolicyInputList.%d", i+1), Doc: d})
	}
	ctx := identity.GlobalContext(principal, c.Info, h.cfg.Now())
	for i := 1; ; i++ {
		pre := fmt.Sprintf("ContextEntries.member.%d.", i)
		key := c.Params.Get(pre + "ContextKeyName")
		if key == "" {
			break
		}
		ctx.Set(key, c.Params.List(pre+"ContextKeyValues.member")...)
	}
	out := struct {
		EvaluationResults []xmlEvaluation `xml:"EvaluationResults>member"`
		IsTruncated       bool            `xml:"IsTruncated"`
	}{}
	for _, a := range actions {
		for _, r := range resources {
			dec := policy.Evaluate(sources, policy.Request{Action: a, Resource: r, Context: ctx})
			ev := xmlEvaluation{EvalActionName: a, EvalResourceName: r}
			switch dec.Effect {
			case policy.Allow:
				ev.EvalDecision = "allowed"
			case policy.Deny:
				ev.EvalDecision = "explicitDeny"
			default:
				ev.EvalDecision = "implicitDeny"
			}
			if dec.Matched != nil {
				ev.MatchedStatements = append(ev.MatchedStatements, xmlStatement{SourcePolicyID: dec.Matched.Policy, SourcePolicyType: policyType(dec.Matched.Policy)})
			}
			out.EvaluationResults = append(out.EvaluationResults, ev)
		}
	}
	return out, nil
}

func policyType(source string) string {
	switch {
	case strings.HasPrefix(source, "arn:aws:iam::aws:"):
		return "aws-managed"
	case strings.HasPrefix(source, "arn:"):
		return "user-managed"
	case strings.HasPrefix(source, "PolicyInputList"):
		return "IAM Policy"
	case strings.HasPrefix(source, "group/"):
		return "group"
	case strings.HasPrefix(source, "role/"):
		return "role"
	}
	return "user"
}

// simulatedPrincipal resolves PolicySourceArn to the identity whose
// policies apply and a principal for the global condition keys.
func (h *handler) simulatedPrincipal(c *api.Call, arn string) (store.PrincipalRef, *identity.Principal, error) {
	prefix := "arn:aws:iam::" + h.cfg.AccountID + ":"
	rest, ok := strings.CutPrefix(arn, prefix)
	if !ok {
		return store.PrincipalRef{}, nil, awsproto.Errorf(http.StatusBadRequest, "InvalidInput", "Invalid ARN: %s", arn)
	}
	name := rest[strings.LastIndexByte(rest, '/')+1:]
	switch {
	case strings.HasPrefix(rest, "user/"):
		u, err := h.cfg.Store.GetUser(c.Ctx, name)
		if err != nil {
			return store.PrincipalRef{}, nil, storeErr(err, "user with name "+name)
		}
		return store.PrincipalRef{Kind: store.KindUser, Name: u.UserName},
			&identity.Principal{Type: identity.TypeIAMUser, AccountID: h.cfg.AccountID, ARN: u.ARN, PrincipalID: u.UserID, UserName: u.UserName}, nil
	case strings.HasPrefix(rest, "role/"):
		r, err := h.cfg.Store.GetRole(c.Ctx, name)
		if err != nil {
			return store.PrincipalRef{}, nil, storeErr(err, "role with name "+name)
		}
		return store.PrincipalRef{Kind: store.KindRole, Name: r.RoleName},
			&identity.Principal{Type: identity.TypeAssumedRole, AccountID: h.cfg.AccountID, ARN: r.ARN, RoleARN: r.ARN, PrincipalID: r.RoleID, UserName: r.RoleName}, nil
	case strings.HasPrefix(rest, "group/"):
		g, err := h.cfg.Store.GetGroup(c.Ctx, name)
		if err != nil {
			return store.PrincipalRef{}, nil, storeErr(err, "group with name "+name)
		}
		return store.PrincipalRef{Kind: store.KindGroup, Name: g.GroupName},
			&identity.Principal{Type: identity.TypeIAMUser, AccountID: h.cfg.AccountID, ARN: g.ARN}, nil
	}
	return store.PrincipalRef{}, nil, awsproto.Errorf(http.StatusBadRequest, "InvalidInput", "PolicySourceArn %s must be a user, group or role.", arn)
}
