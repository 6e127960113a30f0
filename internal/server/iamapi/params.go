package iamapi

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"github.com/postern/postern/internal/server/api"
	"github.com/postern/postern/internal/server/identity"
	"github.com/postern/postern/internal/server/policy"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/wire/awsproto"
)

// IAM's length limits (IAM API reference, data types and quotas).
const (
	maxUserName         = 64   // CreateUser's userNameType
	maxExistingUserName = 128  // existingUserNameType, used to address users
	maxGroupName        = 128  // groupNameType
	maxRoleName         = 64   // roleNameType
	maxPolicyName       = 128  // policyNameType
	maxPath             = 512  // pathType and pathPrefixType
	maxDescription      = 1000 // policy and role descriptions
	maxTags             = 50   // tags per user or role
	maxTagKey           = 128
	maxTagValue         = 256
	maxPolicyParam      = 131072 // policyDocumentType
	maxKeysPerUser      = 2      // AccessKeysPerUser quota
)

// IAM's size quotas for policy documents, counted as AWS counts them: in
// characters other than white space.
const (
	quotaUserInline  = 2048  // all inline policies of a user together
	quotaGroupInline = 5120  // all inline policies of a group together
	quotaRoleInline  = 10240 // all inline policies of a role together
	quotaManaged     = 6144  // one managed policy
	quotaTrust       = 2048  // a role's trust policy
)

// lazyRegexp compiles pattern on first use: compiling every pattern at
// start cost 0.6 ms of each postern process's start, most of them never
// serving IAM (the CLI, open-tunnel, the agent).
func lazyRegexp(pattern string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(pattern) })
}

var (
	// nameRe is IAM's pattern for user, group, role and policy names.
	nameRe = lazyRegexp(`^[\w+=,.@-]+$`)
	// pathRe is IAM's pathType: "/" or "/…/" of printable ASCII.
	pathRe = lazyRegexp(`^(/|/[\x21-\x7e]+/)$`)
	// pathPrefixRe is IAM's pathPrefixType: "/" then printable ASCII.
	pathPrefixRe = lazyRegexp(`^/[\x21-\x7f]*$`)
	// descriptionRe is IAM's role description pattern.
	descriptionRe = lazyRegexp(`^[\t\n\r\x20-\x7e\x{a1}-\x{ff}]*$`)
	// tagRe is IAM's pattern for tag keys and values.
	tagRe = lazyRegexp(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)
	// policyARNRe is the ARN of a managed policy, customer or AWS managed.
	policyARNRe = lazyRegexp(`^arn:aws:iam::(\d{12}|aws):policy(/[\x21-\x7e]+)?/[\w+=,.@-]+$`)
	// versionRe is IAM's policy version id pattern.
	versionRe = lazyRegexp(`^v[1-9][0-9]*(\.[A-Za-z0-9-]*)?$`)
)

// field returns the member name AWS's validation messages use for a
// parameter: the parameter with a lower-case initial ("userName").
func field(param string) string {
	if param == "" {
		return param
	}
	return strings.ToLower(param[:1]) + param[1:]
}

// required returns a parameter, or IAM's ValidationError for a missing one
// (IAM does not use MissingParameter).
func required(p awsproto.Params, param string) (string, error) {
	v := p.Get(param)
	if v == "" {
		return "", validation("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", field(param))
	}
	return v, nil
}

// tooLong is the ValidationError for a value longer than max.
func tooLong(v, member string, max int) error {
	return validation("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must have length less than or equal to %d", v, member, max)
}

// name returns a required IAM name parameter (user, group, role or policy
// name) checked against IAM's pattern and the length limit max.
func name(p awsproto.Params, param string, max int) (string, error) {
	v, err := required(p, param)
	if err != nil {
		return "", err
	}
	if len(v) > max {
		return "", tooLong(v, field(param), max)
	}
	if !nameRe().MatchString(v) {
		return "", validation(`1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]+`, v, field(param))
	}
	return v, nil
}

