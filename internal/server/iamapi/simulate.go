package iamapi

import (
	"encoding/json"
	"path"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/postern/postern/internal/server/api"
	"github.com/postern/postern/internal/server/identity"
	"github.com/postern/postern/internal/server/policy"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/wire/awsproto"
)

// xmlPosition is a Position: 1-based line and column in a policy
// document.
type xmlPosition struct {
	Line   int `xml:"Line"`
	Column int `xml:"Column"`
}

// xmlStatement is a Statement of a simulation: the policy it is in and
// where it starts and ends (its braces, inclusive).
type xmlStatement struct {
	SourcePolicyID   string       `xml:"SourcePolicyId"`
	SourcePolicyType string       `xml:"SourcePolicyType"`
	StartPosition    *xmlPosition `xml:"StartPosition,omitempty"`
	EndPosition      *xmlPosition `xml:"EndPosition,omitempty"`
}

// xmlEvaluation is an EvaluationResult.
type xmlEvaluation struct {
	EvalActionName       string         `xml:"EvalActionName"`
	EvalResourceName     string         `xml:"EvalResourceName"`
	EvalDecision         string         `xml:"EvalDecision"`
	MatchedStatements    []xmlStatement `xml:"MatchedStatements>member"`
	MissingContextValues []string       `xml:"MissingContextValues>member"`
}

// simSource is one policy of a simulation with what the result reports
// about it.
type simSource struct {
	id    string // SourcePolicyId: the policy's name, or PolicyInputList.N
	typ   string // SourcePolicyType: user, group, role, aws-managed, user-managed, IAM Policy
	doc   *policy.Document
	spans [][2]int // byte offsets of each statement's braces
	text  string
}

// contextKeyTypes are the values of ContextKeyType.
var contextKeyTypes = map[string]bool{
	"string": true, "stringList": true, "numeric": true, "numericList": true, "boolean": true, "booleanList": true,
	"ip": true, "ipList": true, "binary": true, "binaryList": true, "date": true, "dateList": true,
}

// simulatePrincipalPolicy is SimulatePrincipalPolicy: it evaluates the
// identity policies of a user, group or role (PolicySourceArn), plus
// PolicyInputList, for each of ActionNames and ResourceArns (default
// "*"), with ContextEntries, and reports each decision with the
// statements that made it.
func (h *handler) simulatePrincipalPolicy(c *api.Call) (any, error) {
	source, err := required(c.Params, "PolicySourceArn")
	if err != nil {
		return nil, err
	}
	if len(source) < 20 || len(source) > 2048 {
		return nil, invalidInput("Invalid ARN: %s", source)
	}
	actions := c.Params.List("ActionNames.member")
	if len(actions) == 0 {
		return nil, validation("1 validation error detected: Value null at 'actionNames' failed to satisfy constraint: Member must not be null")
	}
	resources := c.Params.List("ResourceArns.member")
	if len(resources) == 0 {
		resources = []string{"*"}
	}
	for _, p := range []string{"ResourcePolicy", "ResourceOwner", "CallerArn", "PermissionsBoundaryPolicyInputList.member.1"} {
		if c.Params.Get(p) != "" {
			return nil, invalidInput("Postern's policy simulator does not support %s; it evaluates identity policies only.", p)
		}
	}
	entries, err := contextEntries(c.Params)
	if err != nil {
		return nil, err
	}
	var inputs []simSource
	for i, doc := range c.Params.List("PolicyInputList.member") {
		if err := checkPolicy(doc, policy.IdentityPolicy); err != nil {
			return nil, err
		}
		d, err := h.cfg.Authorizer.Parse(doc, policy.IdentityPolicy)
		if err != nil {
			return nil, wrap(err, "parse PolicyInputList.%d", i+1)
		}
		inputs = append(inputs, simSource{id: "PolicyInputList." + strconv.Itoa(i+1), typ: "IAM Policy", doc: d, text: doc})
	}
	if err := c.Authorize("iam:SimulatePrincipalPolicy", source, nil); err != nil {
		return nil, err
	}
	ref, principal, err := h.simulatedPrincipal(c, source)
	if err != nil {
		return nil, err
	}
	srcs, err := h.simulationSources(c, ref)
	if err != nil {
		return nil, err
	}
	srcs = append(srcs, inputs...)
	sources := make([]policy.Source, len(srcs))
	for i := range srcs {
		sources[i] = policy.Source{Name: strconv.Itoa(i), Doc: srcs[i].doc}
		srcs[i].spans = statementSpans(srcs[i].text)
	}

	ctx := identity.GlobalContext(principal, c.Info, h.cfg.Now())
	for k, v := range entries {
		ctx.Set(k, v...)
	}
	var results []xmlEvaluation
	for _, a := range actions {
		missing := missingContextKeys(srcs, a, ctx)
		for _, r := range resources {
			req := policy.Request{Action: a, Resource: r, Context: ctx}
			dec := policy.Evaluate(sources, req)
			ev := xmlEvaluation{EvalActionName: a, EvalResourceName: r, MissingContextValues: missing}
			switch dec.Effect {
			case policy.Allow:
				ev.EvalDecision = "allowed"
			case policy.Deny:
				ev.EvalDecision = "explicitDeny"
			default:
				ev.EvalDecision = "implicitDeny"
			}
			if dec.Effect != policy.ImplicitDeny {
				for _, m := range policy.Matches(sources, req) {
					if m.Effect == dec.Effect {
						ev.MatchedStatements = append(ev.MatchedStatements, statementXML(srcs, m))
					}
				}
			}
			results = append(results, ev)
		}
	}
	start, end, next, err := paginate(c.Params, len(results))
	if err != nil {
		return nil, err
	}
	return struct {
		EvaluationResults []xmlEvaluation `xml:"EvaluationResults>member"`
		page
	}{results[start:end], pageOf(next)}, nil
}

