package ec2api

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/wire/awsproto"
)

// This file decodes the structured parameters of EC2 Query requests:
// flattened lists of structures (Filter.N.Name, TagSpecification.N.Tag.M.Key,
// IpPermissions.N.IpRanges.M.CidrIp), filters and tag specifications. Every
// decoder scans the keys of its level once, so a request with many list
// entries costs time proportional to its size.

// Limits on decoded lists. They are far above what AWS accepts, so requests
// AWS would accept are never cut short, and they bound the work a hostile
// request can cause.
const (
	// maxFilterValues is AWS's limit on the values of all filters of one
	// call (FilterLimitExceeded).
	maxFilterValues = 200
	// maxTagsPerResource is AWS's limit on tags per resource.
	maxTagsPerResource = 50
	// maxListEntries bounds any other flattened list of one request.
	maxListEntries = 1000
)

// structList returns the entries of a flattened list of structures under
// prefix: for keys "prefix.1.A", "prefix.1.B", "prefix.2.A" it returns
// [{A, B}, {A}], each entry holding its members under their names relative
// to the entry. Entries are numbered from 1 and the list stops at the
// first missing number, as AWS reads it. Indexes must be plain decimal
// numbers without leading zeros.
func structList(p awsproto.Params, prefix string) []awsproto.Params {
	pre := prefix + "."
	byIndex := map[int]awsproto.Params{}
	for k, v := range p {
		rest, ok := strings.CutPrefix(k, pre)
		if !ok {
			continue
		}
		num, member, ok := strings.Cut(rest, ".")
		if !ok || member == "" {
			continue
		}
		n, ok := listIndex(num)
		if !ok || n > maxListEntries {
			continue
		}
		e := byIndex[n]
		if e == nil {
			e = awsproto.Params{}
			byIndex[n] = e
		}
		e[member] = v
	}
	var out []awsproto.Params
	for i := 1; ; i++ {
		e, ok := byIndex[i]
		if !ok {
			return out
		}
		out = append(out, e)
	}
}

// scalarList returns the values of a flattened list of scalars
// (prefix.1, prefix.2, …), stopping at the first missing number.
func scalarList(p awsproto.Params, prefix string) []string {
	var out []string
	for i := 1; i <= maxListEntries; i++ {
		v, ok := p[prefix+"."+strconv.Itoa(i)]
		if !ok {
			break
		}
		s := ""
		if len(v) > 0 {
			s = v[0]
		}
		out = append(out, s)
	}
	return out
}

