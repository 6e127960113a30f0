// Package policy evaluates IAM policy documents with AWS's semantics:
// default deny, an explicit Deny beats any Allow, Action/NotAction,
// Resource/NotResource, Principal/NotPrincipal (for trust policies),
// wildcards, policy variables and condition operators with their
// IfExists suffix and ForAnyValue/ForAllValues qualifiers.
//
// The package is pure: it parses and decides, with no I/O. Callers gather
// the policies that apply to a principal and the request context.
//
// Parse validates a document and compiles it: wildcard patterns, policy
// variables and condition values (numbers, dates, CIDRs, base64) are
// prepared once, so Evaluate does no parsing of the policy and allocates
// at most the Match it reports. A parsed *Document is immutable and safe
// for concurrent use.
//
// Semantics, following the IAM User Guide:
//
//   - Actions match case-insensitively, resources case-sensitively, both
//     with * and ? over the whole string. Arn* condition operators match
//     each of an ARN's six components separately.
//   - A condition key absent from the Context (or present with no values)
//     makes positive operators false and negated ones (StringNotEquals,
//     NotIpAddress, ArnNotLike, …) true; ...IfExists makes the clause true;
//     ForAllValues is true and ForAnyValue false; Null tests for it.
//   - Several values for one key are ORed; a negated operator means "equal
//     to none of them". Several keys and several operators are ANDed.
//   - Policy variables (Version 2012-10-17 only) are substituted in
//     Resource/NotResource and in String and Arn condition values. A
//     variable whose key is absent or multivalued, without a default,
//     matches nothing: the resource does not match, positive operators are
//     false and negated ones true. Substituted text is always literal.
//   - In resource policies a Principal names a caller when it names the
//     caller, its role (for a role session) or its account; NotPrincipal
//     exempts a caller only when it names all of them, as AWS documents
//     for NotPrincipal with Deny. A stored policy names IAM users and
//     roles by unique id (AIDA…, AROA…; MapAWSPrincipals rewrites them),
//     and a caller with Principal.ID is matched to them by id only.
package policy

import (
	"iter"
	"strconv"
	"strings"
)

// Kind says which kind of policy a document is, and so which elements it
// may hold.
type Kind int

const (
	// IdentityPolicy is a policy attached to a user, group or role. It
	// must not have Principal or NotPrincipal, and every statement needs
	// Resource or NotResource.
	IdentityPolicy Kind = iota + 1
	// ResourcePolicy is a resource-based policy such as a role's trust
	// policy. Every statement needs Principal or NotPrincipal; Resource
	// may be omitted, and then the statement applies to any resource.
	ResourcePolicy
)