// entityParams reads what every Create action of a named entity reads
// first: the new entity's name (the parameter param, at most max long),
// Path and, when withDescription, Description ("" otherwise).
func entityParams(p awsproto.Params, param string, max int, withDescription bool) (entityName, path, description string, err error) {
	if entityName, err = name(p, param, max); err != nil {
		return "", "", "", err
	}
	if path, err = pathParam(p); err != nil {
		return "", "", "", err
	}
	if withDescription {
		if description, err = descriptionParam(p); err != nil {
			return "", "", "", err
		}
	}
	return entityName, path, description, nil
}

// pathParam returns the optional Path parameter, "/" when absent.
func pathParam(p awsproto.Params) (string, error) {
	v := p.Get("Path")
	if v == "" {
		return "/", nil
	}
	if len(v) > maxPath {
		return "", tooLong(v, "path", maxPath)
	}
	if !pathRe().MatchString(v) {
		return "", validation("The specified value for path is invalid. It must begin and end with / and contain only alphanumeric characters and/or / characters.")
	}
	return v, nil
}

// pathPrefixParam returns the optional PathPrefix parameter, "/" when
// absent. Unlike a path it need not end with "/".
func pathPrefixParam(p awsproto.Params) (string, error) {
	v := p.Get("PathPrefix")
	if v == "" {
		return "/", nil
	}
	if len(v) > maxPath {
		return "", tooLong(v, "pathPrefix", maxPath)
	}
	if !pathPrefixRe().MatchString(v) {
		return "", validation(`1 validation error detected: Value '%s' at 'pathPrefix' failed to satisfy constraint: Member must satisfy regular expression pattern: \u002F[\u0021-\u007F]*`, v)
	}
	return v, nil
}

// descriptionParam returns the optional Description parameter.
func descriptionParam(p awsproto.Params) (string, error) {
	v := p.Get("Description")
	if len(v) > maxDescription {
		return "", tooLong(v, "description", maxDescription)
	}
	if !descriptionRe().MatchString(v) {
		return "", validation(`1 validation error detected: Value '%s' at 'description' failed to satisfy constraint: Member must satisfy regular expression pattern: [\u0009\u000A\u000D\u0020-\u007E\u00A1-\u00FF]*`, v)
	}
	return v, nil
}

// tagsParam returns Tags.member.N.Key/Value.
func tagsParam(p awsproto.Params) ([]store.Tag, error) {
	n := p.Count("Tags.member")
	if n > maxTags {
		return nil, validation("1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to %d", maxTags)
	}
	tags := make([]store.Tag, 0, n)
	seen := make(map[string]bool, n)
	for i := 1; i <= n; i++ {
		pre := "Tags.member." + strconv.Itoa(i) + "."
		member := "tags." + strconv.Itoa(i) + ".member."
		k, v := p.Get(pre+"Key"), p.Get(pre+"Value")
		switch {
		case k == "":
			return nil, validation("1 validation error detected: Value null at '%skey' failed to satisfy constraint: Member must not be null", member)
		case len(k) > maxTagKey:
			return nil, tooLong(k, member+"key", maxTagKey)
		case len(v) > maxTagValue:
			return nil, tooLong(v, member+"value", maxTagValue)
		case !tagRe().MatchString(k):
			return nil, validation(`1 validation error detected: Value '%s' at '%skey' failed to satisfy constraint: Member must satisfy regular expression pattern: [\p{L}\p{Z}\p{N}_.:/=+\-@]+`, k, member)
		case !tagRe().MatchString(v):
			return nil, validation(`1 validation error detected: Value '%s' at '%svalue' failed to satisfy constraint: Member must satisfy regular expression pattern: [\p{L}\p{Z}\p{N}_.:/=+\-@]*`, v, member)
		}
		if seen[strings.ToLower(k)] {
			return nil, invalidInput("Duplicate tag keys found. Please note that Tag keys are case insensitive.")
		}
		seen[strings.ToLower(k)] = true
		tags = append(tags, store.Tag{Key: k, Value: v})
	}
	return tags, nil
}

