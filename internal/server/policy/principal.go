package policy

import (
	"encoding/json"
	"slices"
	"strings"
)

// principalSet is a compiled Principal or NotPrincipal element.
type principalSet struct {
	all        bool     // "*" or {"AWS": "*"}: everyone, anonymous included
	accounts   []string // 12-digit ids, from an id or an arn:…:iam::<id>:root ARN
	arns       []string // user, assumed-role session and other principal ARNs, exact
	roles      []roleRef
	ids        []string // AIDA…/AROA… ids of users and roles, as stored policies name them (MapAWSPrincipals)
	services   []string // lower-cased service principal names
	anyService bool
	// federated are "Federated" identity providers (OIDC provider ARNs,
	// or names such as accounts.google.com), exact.
	federated []string
	// CanonicalUser principals are accepted but match no Principal this
	// package can be given.
	others int
}

// roleRef is a role named in a principal element. It matches the role
// itself and every session of the role.
type roleRef struct{ account, name string }

// identity is one of the identities AWS evaluates a caller as: the caller
// itself, for a role session also its role, and its account.
type identity struct {
	kind    identityKind
	arn     string
	account string
	role    string
	// id is the unique id of an IAM user (idARN) or role (idRole) when
	// the caller's Principal has one: such an identity is then matched by
	// id, never by name.
	id string
}

type identityKind uint8

const (
	idAnonymous identityKind = iota
	idARN                    // a user, session or other principal, by exact ARN
	idRole                   // the role behind an assumed-role session
	idAccount                // the account root
	idService                // a service principal
	idFederated              // a web identity user, by its provider
)

// identities returns the identities AWS evaluates p as: for an IAM user
// the user and its account; for an assumed-role session the session, its
// role and its account; for the account root the account; for a service
// the service. A nil p is anonymous.
func identities(p *Principal, buf *[4]identity) []identity {
	out := buf[:0]
	if p != nil && p.Federated != "" {
		return append(out, identity{kind: idFederated, arn: p.Federated})
	}
	if p == nil || (p.ARN == "" && p.Account == "" && p.Service == "") {
		return append(out, identity{kind: idAnonymous})
	}
	if p.Service != "" {
		out = append(out, identity{kind: idService, arn: p.Service})
	}
	acct := p.Account
	if p.ARN != "" {
		seg, ok := arnSegments(p.ARN)
		if ok && acct == "" {
			acct = seg[4]
		}
		switch {
		case ok && seg[2] == "iam" && seg[5] == "root":
			// The account root user is the account.
		case ok && seg[2] == "sts" && strings.HasPrefix(seg[5], "assumed-role/"):
			// The session is named by its ARN, as in IAM; its role by id.
			out = append(out, identity{kind: idARN, arn: p.ARN})
			role, _, _ := strings.Cut(strings.TrimPrefix(seg[5], "assumed-role/"), "/")
			out = append(out, identity{kind: idRole, account: seg[4], role: role, id: p.ID})
		case ok && seg[2] == "iam" && strings.HasPrefix(seg[5], "role/"):
			out = append(out, identity{kind: idRole, account: seg[4], role: roleName(seg[5]), id: p.ID})
		case ok && seg[2] == "iam" && strings.HasPrefix(seg[5], "user/"):
			out = append(out, identity{kind: idARN, arn: p.ARN, id: p.ID})
		default:
			out = append(out, identity{kind: idARN, arn: p.ARN})
		}
	}
	if acct != "" {
		out = append(out, identity{kind: idAccount, account: acct})
	}
	return out
}

// roleName returns the name of a role from the resource part of its ARN,
// "role/<path>/<name>".
func roleName(res string) string {
	return res[strings.LastIndexByte(res, '/')+1:]
}

// covers reports whether the element names identity id.
func (ps *principalSet) covers(id *identity) bool {
	if ps.all {
		return true
	}
	switch id.kind {
	case idARN:
		if id.id != "" {
			return slices.Contains(ps.ids, id.id)
		}
		return slices.Contains(ps.arns, id.arn)
	case idRole:
		if id.id != "" {
			return slices.Contains(ps.ids, id.id)
		}
		for _, r := range ps.roles {
			if r.account == id.account && r.name == id.role {
				return true
			}
		}
	case idAccount:
		return slices.Contains(ps.accounts, id.account)
	case idFederated:
		return slices.Contains(ps.federated, id.arn)
	case idService:
		if ps.anyService {
			return true
		}
		for _, s := range ps.services {
			if strings.EqualFold(s, id.arn) {
				return true
			}
		}
	}
	return false
}

// matches reports whether a Principal element applies to p: it does when
// it names any identity of p. So an account id or its :root ARN matches
// every principal of the account, and a role ARN matches the role's
// sessions.
func (ps *principalSet) matches(p *Principal) bool {
	var buf [4]identity
	for _, id := range identities(p, &buf) {
		if ps.covers(&id) {
			return true
		}
	}
	return false
}

