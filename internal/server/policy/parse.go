package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/postern/postern/internal/wire/jsonkeys"
)

// Messages AWS returns, word for word, in MalformedPolicyDocument.
const (
	msgSyntax          = "Syntax errors in policy."
	msgHasPrincipal    = "Policy document should not specify a principal."
	msgNoEffect        = "Missing required field Effect"
	msgNoPrincipal     = "Missing required field Principal"
	msgNoActions       = "Policy statement must contain actions."
	msgNoResources     = "Policy statement must contain resources."
	msgVendor          = "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
	msgSidAlnum        = "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression [0-9A-Za-z]*"
	msgSidUnique       = "Statement IDs (SID) in a single policy must be unique."
	msgLegacyVersion   = "The policy failed legacy parsing"
	msgMissingStmt     = "Missing required field Statement"
	msgDocumentTooLong = "Policy document exceeds the maximum size of 131072 bytes"
)

// Parse validates and parses a policy document. kind says which elements
// are allowed: an IdentityPolicy must not have Principal or NotPrincipal
// and needs Resource or NotResource in every statement; a ResourcePolicy
// (such as a role trust policy) needs Principal or NotPrincipal in every
// statement. Errors are *ParseError.
//
// Beyond that, Parse checks what IAM checks when a policy is put: only the
// elements Version, Id and Statement at the top and the known statement
// elements; Version "2012-10-17" or "2008-10-17" (absent means 2008, where
// policy variables are literal text); Effect Allow or Deny; alphanumeric,
// unique Sids; actions of the form service:action or "*"; resources that
// are "*" or ARNs; known condition operators; and numeric, date, IP,
// base64 and Null values that parse. A JSON object that names a member
// twice, at any depth, is refused: encoding/json would keep the last one,
// so {"Effect":"Deny",…,"Effect":"Allow"} would silently mean Allow.
func Parse(doc string, kind Kind) (*Document, error) {
	d, msg := parse(doc, kind)
	if msg != "" {
		return nil, &ParseError{Msg: msg}
	}
	return d, nil
}