// String returns the kind's name.
func (k Kind) String() string {
	switch k {
	case IdentityPolicy:
		return "IdentityPolicy"
	case ResourcePolicy:
		return "ResourcePolicy"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Policy language versions.
const (
	// Version2012 is the current policy language; it supports policy
	// variables.
	Version2012 = "2012-10-17"
	// Version2008 is the original policy language; ${...} is literal text.
	// A document without a Version element has these semantics.
	Version2008 = "2008-10-17"
)

// MaxDocumentSize is the largest document Parse accepts, in bytes. IAM's
// own per-entity quotas (2048 to 10240 characters) are smaller and are the
// caller's to enforce.
const MaxDocumentSize = 131072

// ParseError is the error Parse returns for a document that is not a valid
// policy. Msg names the problem in words fit for AWS's
// MalformedPolicyDocument error, such as
// `Statement 2: unknown condition operator "StringEqualz"`; statements are
// numbered from 1 in messages.
type ParseError struct{ Msg string }

// Error returns Msg.
func (e *ParseError) Error() string { return e.Msg }

// Document is a parsed, validated and compiled policy document.
type Document struct {
	// Version is the Version element as written: "2012-10-17",
	// "2008-10-17", or "" when absent (which has 2008 semantics).
	Version string
	// ID is the optional Id element.
	ID string
	// Kind is the kind the document was parsed as.
	Kind Kind
	// Statements are the statements in document order.
	Statements []Statement
}

// Statement is one statement of a Document. The exported fields describe
// it as written; matching uses forms compiled by Parse, so a Statement is
// only meaningful as part of a Document returned by Parse.
type Statement struct {
	// Sid is the optional statement id.
	Sid string
	// Effect is Allow or Deny.
	Effect Effect
	// Action and NotAction are the action patterns as written; exactly
	// one of them is non-empty.
	Action, NotAction []string
	// Resource and NotResource are the resource patterns as written; in a
	// ResourcePolicy both may be empty.
	Resource, NotResource []string
	// Conditions lists the Condition element, one entry per operator and
	// key, sorted by operator then key.
	Conditions []Condition

	actions     []pattern
	notAction   bool
	resources   []pattern
	notResource bool
	anyResource bool // ResourcePolicy statement without Resource/NotResource
	principals  *principalSet
	notPrinc    bool
	clauses     []clause
}

// Condition is one operator/key pair of a statement's Condition element,
// as written.
type Condition struct {
	// Operator is the condition operator with any qualifier and suffix,
	// e.g. "ForAnyValue:StringLikeIfExists".
	Operator string
	// Key is the condition key as written, e.g. "aws:SourceIp".
	Key string
	// Values are the condition values as text (JSON numbers and booleans
	// in their literal form).
	Values []string
}

// Source is one policy that applies to a request, with a name that the
// decision reports (for example "user/alice:inline/p", or a managed policy
// ARN).
type Source struct {
	// Name identifies the policy in a Match.
	Name string
	// Doc is the parsed policy; a nil Doc is skipped.
	Doc *Document
}

// Principal identifies the caller, for Principal/NotPrincipal matching in
// resource (trust) policies.
type Principal struct {
	// ARN is the caller's ARN, e.g. arn:aws:iam::123456789012:user/alice
	// or arn:aws:sts::123456789012:assumed-role/r/s.
	ARN string
	// Account is the caller's 12-digit account id; when empty it is taken
	// from ARN.
	Account string
	// Service is set for service principals, e.g. ec2.amazonaws.com;
	// usually "".
	Service string
	// ID is the caller's IAM unique id: AIDA… for an IAM user, the role's
	// AROA… for a role session. When it is set, an IAM user or role named
	// in a Principal element matches the caller only by unique id, as IAM
	// stores them (MapAWSPrincipals): an ARN of a user or role left in a
	// stored policy named no existing identity when the policy was saved,
	// so it matches nobody, not whoever has that name now. Session ARNs
	// and accounts still match by ARN and id. Empty: by ARN, as written.
	ID string
	// Federated is set for a web identity user (AssumeRoleWithWebIdentity):
	// the ARN of the IAM OIDC provider that admitted the token. Such a
	// caller is only that provider: a "Federated" principal naming it, or
	// "*", matches it; ARN, Account and Service are then ignored.
	Federated string
}

// Request is what is being decided: who does what to which resource, in
// which context.
type Request struct {
	// Action is the action, e.g. "iam:GetUser"; matched case-insensitively.
	Action string
	// Resource is the resource ARN, or "*" for actions without
	// resource-level permissions; matched case-sensitively.
	Resource string
	// Principal is the caller; it is needed to evaluate resource policies.
	// nil means an anonymous caller, which only "*" principals match.
	Principal *Principal
	// Context holds the condition keys, which policy variables also read.
	Context Context
}

// Context holds request condition keys. Keys are case-insensitive: Set
// stores them lower-cased. A key may have several values (multivalued keys
// such as aws:TagKeys); a key with no values is treated as absent.
type Context map[string][]string

// Set sets key to values, replacing what key had.
func (c Context) Set(key string, values ...string) {
	c[strings.ToLower(key)] = values
}

// Get returns the values of key, matched case-insensitively, and whether
// the key is present.
func (c Context) Get(key string) ([]string, bool) {
	if v, ok := c[key]; ok {
		return v, true
	}
	if v, ok := c[strings.ToLower(key)]; ok {
		return v, true
	}
	for k, v := range c {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}

// lookup returns the values of key, which is already lower-case. It falls
// back to a case-insensitive scan so that a Context filled by assigning to
// the map directly still works.
func (c Context) lookup(key string) []string {
	if v, ok := c[key]; ok {
		return v
	}
	for k, v := range c {
		if len(k) == len(key) && strings.EqualFold(k, key) {
			return v
		}
	}
	return nil
}

// Effect is the outcome of a statement or of a decision.
type Effect string

// Effects.
const (
	// Allow is an allowing statement, or a request some statement allows
	// and none denies.
	Allow Effect = "Allow"
	// Deny is a denying statement, or a request some statement explicitly
	// denies.
	Deny Effect = "Deny"
	// ImplicitDeny is the decision when no statement applies.
	ImplicitDeny Effect = "ImplicitDeny"
)

// Decision is the result of Evaluate.
type Decision struct {
	// Effect is Allow, Deny (an explicit deny) or ImplicitDeny.
	Effect Effect
	// Allowed is Effect == Allow.
	Allowed bool
	// Matched is the statement that decided: for Deny the first matching
	// Deny statement, for Allow the first matching Allow statement (in
	// policy order, then statement order); nil for ImplicitDeny.
	Matched *Match
}

// String describes the decision for logs, e.g.
// `Deny by arn:aws:iam::123456789012:policy/p statement 1 (DenyAll)`.
func (d Decision) String() string {
	if d.Matched == nil {
		return string(d.Effect)
	}
	return string(d.Effect) + " by " + d.Matched.String()
}

// Match names one statement of one policy.
type Match struct {
	// Policy is the Source's Name.
	Policy string
	// Sid is the statement's Sid, possibly "".
	Sid string
	// Index is the 0-based index of the statement in the document.
	Index int
	// Effect is the statement's effect.
	Effect Effect
}

// String names the statement, e.g. `user/alice:inline/p statement 0 (S1)`.
func (m *Match) String() string {
	s := m.Policy + " statement " + strconv.Itoa(m.Index)
	if m.Sid != "" {
		s += " (" + m.Sid + ")"
	}
	return s
}

// Evaluate applies AWS's evaluation logic to the given policies: a
// request is denied by default; any matching Deny statement denies it;
// otherwise any matching Allow statement allows it; otherwise it is
// implicitly denied. A statement matches when its action, resource and
// condition match and, in a ResourcePolicy document, its Principal or
// NotPrincipal matches req.Principal.
func Evaluate(policies []Source, req Request) Decision {
	allowP, allowS := -1, -1
	for at, st := range statements(policies) {
		if st.Effect == Allow && allowP >= 0 {
			continue // already allowed; only a Deny can change that
		}
		if !st.applies(at.kind, &req) {
			continue
		}
		if st.Effect == Deny {
			return Decision{Effect: Deny, Matched: &Match{Policy: policies[at.policy].Name, Sid: st.Sid, Index: at.index, Effect: Deny}}
		}
		allowP, allowS = at.policy, at.index
	}
	if allowP < 0 {
		return Decision{Effect: ImplicitDeny}
	}
	st := &policies[allowP].Doc.Statements[allowS]
	return Decision{Effect: Allow, Allowed: true, Matched: &Match{Policy: policies[allowP].Name, Sid: st.Sid, Index: allowS, Effect: Allow}}
}

// ReadsContext reports whether evaluating policies can read a request's
// Context: whether one of their statements has a Condition or a policy
// variable in its Resource or NotResource (actions and principals never
// read it). Evaluate and Matches decide a request the same whatever its
// Context holds when it reports false, so a caller may then leave the
// Context unbuilt.
func ReadsContext(policies []Source) bool {
	for _, st := range statements(policies) {
		if len(st.clauses) > 0 {
			return true
		}
		for i := range st.resources {
			if st.resources[i].vars {
				return true
			}
		}
	}
	return false
}

// statementAt places a statement: its policy's index in the list, its
// own index in that policy, and the policy's kind.
type statementAt struct {
	policy, index int
	kind          Kind
}

// statements yields every statement of policies, in policy then statement
// order; a policy without a document has none.
func statements(policies []Source) iter.Seq2[statementAt, *Statement] {
	return func(yield func(statementAt, *Statement) bool) {
		for pi := range policies {
			doc := policies[pi].Doc
			if doc == nil {
				continue
			}
			for si := range doc.Statements {
				if !yield(statementAt{policy: pi, index: si, kind: doc.Kind}, &doc.Statements[si]) {
					return
				}
			}
		}
	}
}

// Matches returns every statement of the given policies that applies to
// req, Allow and Deny alike, in policy then statement order. It is for
// explaining decisions (a policy simulator); Evaluate is the decision.
func Matches(policies []Source, req Request) []Match {
	var out []Match
	for at, st := range statements(policies) {
		if st.applies(at.kind, &req) {
			out = append(out, Match{Policy: policies[at.policy].Name, Sid: st.Sid, Index: at.index, Effect: st.Effect})
		}
	}
	return out
}

// applies reports whether the statement matches req: action, resource,
// principal (resource policies only), then conditions, cheapest first.
func (st *Statement) applies(kind Kind, req *Request) bool {
	if st.Effect != Allow && st.Effect != Deny {
		return false
	}
	if !st.matchAction(req.Action) {
		return false
	}
	if !st.matchResource(req.Resource, req.Context) {
		return false
	}
	if kind == ResourcePolicy {
		if st.principals == nil {
			return false
		}
		if st.notPrinc {
			if st.principals.excludes(req.Principal) {
				return false
			}
		} else if !st.principals.matches(req.Principal) {
			return false
		}
	}
	for i := range st.clauses {
		if !st.clauses[i].eval(req.Context) {
			return false
		}
	}
	return true
}

// matchAction reports whether action satisfies Action or NotAction.
func (st *Statement) matchAction(action string) bool {
	if len(st.actions) == 0 {
		return false
	}
	return matchAny(st.actions, action, nil, true) != st.notAction
}

// matchResource reports whether resource satisfies Resource or
// NotResource. A pattern whose variable has no value matches nothing, so
// under NotResource it excludes nothing.
func (st *Statement) matchResource(resource string, ctx Context) bool {
	if st.anyResource {
		return true
	}
	if len(st.resources) == 0 {
		return false
	}
	return matchAny(st.resources, resource, ctx, false) != st.notResource
}

// matchAny reports whether s matches one of pats (pattern.match with ctx
// and fold).
func matchAny(pats []pattern, s string, ctx Context, fold bool) bool {
	for i := range pats {
		if pats[i].match(s, ctx, fold) {
			return true
		}
	}
	return false
}