// excludes reports whether a NotPrincipal element exempts p from its
// statement. As AWS documents for NotPrincipal with Deny, it exempts p only
// when it names every identity AWS evaluates p as: a user and its account;
// a session, its role and its account. Naming only the user leaves the
// account (and so the user) subject to the statement; naming only the
// account exempts only the account root.
func (ps *principalSet) excludes(p *Principal) bool {
	var buf [4]identity
	for _, id := range identities(p, &buf) {
		if !ps.covers(&id) {
			return false
		}
	}
	return true
}

// parsePrincipal parses a Principal or NotPrincipal element: "*", or an
// object whose keys are AWS, Service, Federated or CanonicalUser and whose
// values are a string or an array of strings.
func parsePrincipal(raw json.RawMessage) (*principalSet, string) {
	var star string
	if json.Unmarshal(raw, &star) == nil {
		if star == "*" {
			return &principalSet{all: true}, ""
		}
		return nil, "Invalid principal in policy: " + quote(star)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, "Invalid principal in policy"
	}
	if len(m) == 0 {
		return nil, "Invalid principal in policy: no principal given"
	}
	ps := &principalSet{}
	for _, typ := range sortedKeys(m) {
		vals, ok := stringList(m[typ])
		if !ok || len(vals) == 0 {
			return nil, "Invalid principal in policy: " + quote(typ) + " must be a string or an array of strings"
		}
		for _, v := range vals {
			bad := "Invalid principal in policy: " + quote(typ) + ":" + quote(v)
			switch typ {
			case "AWS":
				if !ps.addAWS(v) {
					return nil, bad
				}
			case "Service":
				switch {
				case v == "*":
					ps.anyService = true
				case v == "" || strings.ContainsAny(v, "*? "):
					return nil, bad
				default:
					ps.services = append(ps.services, strings.ToLower(v))
				}
			case "Federated", "CanonicalUser":
				if v == "" {
					return nil, bad
				}
				if v == "*" && typ == "Federated" {
					return nil, bad
				}
				if typ == "Federated" {
					ps.federated = append(ps.federated, v)
				} else {
					ps.others++
				}
			default:
				return nil, "Invalid principal in policy: unknown principal type " + quote(typ)
			}
		}
	}
	return ps, ""
}

// addAWS adds one value of an "AWS" principal: "*", an account id, an
// IAM/STS principal ARN, or the unique id of an IAM user or role (which
// IAM stores in place of the ARN it was given; see MapAWSPrincipals).
// Wildcards inside a value are not allowed.
func (ps *principalSet) addAWS(v string) bool {
	if v == "*" {
		ps.all = true
		return true
	}
	if IsUniqueID(v) {
		ps.ids = append(ps.ids, v)
		return true
	}
	if isAccountID(v) {
		ps.accounts = append(ps.accounts, v)
		return true
	}
	seg, ok := arnSegments(v)
	if !ok || seg[0] != "arn" || seg[1] == "" || seg[3] != "" || !isAccountID(seg[4]) || seg[5] == "" {
		return false
	}
	if strings.ContainsAny(v, "*?") {
		return false
	}
	switch seg[2] {
	case "iam":
		switch {
		case seg[5] == "root":
			ps.accounts = append(ps.accounts, seg[4])
		case strings.HasPrefix(seg[5], "role/") && len(seg[5]) > len("role/"):
			ps.roles = append(ps.roles, roleRef{account: seg[4], name: roleName(seg[5])})
		case strings.HasPrefix(seg[5], "user/") && len(seg[5]) > len("user/"):
			ps.arns = append(ps.arns, v)
		default:
			return false
		}
	case "sts":
		switch {
		case strings.HasPrefix(seg[5], "assumed-role/") && strings.Count(seg[5], "/") >= 2:
			ps.arns = append(ps.arns, v)
		case strings.HasPrefix(seg[5], "federated-user/") && len(seg[5]) > len("federated-user/"):
			ps.arns = append(ps.arns, v)
		default:
			return false
		}
	default:
		return false
	}
	return true
}

// Unique id prefixes of the principals a policy may name by id.
const (
	userIDPrefix = "AIDA"
	roleIDPrefix = "AROA"
)

// IsUniqueID reports whether s has the form of an IAM user's (AIDA…) or
// role's (AROA…) unique id: the prefix and 16 to 128 upper-case letters
// and digits.
func IsUniqueID(s string) bool {
	if len(s) < 20 || len(s) > 132 || (!strings.HasPrefix(s, userIDPrefix) && !strings.HasPrefix(s, roleIDPrefix)) {
		return false
	}
	for i := 4; i < len(s); i++ {
		if (s[i] < 'A' || s[i] > 'Z') && (s[i] < '0' || s[i] > '9') {
			return false
		}
	}
	return true
}

// isAccountID reports whether s is a 12-digit account id.
func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// NamesPrincipal reports whether an Allow statement of the document names
// arn itself in its Principal element (not only its account or "*"). AWS
// lets a role's trust policy that names a same-account caller exactly
// grant sts:AssumeRole on its own; one that trusts the account needs the
// caller's identity policy to allow it too.
func (d *Document) NamesPrincipal(arn string) bool {
	for i := range d.Statements {
		st := &d.Statements[i]
		if st.Effect != Allow || st.notPrinc || st.principals == nil {
			continue
		}
		for _, a := range st.principals.arns {
			if a == arn {
				return true
			}
		}
	}
	return false
}