// policyParam returns a required policy document parameter, parsed as
// kind: a document the parser rejects is MalformedPolicyDocument with the
// parser's message.
func policyParam(p awsproto.Params, param string, kind policy.Kind) (string, error) {
	doc, err := required(p, param)
	if err != nil {
		return "", err
	}
	if len(doc) > maxPolicyParam {
		return "", validation("1 validation error detected: Value at '%s' failed to satisfy constraint: Member must have length less than or equal to %d", field(param), maxPolicyParam)
	}
	if err := checkPolicy(doc, kind); err != nil {
		return "", err
	}
	return doc, nil
}

// checkPolicy parses a policy document, with AWS's code for a bad one.
func checkPolicy(doc string, kind policy.Kind) error {
	if _, err := policy.Parse(doc, kind); err != nil {
		var pe *policy.ParseError
		if errors.As(err, &pe) {
			return malformedPolicy(pe.Msg)
		}
		return malformedPolicy(err.Error())
	}
	return nil
}

// policySize is a document's size as IAM's quotas count it: characters
// other than white space.
func policySize(doc string) int {
	n := 0
	for _, r := range doc {
		if !unicode.IsSpace(r) {
			n++
		}
	}
	return n
}

// policyARNParam returns the required PolicyArn parameter, InvalidInput
// when it is not a managed policy's ARN.
func policyARNParam(p awsproto.Params) (string, error) {
	arn, err := required(p, "PolicyArn")
	if err != nil {
		return "", err
	}
	if len(arn) < 20 || len(arn) > 2048 || !policyARNRe().MatchString(arn) {
		return "", invalidInput("ARN %s is not valid.", arn)
	}
	return arn, nil
}

// paginate applies IAM's Marker and MaxItems (1–1000, default 100) to a
// list of n items: it returns the slice bounds and the marker of the next
// page ("" on the last page). The marker is the index of the next item.
func paginate(p awsproto.Params, n int) (start, end int, next string, err error) {
	maxItems := int64(100)
	if v := p.Get("MaxItems"); v != "" {
		maxItems, err = strconv.ParseInt(v, 10, 32)
		switch {
		case err != nil:
			return 0, 0, "", validation("1 validation error detected: Value '%s' at 'maxItems' failed to satisfy constraint: Member must be a number", v)
		case maxItems < 1:
			return 0, 0, "", validation("1 validation error detected: Value '%s' at 'maxItems' failed to satisfy constraint: Member must have value greater than or equal to 1", v)
		case maxItems > 1000:
			return 0, 0, "", validation("1 validation error detected: Value '%s' at 'maxItems' failed to satisfy constraint: Member must have value less than or equal to 1000", v)
		}
	}
	if m := p.Get("Marker"); m != "" {
		i, perr := strconv.Atoi(m)
		if perr != nil || i < 0 || i > n {
			return 0, 0, "", validation("Invalid Marker.")
		}
		start = i
	}
	end = start + int(maxItems)
	if end >= n {
		return start, n, "", nil
	}
	return start, end, strconv.Itoa(end), nil
}

// page carries IAM's truncation markers in list results.
type page struct {
	IsTruncated bool   `xml:"IsTruncated"`
	Marker      string `xml:"Marker,omitempty"`
}

// pageOf returns the page element for a next-page marker.
func pageOf(next string) page { return page{IsTruncated: next != "", Marker: next} }

// callerUser returns the caller's user name, for actions whose UserName
// defaults to the caller; a role session must name the user.
func callerUser(c *api.Call) (string, error) {
	if c.Principal.Type != identity.TypeIAMUser {
		return "", validation("Must specify userName when calling with non-User credentials")
	}
	return c.Principal.UserName, nil
}

// userParam returns UserName, or the caller's name when it is absent.
func userParam(c *api.Call) (string, error) {
	if c.Params.Get("UserName") == "" {
		return callerUser(c)
	}
	return name(c.Params, "UserName", maxExistingUserName)
}
