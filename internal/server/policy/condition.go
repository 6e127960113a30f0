package policy

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// family is a condition operator's type of comparison.
type family uint8

const (
	famString     family = iota + 1 // StringEquals, StringNotEquals
	famStringFold                   // StringEqualsIgnoreCase, StringNotEqualsIgnoreCase
	famStringLike                   // StringLike, StringNotLike
	famNumeric
	famDate
	famBool
	famBinary
	famIP
	famARN
	famNull
)

// comparison is how a request value must relate to a policy value.
type comparison uint8

const (
	cmpEQ comparison = iota
	cmpLT
	cmpLE
	cmpGT
	cmpGE
)

// qualifier is a set operator prefix.
type qualifier uint8

const (
	qualNone qualifier = iota
	qualForAnyValue
	qualForAllValues
)

// operatorSpec describes a base operator (without qualifier or IfExists).
type operatorSpec struct {
	fam     family
	cmp     comparison
	negated bool
}

// operators maps lower-cased base operator names to their meaning. The
// negated operators are the complement of their positive form: "not equal
// to any of the values".
var operators = map[string]operatorSpec{
	"stringequals":              {famString, cmpEQ, false},
	"stringnotequals":           {famString, cmpEQ, true},
	"stringequalsignorecase":    {famStringFold, cmpEQ, false},
	"stringnotequalsignorecase": {famStringFold, cmpEQ, true},
	"stringlike":                {famStringLike, cmpEQ, false},
	"stringnotlike":             {famStringLike, cmpEQ, true},
	"numericequals":             {famNumeric, cmpEQ, false},
	"numericnotequals":          {famNumeric, cmpEQ, true},
	"numericlessthan":           {famNumeric, cmpLT, false},
	"numericlessthanequals":     {famNumeric, cmpLE, false},
	"numericgreaterthan":        {famNumeric, cmpGT, false},
	"numericgreaterthanequals":  {famNumeric, cmpGE, false},
	"dateequals":                {famDate, cmpEQ, false},
	"datenotequals":             {famDate, cmpEQ, true},
	"datelessthan":              {famDate, cmpLT, false},
	"datelessthanequals":        {famDate, cmpLE, false},
	"dategreaterthan":           {famDate, cmpGT, false},
	"dategreaterthanequals":     {famDate, cmpGE, false},
	"bool":                      {famBool, cmpEQ, false},
	"binaryequals":              {famBinary, cmpEQ, false},
	"ipaddress":                 {famIP, cmpEQ, false},
	"notipaddress":              {famIP, cmpEQ, true},
	"arnequals":                 {famARN, cmpEQ, false},
	"arnlike":                   {famARN, cmpEQ, false},
	"arnnotequals":              {famARN, cmpEQ, true},
	"arnnotlike":                {famARN, cmpEQ, true},
	"null":                      {famNull, cmpEQ, false},
}

// parseOperator splits a condition operator name such as
// "ForAllValues:StringNotLikeIfExists" into its parts. Names are matched
// case-insensitively. Null takes neither a qualifier nor IfExists.
func parseOperator(name string) (spec operatorSpec, qual qualifier, ifExists bool, ok bool) {
	s := name
	if n, ok := hasPrefix(s, "ForAllValues:", true); ok {
		qual, s = qualForAllValues, s[n:]
	} else if n, ok := hasPrefix(s, "ForAnyValue:", true); ok {
		qual, s = qualForAnyValue, s[n:]
	}
	const suffix = "IfExists"
	if len(s) > len(suffix) && strings.EqualFold(s[len(s)-len(suffix):], suffix) {
		ifExists, s = true, s[:len(s)-len(suffix)]
	}
	spec, ok = operators[strings.ToLower(s)]
	if !ok || (spec.fam == famNull && (ifExists || qual != qualNone)) {
		return operatorSpec{}, 0, false, false
	}
	return spec, qual, ifExists, true
}

// clause is one compiled operator/key pair of a Condition element. Only
// the value slice of the operator's family is set.
type clause struct {
	operatorSpec
	qual     qualifier
	ifExists bool
	key      string // lower-cased

	strs  []pattern // string families
	arns  []arnPattern
	nums  []number
	times []time.Time
	nets  []netip.Prefix
	bools []string
	bins  []string // canonical standard base64
	nulls []bool   // Null: true means "the key must be absent"
}

