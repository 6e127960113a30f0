package policy

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// elemKind is the kind of one element of a compiled pattern.
type elemKind uint8

const (
	elemLit  elemKind = iota // literal text
	elemStar                 // * : any run of characters, possibly empty
	elemOne                  // ? : exactly one character
	elemVar                  // ${key} or ${key, 'default'}: a context value, matched literally
)

// elem is one element of a compiled pattern.
type elem struct {
	kind   elemKind
	text   string // literal text, or the lower-cased context key of a variable
	def    string // default value of a variable
	hasDef bool
}

// pattern is a string from a policy compiled at Parse time: literal runs,
// wildcards (when the element or operator allows them) and policy variables
// (when the policy's Version allows them). Text substituted for a variable
// and the escapes ${*}, ${?} and ${$} always match literally.
type pattern struct {
	elems []elem
	wild  bool // has elemStar or elemOne
	vars  bool // has elemVar
	// head and tail are the literal text the pattern must begin and end
	// with, when it has a wildcard: checking them first rejects most
	// non-matching strings without backtracking.
	head, tail string
}

// compilePattern compiles s. wildcards says whether * and ? are wildcards;
// variables whether ${...} is substituted (Version 2012-10-17 only).
func compilePattern(s string, wildcards, variables bool) pattern {
	var p pattern
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			p.elems = append(p.elems, elem{kind: elemLit, text: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case variables && c == '$' && i+1 < len(s) && s[i+1] == '{':
			e, n, ok := parseVariable(s[i:])
			if !ok {
				lit.WriteByte(c) // not a well-formed variable: literal text
				i++
				continue
			}
			i += n
			if e.kind == elemLit {
				lit.WriteString(e.text)
				continue
			}
			flush()
			p.elems = append(p.elems, e)
			p.vars = true
		case wildcards && c == '*':
			flush()
			if k := len(p.elems); k == 0 || p.elems[k-1].kind != elemStar {
				p.elems = append(p.elems, elem{kind: elemStar})
			}
			p.wild = true
			i++
		case wildcards && c == '?':
			flush()
			p.elems = append(p.elems, elem{kind: elemOne})
			p.wild = true
			i++
		default:
			lit.WriteByte(c)
			i++
		}
	}
	flush()
	if p.wild && len(p.elems) > 1 {
		if e := p.elems[0]; e.kind == elemLit {
			p.head = e.text
		}
		if e := p.elems[len(p.elems)-1]; e.kind == elemLit {
			p.tail = e.text
		}
	}
	return p
}

// parseVariable parses a policy variable at the start of s (which begins
// with "${"). It returns the element, the number of bytes consumed and
// whether s holds a well-formed variable. The escapes ${*}, ${?} and ${$}
// come back as literal elements. A default value is written
// ${key, 'text'}; a single quote inside the text is written twice.
func parseVariable(s string) (elem, int, bool) {
	i := 2
	end := strings.IndexAny(s[i:], ",}")
	if end < 0 {
		return elem{}, 0, false
	}
	rawKey := s[i : i+end]
	i += end
	if s[i] == '}' {
		switch rawKey {
		case "*", "?", "$":
			return elem{kind: elemLit, text: rawKey}, i + 1, true
		}
		return elem{kind: elemVar, text: strings.ToLower(strings.TrimSpace(rawKey))}, i + 1, true
	}
	// Default value: ", 'text'}" with optional spaces around the quotes.
	i++
	for i < len(s) && s[i] == ' ' {
		i++
	}
	if i >= len(s) || s[i] != '\'' {
		return elem{}, 0, false
	}
	i++
	var def strings.Builder
	for {
		if i >= len(s) {
			return elem{}, 0, false
		}
		if s[i] == '\'' {
			if i+1 < len(s) && s[i+1] == '\'' {
				def.WriteByte('\'')
				i += 2
				continue
			}
			i++
			break
		}
		def.WriteByte(s[i])
		i++
	}
	for i < len(s) && s[i] == ' ' {
		i++
	}
	if i >= len(s) || s[i] != '}' {
		return elem{}, 0, false
	}
	return elem{kind: elemVar, text: strings.ToLower(strings.TrimSpace(rawKey)), def: def.String(), hasDef: true}, i + 1, true
}

// resolve returns the text a variable stands for in ctx. A key that is
// absent, empty or multivalued has no value (AWS: only single-valued keys
// can be variables); then the default applies if there is one.
func (e *elem) resolve(ctx Context) (string, bool) {
	if v := ctx.lookup(e.text); len(v) == 1 {
		return v[0], true
	}
	if e.hasDef {
		return e.def, true
	}
	return "", false
}

// literal reports whether p is one literal string (no wildcard, no
// variable) and returns it.
func (p *pattern) literal() (string, bool) {
	if p.wild || p.vars {
		return "", false
	}
	switch len(p.elems) {
	case 0:
		return "", true
	case 1:
		return p.elems[0].text, true
	}
	return "", false
}

// match reports whether s matches p. fold makes literal comparisons
// case-insensitive (Unicode simple folding). A variable with no value in
// ctx makes p match nothing, as AWS documents ("there is no equal or like
// value").
func (p *pattern) match(s string, ctx Context, fold bool) bool {
	if p.head != "" {
		if _, ok := hasPrefix(s, p.head, fold); !ok {
			return false
		}
	}
	if p.tail != "" && !hasSuffix(s, p.tail, fold) {
		return false
	}
	return matchElems(p.elems, p.vars, s, ctx, fold)
}