// contextEntries reads ContextEntries.member.N.{ContextKeyName,
// ContextKeyValues.member.M, ContextKeyType}.
func contextEntries(p awsproto.Params) (map[string][]string, error) {
	out := map[string][]string{}
	n := p.Count("ContextEntries.member")
	for i := 1; i <= n; i++ {
		pre := "ContextEntries.member." + strconv.Itoa(i) + "."
		key := p.Get(pre + "ContextKeyName")
		if key == "" {
			return nil, validation("1 validation error detected: Value null at 'contextEntries.%d.member.contextKeyName' failed to satisfy constraint: Member must not be null", i)
		}
		if len(key) < 5 || len(key) > 256 {
			return nil, validation("1 validation error detected: Value '%s' at 'contextEntries.%d.member.contextKeyName' failed to satisfy constraint: Member must have length between 5 and 256", key, i)
		}
		if t := p.Get(pre + "ContextKeyType"); t != "" && !contextKeyTypes[t] {
			return nil, validation("1 validation error detected: Value '%s' at 'contextEntries.%d.member.contextKeyType' failed to satisfy constraint: Member must satisfy enum value set: [string, stringList, numeric, numericList, boolean, booleanList, ip, ipList, binary, binaryList, date, dateList]", t, i)
		}
		out[key] = append(out[key], p.List(pre+"ContextKeyValues.member")...)
	}
	return out, nil
}

// statementXML describes a matched statement.
func statementXML(srcs []simSource, m policy.Match) xmlStatement {
	i, _ := strconv.Atoi(m.Policy)
	s := srcs[i]
	st := xmlStatement{SourcePolicyID: s.id, SourcePolicyType: s.typ}
	if m.Index < len(s.spans) {
		sp := s.spans[m.Index]
		st.StartPosition, st.EndPosition = position(s.text, sp[0]), position(s.text, sp[1])
	}
	return st
}