// eval decides the clause against ctx.
//
// A key that is absent (or has no values): Null tests for exactly that;
// with IfExists the clause is true; ForAllValues is true and ForAnyValue
// false (AWS: an empty set); otherwise positive operators are false and
// negated ones true (AWS: "If the policy condition requires that the key
// is not matched, such as StringNotLike or ArnNotLike, and the right key
// is not present, the condition is true").
//
// A present key: without a qualifier the clause is true when any request
// value matches any policy value, negated for the Not operators;
// ForAnyValue needs one request value to satisfy the operator, ForAllValues
// every one. For a negated operator "satisfy" means "equal to none of the
// policy values".
func (c *clause) eval(ctx Context) bool {
	vals := ctx.lookup(c.key)
	if c.fam == famNull {
		absent := len(vals) == 0
		for _, want := range c.nulls {
			if want == absent {
				return true
			}
		}
		return false
	}
	if len(vals) == 0 {
		switch {
		case c.ifExists:
			return true
		case c.qual == qualForAllValues:
			return true
		case c.qual == qualForAnyValue:
			return false
		}
		return c.negated
	}
	switch c.qual {
	case qualForAnyValue:
		for _, v := range vals {
			if c.matchAny(v, ctx) != c.negated {
				return true
			}
		}
		return false
	case qualForAllValues:
		for _, v := range vals {
			if c.matchAny(v, ctx) == c.negated {
				return false
			}
		}
		return true
	}
	for _, v := range vals {
		if c.matchAny(v, ctx) {
			return !c.negated
		}
	}
	return c.negated
}

// matchAny reports whether request value v matches any policy value under
// the positive form of the operator. A request value that does not parse
// as the operator's type matches nothing.
func (c *clause) matchAny(v string, ctx Context) bool {
	switch c.fam {
	case famString, famStringFold, famStringLike:
		fold := c.fam == famStringFold
		for i := range c.strs {
			if c.strs[i].match(v, ctx, fold) {
				return true
			}
		}
	case famARN:
		for i := range c.arns {
			if c.arns[i].match(v, ctx) {
				return true
			}
		}
	case famNumeric:
		n, ok := parseNumber(v)
		if !ok {
			return false
		}
		for _, p := range c.nums {
			if c.cmp.holds(n.compare(p)) {
				return true
			}
		}
	case famDate:
		t, ok := parseDate(v)
		if !ok {
			return false
		}
		for _, p := range c.times {
			if c.cmp.holds(t.Compare(p)) {
				return true
			}
		}
	case famBool:
		for _, p := range c.bools {
			if strings.EqualFold(v, p) {
				return true
			}
		}
	case famBinary:
		for _, p := range c.bins {
			if v == p {
				return true
			}
		}
		if b, err := base64.StdEncoding.DecodeString(v); err == nil {
			for _, p := range c.bins {
				pb, _ := base64.StdEncoding.DecodeString(p)
				if bytes.Equal(b, pb) {
					return true
				}
			}
		}
	case famIP:
		return matchIP(v, c.nets)
	}
	return false
}

// holds reports whether a three-way comparison result satisfies c.
func (c comparison) holds(r int) bool {
	switch c {
	case cmpLT:
		return r < 0
	case cmpLE:
		return r <= 0
	case cmpGT:
		return r > 0
	case cmpGE:
		return r >= 0
	}
	return r == 0
}

// matchIP reports whether the address v (or every address of the CIDR v)
// lies in one of nets.
func matchIP(v string, nets []netip.Prefix) bool {
	if a, err := netip.ParseAddr(v); err == nil {
		a = a.WithZone("").Unmap()
		for _, n := range nets {
			if n.Contains(a) {
				return true
			}
		}
		return false
	}
	if p, err := netip.ParsePrefix(v); err == nil {
		a := p.Addr().Unmap()
		bits := p.Bits()
		if p.Addr().Is4In6() {
			bits -= 96
		}
		for _, n := range nets {
			if n.Contains(a) && bits >= n.Bits() {
				return true
			}
		}
	}
	return false
}

// compileClause compiles the values of one operator/key pair. variables
// says whether String and Arn values substitute policy variables. The
// returned string is a problem with a value, for a ParseError.
func compileClause(spec operatorSpec, qual qualifier, ifExists bool, op, key string, values []string, variables bool) (clause, string) {
	c := clause{operatorSpec: spec, qual: qual, ifExists: ifExists, key: strings.ToLower(key)}
	bad := func(what, v string) string {
		return "invalid " + what + " " + quote(v) + " for " + op + " " + quote(key)
	}
	for _, v := range values {
		switch spec.fam {
		case famString, famStringFold:
			c.strs = append(c.strs, compilePattern(v, false, variables))
		case famStringLike:
			c.strs = append(c.strs, compilePattern(v, true, variables))
		case famARN:
			c.arns = append(c.arns, compileARNPattern(v, variables))
		case famNumeric:
			n, ok := parseNumber(v)
			if !ok {
				return c, bad("number", v)
			}
			c.nums = append(c.nums, n)
		case famDate:
			t, ok := parseDate(v)
			if !ok {
				return c, bad("date", v)
			}
			c.times = append(c.times, t)
		case famBool:
			c.bools = append(c.bools, v)
		case famBinary:
			b, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				return c, bad("base64 value", v)
			}
			c.bins = append(c.bins, base64.StdEncoding.EncodeToString(b))
		case famIP:
			p, ok := parseNet(v)
			if !ok {
				return c, bad("IP address or CIDR", v)
			}
			c.nets = append(c.nets, p)
		case famNull:
			switch strings.ToLower(v) {
			case "true":
				c.nulls = append(c.nulls, true)
			case "false":
				c.nulls = append(c.nulls, false)
			default:
				return c, bad("value (want true or false)", v)
			}
		}
	}
	return c, ""
}