// hasSuffix reports whether s may end with suffix: exactly without fold;
// with fold it compares ASCII case-insensitively and, where either side is
// not ASCII (a folded rune may change length), answers true and leaves the
// decision to the full match.
func hasSuffix(s, suffix string, fold bool) bool {
	if !fold {
		return strings.HasSuffix(s, suffix)
	}
	if len(s) < len(suffix) {
		return !isASCII(s) || !isASCII(suffix)
	}
	t := s[len(s)-len(suffix):]
	for i := range len(t) {
		a, b := t[i], suffix[i]
		if a >= utf8.RuneSelf || b >= utf8.RuneSelf {
			return true
		}
		if a != b && lowerASCII(a) != lowerASCII(b) {
			return false
		}
	}
	return true
}

func isASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// matchElems is the glob matcher behind pattern.match: a linear scan that
// backtracks only to the most recent star, O(len(s)·len(elems)) at worst,
// with no allocation.
func matchElems(elems []elem, vars bool, s string, ctx Context, fold bool) bool {
	if vars {
		for i := range elems {
			if elems[i].kind == elemVar {
				if _, ok := elems[i].resolve(ctx); !ok {
					return false
				}
			}
		}
	}
	if len(elems) == 1 && elems[0].kind == elemLit {
		return equal(s, elems[0].text, fold)
	}
	i, pos := 0, 0
	star, mark := -1, 0
	for {
		if i < len(elems) {
			e := &elems[i]
			switch e.kind {
			case elemStar:
				star, mark = i, pos
				i++
				continue
			case elemOne:
				if pos < len(s) {
					_, n := utf8.DecodeRuneInString(s[pos:])
					pos += n
					i++
					continue
				}
			default:
				t := e.text
				if e.kind == elemVar {
					t, _ = e.resolve(ctx)
				}
				if n, ok := hasPrefix(s[pos:], t, fold); ok {
					pos += n
					i++
					continue
				}
			}
		} else if pos == len(s) {
			return true
		}
		if star < 0 || mark >= len(s) {
			return false
		}
		_, n := utf8.DecodeRuneInString(s[mark:])
		mark += n
		pos, i = mark, star+1
	}
}

// equal compares a and b, case-insensitively when fold is set.
func equal(a, b string, fold bool) bool {
	if a == b {
		return true
	}
	return fold && strings.EqualFold(a, b)
}

// hasPrefix reports whether s begins with prefix and returns how many bytes
// of s the prefix covers (with fold, a folded rune may differ in length).
func hasPrefix(s, prefix string, fold bool) (int, bool) {
	if strings.HasPrefix(s, prefix) {
		return len(prefix), true
	}
	if !fold {
		return 0, false
	}
	i, j := 0, 0
	for j < len(prefix) {
		if i >= len(s) {
			return 0, false
		}
		a, b := s[i], prefix[j]
		if a < utf8.RuneSelf && b < utf8.RuneSelf {
			if a != b && lowerASCII(a) != lowerASCII(b) {
				return 0, false
			}
			i++
			j++
			continue
		}
		ra, na := utf8.DecodeRuneInString(s[i:])
		rb, nb := utf8.DecodeRuneInString(prefix[j:])
		if !equalFoldRune(ra, rb) {
			return 0, false
		}
		i += na
		j += nb
	}
	return i, true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// equalFoldRune reports whether a and b are equal under Unicode simple
// case folding.
func equalFoldRune(a, b rune) bool {
	if a == b {
		return true
	}
	for r := unicode.SimpleFold(a); r != a; r = unicode.SimpleFold(r) {
		if r == b {
			return true
		}
	}
	return false
}

// arnSegments splits an ARN into its six colon-separated components
// (arn, partition, service, region, account, resource); the resource keeps
// any further colons. ok is false when s has fewer than five colons.
func arnSegments(s string) (seg [6]string, ok bool) {
	for k := range 5 {
		i := strings.IndexByte(s, ':')
		if i < 0 {
			return seg, false
		}
		seg[k] = s[:i]
		s = s[i+1:]
	}
	seg[5] = s
	return seg, true
}

// arnPattern is an ARN pattern for the Arn* condition operators: each of
// the six components is matched on its own, with wildcards, so a * in the
// region does not run into the account. A value that does not have six
// components is matched as one glob over the whole ARN.
type arnPattern struct {
	whole    pattern
	segs     [6][]elem
	segVars  [6]bool
	segments bool
}

// compileARNPattern compiles an Arn* condition value.
func compileARNPattern(s string, variables bool) arnPattern {
	ap := arnPattern{whole: compilePattern(s, true, variables)}
	// Split on literal colons only: a colon inside ${aws:username} or in a
	// variable's default value is not a separator.
	k := 0
	var cur []elem
	for _, e := range ap.whole.elems {
		if e.kind != elemLit {
			cur = append(cur, e)
			continue
		}
		t := e.text
		for k < 5 {
			i := strings.IndexByte(t, ':')
			if i < 0 {
				break
			}
			if i > 0 {
				cur = append(cur, elem{kind: elemLit, text: t[:i]})
			}
			ap.segs[k] = cur
			cur = nil
			k++
			t = t[i+1:]
		}
		if t != "" {
			cur = append(cur, elem{kind: elemLit, text: t})
		}
	}
	if k < 5 {
		return ap
	}
	ap.segs[5] = cur
	for j := range ap.segs {
		for _, e := range ap.segs[j] {
			if e.kind == elemVar {
				ap.segVars[j] = true
			}
		}
	}
	ap.segments = true
	return ap
}

// match reports whether the ARN s matches, component by component.
func (ap *arnPattern) match(s string, ctx Context) bool {
	if !ap.segments {
		return ap.whole.match(s, ctx, false)
	}
	seg, ok := arnSegments(s)
	if !ok {
		return false
	}
	for k := range seg {
		if !matchElems(ap.segs[k], ap.segVars[k], seg[k], ctx, false) {
			return false
		}
	}
	return true
}