func parse(doc string, kind Kind) (*Document, string) {
	if kind != IdentityPolicy && kind != ResourcePolicy {
		return nil, "unknown policy kind " + kind.String()
	}
	if len(doc) > MaxDocumentSize {
		return nil, msgDocumentTooLong
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal([]byte(doc), &top); err != nil || top == nil {
		return nil, msgSyntax
	}
	var dup *jsonkeys.DuplicateError
	if err := jsonkeys.Check([]byte(doc), false); errors.As(err, &dup) {
		return nil, msgSyntax + " The key " + quote(dup.Key) + " appears more than once in one object."
	} else if err != nil {
		return nil, msgSyntax
	}
	for _, k := range sortedKeys(top) {
		switch k {
		case "Version", "Id", "Statement":
		default:
			return nil, "Unknown field " + k
		}
	}
	d := &Document{Kind: kind}
	if raw, ok := top["Version"]; ok {
		if err := json.Unmarshal(raw, &d.Version); err != nil {
			return nil, msgSyntax
		}
		if d.Version != Version2012 && d.Version != Version2008 {
			return nil, msgLegacyVersion + ": unsupported Version " + quote(d.Version)
		}
	}
	if raw, ok := top["Id"]; ok {
		if err := json.Unmarshal(raw, &d.ID); err != nil {
			return nil, "Id must be a string"
		}
	}
	raw, ok := top["Statement"]
	if !ok {
		return nil, msgMissingStmt
	}
	var stmts []json.RawMessage
	switch firstByte(raw) {
	case '[':
		if err := json.Unmarshal(raw, &stmts); err != nil {
			return nil, msgSyntax
		}
	case '{':
		stmts = []json.RawMessage{raw}
	default:
		return nil, "Statement must be an object or an array of objects"
	}
	variables := d.Version == Version2012
	d.Statements = make([]Statement, 0, len(stmts))
	sids := map[string]bool{}
	for i, raw := range stmts {
		st, msg := parseStatement(raw, kind, variables, i+1)
		if msg != "" {
			return nil, msg
		}
		if st.Sid != "" {
			if sids[st.Sid] {
				return nil, msgSidUnique
			}
			sids[st.Sid] = true
		}
		d.Statements = append(d.Statements, st)
	}
	return d, ""
}

// parseStatement parses statement number n (from 1, for messages).
func parseStatement(raw json.RawMessage, kind Kind, variables bool, n int) (Statement, string) {
	var st Statement
	prefix := "Statement " + strconv.Itoa(n) + ": "
	var m map[string]json.RawMessage
	if firstByte(raw) != '{' || json.Unmarshal(raw, &m) != nil || m == nil {
		return st, prefix + "a statement must be an object"
	}
	for _, k := range sortedKeys(m) {
		switch k {
		case "Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource", "Condition":
		default:
			return st, prefix + "unknown element " + quote(k)
		}
	}

	if raw, ok := m["Sid"]; ok {
		if json.Unmarshal(raw, &st.Sid) != nil {
			return st, prefix + "Sid must be a string"
		}
		if !isAlnum(st.Sid) {
			return st, msgSidAlnum
		}
	}

	raw, ok := m["Effect"]
	if !ok {
		return st, msgNoEffect
	}
	var effect string
	if json.Unmarshal(raw, &effect) != nil {
		return st, prefix + "Effect must be a string"
	}
	switch Effect(effect) {
	case Allow, Deny:
		st.Effect = Effect(effect)
	default:
		return st, prefix + "invalid Effect " + quote(effect) + ": must be Allow or Deny"
	}

	// Principal / NotPrincipal.
	rawP, hasP := m["Principal"]
	rawNP, hasNP := m["NotPrincipal"]
	switch {
	case kind == IdentityPolicy && (hasP || hasNP):
		return st, msgHasPrincipal
	case kind == ResourcePolicy && hasP && hasNP:
		return st, prefix + "Principal and NotPrincipal cannot both be present"
	case kind == ResourcePolicy && !hasP && !hasNP:
		return st, msgNoPrincipal
	case hasP:
		ps, msg := parsePrincipal(rawP)
		if msg != "" {
			return st, msg
		}
		st.principals = ps
	case hasNP:
		ps, msg := parsePrincipal(rawNP)
		if msg != "" {
			return st, msg
		}
		st.principals, st.notPrinc = ps, true
	}

	// Action / NotAction.
	actions, notActions, msg := stringElement(m, "Action", "NotAction", prefix)
	if msg != "" {
		return st, msg
	}
	if len(actions) == 0 && len(notActions) == 0 {
		return st, msgNoActions
	}
	st.Action, st.NotAction = actions, notActions
	list := actions
	if len(notActions) > 0 {
		list, st.notAction = notActions, true
	}
	for _, a := range list {
		if msg := checkAction(a); msg != "" {
			if msg == msgVendor {
				return st, msg
			}
			return st, prefix + msg
		}
		st.actions = append(st.actions, compilePattern(a, true, false))
	}

	// Resource / NotResource.
	resources, notResources, msg := stringElement(m, "Resource", "NotResource", prefix)
	if msg != "" {
		return st, msg
	}
	st.Resource, st.NotResource = resources, notResources
	list = resources
	if len(notResources) > 0 {
		list, st.notResource = notResources, true
	}
	if len(list) == 0 {
		if kind == IdentityPolicy {
			return st, msgNoResources
		}
		st.anyResource = true
	}
	for _, r := range list {
		if r != "*" && !strings.HasPrefix(r, "arn:") {
			return st, "Resource " + r + " must be in ARN format or \"*\"."
		}
		st.resources = append(st.resources, compilePattern(regionalARN(r), true, variables))
	}

	// Condition.
	if raw, ok := m["Condition"]; ok {
		msg := st.parseCondition(raw, variables, prefix)
		if msg != "" {
			return st, msg
		}
	}
	return st, ""
}

// parseCondition parses and compiles a Condition element into st.
func (st *Statement) parseCondition(raw json.RawMessage, variables bool, prefix string) string {
	var ops map[string]json.RawMessage
	if firstByte(raw) != '{' || json.Unmarshal(raw, &ops) != nil || ops == nil {
		return prefix + "Condition must be an object"
	}
	for _, op := range sortedKeys(ops) {
		spec, qual, ifExists, ok := parseOperator(op)
		if !ok {
			return prefix + "unknown condition operator " + quote(op)
		}
		var keys map[string]json.RawMessage
		if firstByte(ops[op]) != '{' || json.Unmarshal(ops[op], &keys) != nil || keys == nil {
			return prefix + "condition operator " + quote(op) + " must map condition keys to values"
		}
		for _, key := range sortedKeys(keys) {
			if i := strings.IndexByte(key, ':'); i <= 0 || i == len(key)-1 {
				return msgVendor
			}
			values, ok := conditionValues(keys[key])
			if !ok {
				return prefix + "condition key " + quote(key) + " must have a string, number or boolean value, or an array of them"
			}
			c, msg := compileClause(spec, qual, ifExists, op, key, values, variables)
			if msg != "" {
				return prefix + msg
			}
			st.clauses = append(st.clauses, c)
			st.Conditions = append(st.Conditions, Condition{Operator: op, Key: key, Values: values})
		}
	}
	return ""
}

// stringElement reads a pair of mutually exclusive elements such as
// Action/NotAction, each a string or an array of strings.
func stringElement(m map[string]json.RawMessage, name, notName, prefix string) (vals, notVals []string, msg string) {
	raw, has := m[name]
	rawNot, hasNot := m[notName]
	if has && hasNot {
		return nil, nil, prefix + name + " and " + notName + " cannot both be present"
	}
	if has {
		v, ok := stringList(raw)
		if !ok {
			return nil, nil, prefix + name + " must be a string or an array of strings"
		}
		return v, nil, ""
	}
	if hasNot {
		v, ok := stringList(rawNot)
		if !ok {
			return nil, nil, prefix + notName + " must be a string or an array of strings"
		}
		return nil, v, ""
	}
	return nil, nil, ""
}

// checkAction validates one action: "*" or service:action, where the
// service is letters, digits and hyphens and the action letters, digits
// and the wildcards * and ?. Wildcards are also allowed in the service.
func checkAction(a string) string {
	if a == "*" {
		return ""
	}
	svc, act, ok := strings.Cut(a, ":")
	if !ok || svc == "" {
		return msgVendor
	}
	if act == "" {
		return "invalid action " + quote(a)
	}
	for i := range len(svc) {
		c := svc[i]
		if !isAlnumByte(c) && c != '-' && c != '*' && c != '?' {
			return "invalid action " + quote(a)
		}
	}
	for i := range len(act) {
		c := act[i]
		if !isAlnumByte(c) && c != '*' && c != '?' && c != '-' && c != '_' && c != '.' {
			return "invalid action " + quote(a)
		}
	}
	return ""
}

// stringList parses a string or an array of strings.
func stringList(raw json.RawMessage) ([]string, bool) {
	switch firstByte(raw) {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nil, false
		}
		return []string{s}, true
	case '[':
		var elems []json.RawMessage
		if json.Unmarshal(raw, &elems) != nil {
			return nil, false
		}
		out := make([]string, 0, len(elems))
		for _, e := range elems {
			var s string
			if firstByte(e) != '"' || json.Unmarshal(e, &s) != nil {
				return nil, false
			}
			out = append(out, s)
		}
		return out, true
	}
	return nil, false
}