// parseNet parses an IpAddress value: a CIDR (host bits are ignored) or a
// single IPv4 or IPv6 address.
func parseNet(s string) (netip.Prefix, bool) {
	if strings.Contains(s, "%") {
		return netip.Prefix{}, false
	}
	if p, err := netip.ParsePrefix(s); err == nil {
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), true
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), true
}

// number is a Numeric condition value: an exact integer when it fits in
// int64, otherwise a float64.
type number struct {
	i     int64
	f     float64
	isInt bool
}

// compare returns -1, 0 or +1 as n is less than, equal to or greater than m.
func (n number) compare(m number) int {
	if n.isInt && m.isInt {
		switch {
		case n.i < m.i:
			return -1
		case n.i > m.i:
			return 1
		}
		return 0
	}
	a, b := n.float(), m.float()
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (n number) float() float64 {
	if n.isInt {
		return float64(n.i)
	}
	return n.f
}

// parseNumber parses a decimal number: an optional sign, digits with an
// optional fraction, and an optional exponent (JSON numbers and their
// string forms). Hex, Inf, NaN and underscores are rejected.
func parseNumber(s string) (number, bool) {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	intDigits := 0
	for i < len(s) && isDigit(s[i]) {
		i++
		intDigits++
	}
	isInt := true
	fracDigits := 0
	if i < len(s) && s[i] == '.' {
		isInt = false
		i++
		for i < len(s) && isDigit(s[i]) {
			i++
			fracDigits++
		}
	}
	if intDigits+fracDigits == 0 {
		return number{}, false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		isInt = false
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		expDigits := 0
		for i < len(s) && isDigit(s[i]) {
			i++
			expDigits++
		}
		if expDigits == 0 {
			return number{}, false
		}
	}
	if i != len(s) {
		return number{}, false
	}
	if isInt && intDigits <= 18 {
		n, err := strconv.ParseInt(s, 10, 64)
		if err == nil {
			return number{i: n, isInt: true}, true
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return number{}, false
	}
	return number{f: f}, true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// dateLayouts are the ISO 8601 forms a Date value may take, tried in
// order; a form without a zone is UTC. RFC 3339 parsing also accepts
// fractional seconds.
var dateLayouts = []string{
	time.RFC3339,
	"2006-01-02T15:04:05",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04",
	"2006-01-02",
	"20060102T150405Z07:00",
	"20060102T150405Z0700",
	"20060102T150405",
}

// parseDate parses a Date value: epoch seconds (as aws:EpochTime has
// them) or an ISO 8601 date or date-time. A value of digits only is always
// epoch seconds, so the basic date form 20200101 is not a date.
func parseDate(s string) (time.Time, bool) {
	if n, ok := parseEpoch(s); ok {
		return time.Unix(n, 0).UTC(), true
	}
	if len(s) < 8 || !isDigit(s[0]) {
		return time.Time{}, false
	}
	for _, layout := range dateLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// parseEpoch parses an integer number of seconds, with an optional minus
// sign and at most 15 digits (beyond year 30 million).
func parseEpoch(s string) (int64, bool) {
	neg := false
	if len(s) > 0 && s[0] == '-' {
		neg, s = true, s[1:]
	}
	if len(s) == 0 || len(s) > 15 {
		return 0, false
	}
	var n int64
	for i := range len(s) {
		if !isDigit(s[i]) {
			return 0, false
		}
		n = n*10 + int64(s[i]-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// conditionValues parses the value of one condition key: a string, number
// or boolean, or an array of them. Numbers and booleans keep their JSON
// text, so 22 and "22", true and "true" are the same value.
func conditionValues(raw json.RawMessage) ([]string, bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	if arr, ok := v.([]any); ok {
		out := make([]string, 0, len(arr))
		for _, e := range arr {
			s, ok := scalarText(e)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		return out, true
	}
	s, ok := scalarText(v)
	if !ok {
		return nil, false
	}
	return []string{s}, true
}

func scalarText(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}