// simulationSources gathers the identity policies of ref with their text:
// its inline and attached policies and, for a user, its groups'.
func (h *handler) simulationSources(c *api.Call, ref store.PrincipalRef) ([]simSource, error) {
	var out []simSource
	add := func(owner store.PrincipalRef) error {
		inline, err := h.cfg.Store.ListInlinePolicies(c.Ctx, owner)
		if err != nil {
			return wrap(err, "inline policies of %s %s", owner.Kind, owner.Name)
		}
		for _, p := range inline {
			d, err := h.cfg.Authorizer.Parse(p.Document, policy.IdentityPolicy)
			if err != nil {
				return wrap(err, "stored policy %s of %s %s", p.PolicyName, owner.Kind, owner.Name)
			}
			out = append(out, simSource{id: p.PolicyName, typ: string(owner.Kind), doc: d, text: p.Document})
		}
		attached, err := h.cfg.Store.ListAttachedPolicies(c.Ctx, owner)
		if err != nil {
			return wrap(err, "attached policies of %s %s", owner.Kind, owner.Name)
		}
		for _, p := range attached {
			d, err := h.cfg.Authorizer.Parse(p.Document, policy.IdentityPolicy)
			if err != nil {
				return wrap(err, "stored policy %s", p.ARN)
			}
			typ := "user-managed"
			if isAWSManaged(p.ARN) {
				typ = "aws-managed"
			}
			out = append(out, simSource{id: p.PolicyName, typ: typ, doc: d, text: p.Document})
		}
		return nil
	}
	if err := add(ref); err != nil {
		return nil, err
	}
	if ref.Kind == store.KindUser {
		groups, err := h.cfg.Store.ListGroupsForUser(c.Ctx, ref.Name)
		if err != nil {
			return nil, wrap(err, "groups of %s", ref.Name)
		}
		for _, g := range groups {
			if err := add(store.PrincipalRef{Kind: store.KindGroup, Name: g.GroupName}); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// simulatedPrincipal resolves PolicySourceArn to the identity whose
// policies apply and a principal for the global condition keys
// (aws:username and the like).
func (h *handler) simulatedPrincipal(c *api.Call, arn string) (store.PrincipalRef, *identity.Principal, error) {
	rest, ok := strings.CutPrefix(arn, "arn:aws:iam::"+h.cfg.AccountID+":")
	if !ok {
		return store.PrincipalRef{}, nil, invalidInput("Invalid ARN: %s", arn)
	}
	n := rest[strings.LastIndexByte(rest, '/')+1:]
	switch {
	case strings.HasPrefix(rest, "user/"):
		u, err := h.cfg.Store.GetUser(c.Ctx, n)
		if err != nil || u.ARN != arn {
			return store.PrincipalRef{}, nil, notFoundOr(err, "user with name "+n)
		}
		return store.PrincipalRef{Kind: store.KindUser, Name: u.UserName},
			&identity.Principal{Type: identity.TypeIAMUser, AccountID: h.cfg.AccountID, ARN: u.ARN, PrincipalID: u.UserID, UserName: u.UserName}, nil
	case strings.HasPrefix(rest, "role/"):
		r, err := h.cfg.Store.GetRole(c.Ctx, n)
		if err != nil || r.ARN != arn {
			return store.PrincipalRef{}, nil, notFoundOr(err, "role with name "+n)
		}
		return store.PrincipalRef{Kind: store.KindRole, Name: r.RoleName},
			&identity.Principal{Type: identity.TypeAssumedRole, AccountID: h.cfg.AccountID, ARN: r.ARN, RoleARN: r.ARN, RoleID: r.RoleID, PrincipalID: r.RoleID, UserName: r.RoleName}, nil
	case strings.HasPrefix(rest, "group/"):
		g, err := h.cfg.Store.GetGroup(c.Ctx, n)
		if err != nil || g.ARN != arn {
			return store.PrincipalRef{}, nil, notFoundOr(err, "group with name "+n)
		}
		return store.PrincipalRef{Kind: store.KindGroup, Name: g.GroupName},
			&identity.Principal{Type: identity.TypeIAMUser, AccountID: h.cfg.AccountID, ARN: g.ARN, PrincipalID: g.GroupID}, nil
	}
	return store.PrincipalRef{}, nil, invalidInput("PolicySourceArn %s must be the ARN of a user, group or role.", arn)
}

// notFoundOr maps a failed lookup (or a found entity whose ARN's path
// differs) to NoSuchEntity.
func notFoundOr(err error, what string) error {
	if err == nil {
		return noSuchEntity("The %s cannot be found.", what)
	}
	return storeErr(err, "get "+what, what)
}

// missingContextKeys lists the condition keys that statements applying to
// action use but ctx lacks, as MissingContextValues reports them.
func missingContextKeys(srcs []simSource, action string, ctx policy.Context) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range srcs {
		for _, st := range s.doc.Statements {
			if !actionMatches(st, action) {
				continue
			}
			for _, cond := range st.Conditions {
				k := strings.ToLower(cond.Key)
				if seen[k] {
					continue
				}
				if _, ok := ctx.Get(cond.Key); !ok {
					seen[k] = true
					out = append(out, cond.Key)
				}
			}
		}
	}
	return out
}

// actionMatches reports whether a statement's Action or NotAction covers
// action (case-insensitive, with * and ?).
func actionMatches(st policy.Statement, action string) bool {
	a := strings.ToLower(action)
	match := func(pats []string) bool {
		for _, p := range pats {
			if ok, err := path.Match(strings.ToLower(p), a); err == nil && ok {
				return true
			}
		}
		return false
	}
	if len(st.NotAction) > 0 {
		return !match(st.NotAction)
	}
	return match(st.Action)
}

// statementSpans returns the byte offsets of the opening and closing
// brace of each statement of a policy document, in order; nil when the
// document cannot be scanned.
func statementSpans(doc string) [][2]int {
	dec := json.NewDecoder(strings.NewReader(doc))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		before := int(dec.InputOffset())
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil
		}
		if key, _ := tok.(string); key != "Statement" {
			continue
		}
		start := skipSeparators(doc, before)
		end := int(dec.InputOffset())
		value := doc[start:end]
		switch {
		case strings.HasPrefix(value, "{"):
			return [][2]int{{start, end - 1}}
		case !strings.HasPrefix(value, "["):
			return nil
		}
		inner := json.NewDecoder(strings.NewReader(value))
		if _, err := inner.Token(); err != nil {
			return nil
		}
		var out [][2]int
		for inner.More() {
			b := int(inner.InputOffset())
			var el json.RawMessage
			if err := inner.Decode(&el); err != nil {
				return nil
			}
			out = append(out, [2]int{start + skipSeparators(value, b), start + int(inner.InputOffset()) - 1})
		}
		return out
	}
	return nil
}

// skipSeparators returns the offset of the first byte at or after i that
// is not JSON white space, ':' or ','.
func skipSeparators(s string, i int) int {
	for i < len(s) && strings.IndexByte(" \t\r\n:,", s[i]) >= 0 {
		i++
	}
	return i
}

// position converts a byte offset of s to a 1-based line and column
// (counted in characters).
func position(s string, off int) *xmlPosition {
	before := s[:off]
	line := strings.Count(before, "\n") + 1
	col := utf8.RuneCountInString(before[strings.LastIndexByte(before, '\n')+1:]) + 1
	return &xmlPosition{Line: line, Column: col}
}