// listIndex parses a 1-based list index: decimal digits, no sign, no
// leading zero.
func listIndex(s string) (int, bool) {
	if s == "" || len(s) > 6 || s[0] == '0' {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// dedupe returns ss without repeated values, in first-seen order.
func dedupe(ss []string) []string {
	if len(ss) < 2 { // nothing can repeat (a Describe by one id): no map
		return ss
	}
	seen := make(map[string]bool, len(ss))
	out := ss[:0:0]
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// intParam reads an optional integer parameter; present reports whether it
// was sent.
func intParam(p awsproto.Params, name string, min, max int64) (n int64, present bool, err error) {
	if !p.Has(name) {
		return 0, false, nil
	}
	v := p.Get(name)
	n, perr := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if perr != nil || n < min || n > max {
		return 0, true, invalidValue(v, name)
	}
	return n, true, nil
}

// boolParam reads an optional boolean; present reports whether it was sent.
func boolParam(p awsproto.Params, name string) (b, present bool, err error) {
	if !p.Has(name) {
		return false, false, nil
	}
	b, err = p.Bool(name, false)
	return b, true, err
}

// reqFilter is one Filter.N of a Describe request: a name and the values
// any of which may match. Values may hold the wildcards * and ?.
type reqFilter struct {
	Name   string
	Values []string
}

// filterSpec says which filter names a Describe action accepts.
type filterSpec struct {
	names map[string]bool
	// tags allows tag:<key>, tag-key and tag-value.
	tags bool
}

// newFilterSpec accepts names and, with tags, the tag filters.
func newFilterSpec(tags bool, names ...string) filterSpec {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	if tags {
		m["tag-key"] = true
		m["tag-value"] = true
	}
	return filterSpec{names: m, tags: tags}
}

// allows reports whether a filter name is accepted.
func (fs filterSpec) allows(name string) bool {
	if fs.names[name] {
		return true
	}
	if fs.tags {
		if k, ok := strings.CutPrefix(name, "tag:"); ok && k != "" {
			return true
		}
	}
	return false
}

// parseFilters decodes Filter.N.Name / Filter.N.Value.M. Unknown names are
// InvalidParameterValue, a filter without values is MissingParameter and
// more than 200 values in all is FilterLimitExceeded, as AWS answers.
func parseFilters(p awsproto.Params, spec filterSpec) ([]reqFilter, error) {
	entries := structList(p, "Filter")
	out := make([]reqFilter, 0, len(entries))
	total := 0
	for i, e := range entries {
		name := e.Get("Name")
		if name == "" {
			return nil, awsproto.MissingParameter(fmt.Sprintf("Filter.%d.Name", i+1))
		}
		if !spec.allows(name) {
			return nil, awsproto.InvalidParameterValue("The filter '%s' is invalid", name)
		}
		vals := scalarList(e, "Value")
		if len(vals) == 0 {
			return nil, awsproto.MissingParameter(fmt.Sprintf("Filter.%d.Value", i+1))
		}
		total += len(vals)
		if total > maxFilterValues {
			return nil, awsproto.Errorf(http.StatusBadRequest, "FilterLimitExceeded",
				"The maximum number of filter values specified on a single call is %d", maxFilterValues)
		}
		out = append(out, reqFilter{Name: name, Values: vals})
	}
	return out, nil
}

// matchFilters reports whether an item passes every filter: for each
// filter, one of the item's values for that filter name matches one of the
// filter's values. values returns the item's values for a name.
func matchFilters(filters []reqFilter, values func(name string) []string) bool {
	for _, f := range filters {
		if !matchAny(values(f.Name), f.Values) {
			return false
		}
	}
	return true
}

// matchAny reports whether one of have matches one of patterns.
func matchAny(have, patterns []string) bool {
	for _, h := range have {
		for _, p := range patterns {
			if globMatch(p, h) {
				return true
			}
		}
	}
	return false
}

// withTagFilters answers the tag filters (tagFilterValues) from tags and
// every other filter with values.
func withTagFilters(tags []store.Tag, values func(name string) []string) func(string) []string {
	return func(name string) []string {
		if vals, ok := tagFilterValues(name, tags); ok {
			return vals
		}
		return values(name)
	}
}

// tagFilterValues answers the tag filters for an item with tags: tag:<key>
// gives the value of key, tag-key every key and tag-value every value.
// ok is false for other names.
func tagFilterValues(name string, tags []store.Tag) (vals []string, ok bool) {
	switch {
	case name == "tag-key":
		for _, t := range tags {
			vals = append(vals, t.Key)
		}
		return vals, true
	case name == "tag-value":
		for _, t := range tags {
			vals = append(vals, t.Value)
		}
		return vals, true
	case strings.HasPrefix(name, "tag:"):
		key := name[len("tag:"):]
		for _, t := range tags {
			if t.Key == key {
				vals = append(vals, t.Value)
			}
		}
		return vals, true
	}
	return nil, false
}

// globMatch matches s against an EC2 filter value: * matches any run of
// characters, ? any one character, and a backslash escapes the next
// character. Matching is case-sensitive, as AWS's.
func globMatch(pattern, s string) bool {
	// Iterative matcher with one backtrack point for the last *.
	px, sx := 0, 0
	starP, starS := -1, 0
	for sx < len(s) {
		if px < len(pattern) {
			c := pattern[px]
			switch {
			case c == '*':
				starP, starS = px, sx
				px++
				continue
			case c == '?':
				_, w := utf8.DecodeRuneInString(s[sx:])
				px++
				sx += w
				continue
			case c == '\\' && px+1 < len(pattern):
				if pattern[px+1] == s[sx] {
					px += 2
					sx++
					continue
				}
			default:
				if c == s[sx] {
					px++
					sx++
					continue
				}
			}
		}
		if starP >= 0 {
			starS++
			px, sx = starP+1, starS
			continue
		}
		return false
	}
	for px < len(pattern) && pattern[px] == '*' {
		px++
	}
	return px == len(pattern)
}

// Tag key and value limits (AWS's).
const (
	maxTagKeyLen   = 128
	maxTagValueLen = 256
)

// validateTags checks keys and values as AWS does for EC2 tags.
func validateTags(tags []store.Tag) error {
	if len(tags) > maxTagsPerResource {
		return awsproto.Errorf(http.StatusBadRequest, "TagLimitExceeded",
			"The maximum number of tags per resource is %d.", maxTagsPerResource)
	}
	seen := map[string]bool{}
	for _, t := range tags {
		switch {
		case t.Key == "":
			return awsproto.InvalidParameterValue("Tag keys must not be empty.")
		case utf8.RuneCountInString(t.Key) > maxTagKeyLen || !utf8.ValidString(t.Key):
			return awsproto.InvalidParameterValue("Tag key exceeds the maximum length of %d characters.", maxTagKeyLen)
		case utf8.RuneCountInString(t.Value) > maxTagValueLen || !utf8.ValidString(t.Value):
			return awsproto.InvalidParameterValue("Tag value exceeds the maximum length of %d characters.", maxTagValueLen)
		case strings.HasPrefix(strings.ToLower(t.Key), "aws:"):
			return awsproto.InvalidParameterValue("Tag keys starting with 'aws:' are reserved for internal use")
		case seen[t.Key]:
			return awsproto.InvalidParameterValue("Duplicate tag key '%s' specified.", t.Key)
		}
		seen[t.Key] = true
	}
	return nil
}

// parseTagList decodes a Tag.N.Key / Tag.N.Value list (CreateTags and
// inside tag specifications). requireKey makes a missing key an error.
func parseTagList(p awsproto.Params, prefix string) ([]store.Tag, error) {
	entries := structList(p, prefix)
	out := make([]store.Tag, 0, len(entries))
	for i, e := range entries {
		if !e.Has("Key") {
			return nil, awsproto.MissingParameter(fmt.Sprintf("%s.%d.Key", prefix, i+1))
		}
		out = append(out, store.Tag{Key: e.Get("Key"), Value: e.Get("Value")})
	}
	return out, nil
}

// parseTagSpecs decodes TagSpecification.N for a create action whose
// resource type is resourceType and returns the tags, validated.
func parseTagSpecs(p awsproto.Params, resourceType string) ([]store.Tag, error) {
	var tags []store.Tag
	for i, spec := range structList(p, "TagSpecification") {
		rt := spec.Get("ResourceType")
		if rt == "" {
			return nil, awsproto.MissingParameter(fmt.Sprintf("TagSpecification.%d.ResourceType", i+1))
		}
		if rt != resourceType {
			return nil, awsproto.InvalidParameterValue("'%s' is not a valid taggable resource type for this operation.", rt)
		}
		t, err := parseTagList(spec, "Tag")
		if err != nil {
			return nil, err
		}
		tags = append(tags, t...)
	}
	if err := validateTags(tags); err != nil {
		return nil, err
	}
	return tags, nil
}

// sortTags orders tags by key, as AWS lists them.
func sortTags(tags []store.Tag) []store.Tag {
	out := append([]store.Tag(nil), tags...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// invalidValue is AWS's generic "Value (x) for parameter y is invalid".
func invalidValue(value, name string) *awsproto.Error {
	return awsproto.InvalidParameterValue("Value (%s) for parameter %s is invalid.", value, lowerFirst(name))
}

// lowerFirst turns a request parameter name into the model member name
// AWS quotes in messages (CidrBlock → cidrBlock).
func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}