// firstByte returns the first non-space byte of raw, or 0.
func firstByte(raw json.RawMessage) byte {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return 0
	}
	return raw[0]
}

func isAlnum(s string) bool {
	for i := range len(s) {
		if !isAlnumByte(s[i]) {
			return false
		}
	}
	return true
}

func isAlnumByte(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// sortedKeys returns m's keys in order, so that the first problem
// reported does not depend on map iteration.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// quote returns s in double quotes, Go-escaped, for messages.
func quote(s string) string {
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return strconv.Quote(s)
}

// regionalServices are the services whose resource ARNs always carry a
// region and an account.
var regionalServices = map[string]bool{"ec2": true, "ec2-instance-connect": true}

// regionalARN widens an empty region or account component of a Resource
// ARN for a regional service to "*". AWS's own EICE tutorial policies write
// "arn:aws:ec2:::security-group/*" and expect it to cover every security
// group; for these services no real resource ARN has empty components, so
// the literal reading could only ever match nothing.
func regionalARN(r string) string {
	seg, ok := arnSegments(r)
	if !ok || !regionalServices[seg[2]] || (seg[3] != "" && seg[4] != "") {
		return r
	}
	for _, k := range []int{3, 4} {
		if seg[k] == "" {
			seg[k] = "*"
		}
	}
	return strings.Join(seg[:], ":")
}
