package cli

import (
	"bytes"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// The AWS CLI v2's yaml output: block style, each mapping's keys sorted,
// sequences under a key not indented ("Users:\n- UserName: …"), scalars
// plain where YAML would read them back as the same string and quoted
// otherwise, long plain or single-quoted strings folded at 80 columns, as
// its YAML library (a PyYAML-style safe dumper) writes them. A small
// emitter of its own, not a YAML library: the libraries at hand indent
// sequences and quote differently. yaml-stream prints the response as a
// list of pages (Postern prints the pages gathered, so a list of one).

const yamlWidth = 80

// writeYAML writes v as a YAML document, each mapping's keys sorted.
func writeYAML(b *bytes.Buffer, v any) { emitYAML(b, v, false) }

// writeYAMLInOrder writes v as a YAML document with its keys in v's order:
// --generate-cli-skeleton yaml-input, which the AWS CLI writes in the
// model's order, not through its yaml output.
func writeYAMLInOrder(b *bytes.Buffer, v any) { emitYAML(b, v, true) }

func emitYAML(b *bytes.Buffer, v any, inOrder bool) {
	e := yamlEmitter{b: b, inOrder: inOrder}
	switch x := v.(type) {
	case ordered:
		if len(x) == 0 {
			b.WriteString("{}\n")
			return
		}
		e.mapping(x, 0, false)
	case []any:
		if len(x) == 0 {
			b.WriteString("[]\n")
			return
		}
		e.sequence(x, 0, false)
	default:
		// A scalar result (--query Account): the AWS CLI's yaml formatter
		// writes it with json.dump(ensure_ascii=False), not as a YAML
		// document ("123", not '123' or a plain scalar and "...").
		switch x := v.(type) {
		case string:
			writeJSONString(b, x)
		case float64:
			if math.IsNaN(x) {
				b.WriteString("NaN")
			} else {
				writeJSON(b, x, 0)
			}
		case nil, bool, int64, bigInt:
			writeJSON(b, x, 0)
		default:
			writeJSONString(b, pyStr(x))
		}
		b.WriteByte('\n')
	}
}

type yamlEmitter struct {
	b       *bytes.Buffer
	col     int
	inOrder bool // keys as given, not sorted
}

func (e *yamlEmitter) write(s string) {
	e.b.WriteString(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		e.col = len([]rune(s[i+1:]))
	} else {
		e.col += len([]rune(s))
	}
}

func (e *yamlEmitter) newline(indent int) {
	e.b.WriteByte('\n')
	e.b.WriteString(strings.Repeat(" ", indent))
	e.col = indent
}

// mapping writes o's members at indent; inline says the cursor already
// stands at indent (after a sequence's "- ").
func (e *yamlEmitter) mapping(o ordered, indent int, inline bool) {
	// Keys sorted, as ruamel.yaml's safe representer sorts a dict's items
	// (Python compares str by code point; Go's < on UTF-8 agrees).
	members := o
	if !e.inOrder {
		members = sortedMembers(o)
	}
	for i, m := range members {
		if i > 0 || !inline {
			if e.col != 0 || i > 0 {
				e.newline(indent)
			} else {
				e.write(strings.Repeat(" ", indent))
			}
		}
		k, _ := yamlScalar(m.key)
		if len(m.key) > 128 || strings.ContainsFunc(m.key, yamlBreak) {
			// libyaml's complex key: longer than 128 bytes or on several
			// lines, written after "? ", its value after ": " as a
			// sequence's item is.
			e.write("? ")
			e.scalar(k, indent+2)
			e.newline(indent)
			e.write(":")
			e.value(m.value, indent, indent+2, false)
			continue
		}
		e.write(k + ":")
		e.value(m.value, indent, indent+2, true)
	}
	if indent == 0 && !inline {
		e.b.WriteByte('\n')
		e.col = 0
	}
}

// value writes a mapping's value (inMap) or a sequence item after its key
// or dash. indent is the container's; child the nested mapping's.
func (e *yamlEmitter) value(v any, indent, child int, inMap bool) {
	switch x := v.(type) {
	case ordered:
		if len(x) == 0 {
			e.write(" {}")
			return
		}
		if inMap {
			e.newline(child)
			e.mapping(x, child, true)
			return
		}
		e.write(" ")
		e.mapping(x, child, true)
	case []any:
		if len(x) == 0 {
			e.write(" []")
			return
		}
		if inMap {
			e.newline(indent)
			e.sequence(x, indent, true)
			return
		}
		e.write(" ")
		e.sequence(x, child, true)
	case nil:
		e.write(" null")
	default:
		s, _ := yamlScalar(v)
		e.write(" ")
		e.scalar(s, child)
	}
}

func (e *yamlEmitter) sequence(list []any, indent int, inline bool) {
	for i, item := range list {
		if i > 0 || !inline {
			if e.col != 0 || i > 0 {
				e.newline(indent)
			} else {
				e.write(strings.Repeat(" ", indent))
			}
		}
		e.write("-")
		e.value(item, indent, indent+2, false)
	}
	if indent == 0 && !inline {
		e.b.WriteByte('\n')
		e.col = 0
	}
}

// scalar writes a plain or single-quoted string, folding it at a lone
// space past the width, and writing a single-quoted string's line breaks
// as libyaml does (a run starting with \n doubled, the next line indented).
func (e *yamlEmitter) scalar(s string, indent int) {
	if s == "" {
		return
	}
	runes := []rune(s)
	if runes[0] == '"' {
		e.doubleQuoted(runes, indent)
		return
	}
	quoted := runes[0] == '\''
	breaks := false
	for i, c := range runes {
		switch {
		case c == ' ':
			lone := (i == 0 || runes[i-1] != ' ') && i+1 < len(runes) && runes[i+1] != ' '
			if lone && e.col > yamlWidth && !(quoted && i+1 == len(runes)-1) {
				e.newline(indent)
			} else {
				e.b.WriteByte(' ')
				e.col++
			}
		case quoted && yamlBreak(c):
			if !breaks && c == '\n' {
				e.b.WriteByte('\n')
			}
			e.b.WriteRune(c)
			e.col = 0
			breaks = true
		default:
			if breaks {
				e.b.WriteString(strings.Repeat(" ", indent))
				e.col = indent
				breaks = false
			}
			e.b.WriteRune(c)
			e.col++
		}
	}
}

// doubleQuoted writes an escaped double-quoted string, folding it as
// libyaml does: at a space past the width that follows no space and is
// neither the first nor the last character inside the quotes, a backslash
// starting the next line when a space follows.
func (e *yamlEmitter) doubleQuoted(runes []rune, indent int) {
	for i, c := range runes {
		if c == ' ' && e.col > yamlWidth && runes[i-1] != ' ' && i != 1 && i != len(runes)-2 {
			e.newline(indent)
			if runes[i+1] == ' ' {
				e.b.WriteByte('\\')
				e.col++
			}
			continue
		}
		e.b.WriteRune(c)
		e.col++
	}
}

// The AWS CLI's ruamel.yaml resolves plain scalars by YAML 1.2's rules
// (its VersionedResolver's default): yes/no/on/off and sexagesimals such as
// 1:20 are strings there and stand plain. Each pattern applies only to a
// string starting with one of its first characters, as the resolver looks
// them up.
var (
	yamlIntRe = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^(?:[-+]?0b[0-1_]+|[-+]?0o?[0-7_]+|[-+]?[0-9_]+|[-+]?0x[0-9a-fA-F_]+)$`)
	})
	yamlFloatRe = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)|[-+]?\.[0-9_]+(?:[eE][-+][0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$`)
	})
	yamlTimeRe = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$`)
	})
	yamlWords = map[string]bool{"": true, "~": true, "null": true, "Null": true, "NULL": true,
		"true": true, "True": true, "TRUE": true, "false": true, "False": true, "FALSE": true,
		"<<": true, "=": true}
)

// yamlResolves says whether YAML 1.2 would read the plain scalar s as
// something other than a string.
func yamlResolves(s string) bool {
	if yamlWords[s] {
		return true
	}
	if s == "" || !strings.ContainsRune("-+.0123456789", rune(s[0])) {
		return false
	}
	if s[0] != '.' && yamlIntRe().MatchString(s) {
		return true
	}
	return yamlFloatRe().MatchString(s) || yamlTimeRe().MatchString(s)
}

// yamlPrintable is libyaml's printable set (the AWS CLI's ruamel.yaml
// emits through libyaml): characters outside it are escaped in double
// quotes. Characters past U+FFFF are outside it.
func yamlPrintable(r rune) bool {
	return r == '\n' || (r >= 0x20 && r <= 0x7e) || (r >= 0xa0 && r <= 0xd7ff) ||
		(r >= 0xe000 && r <= 0xfffd && r != 0xfeff)
}

func yamlBreak(r rune) bool {
	return r == '\n' || r == '\r' || r == 0x85 || r == 0x2028 || r == 0x2029
}

// yamlDoubleQuoted writes s in double quotes with libyaml's escapes.
func yamlDoubleQuoted(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		if yamlPrintable(r) && !yamlBreak(r) && r != '"' && r != '\\' {
			b.WriteRune(r)
			continue
		}
		switch r {
		case 0:
			b.WriteString(`\0`)
		case 7:
			b.WriteString(`\a`)
		case 8:
			b.WriteString(`\b`)
		case 9:
			b.WriteString(`\t`)
		case 10:
			b.WriteString(`\n`)
		case 11:
			b.WriteString(`\v`)
		case 12:
			b.WriteString(`\f`)
		case 13:
			b.WriteString(`\r`)
		case 0x1b:
			b.WriteString(`\e`)
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case 0x85:
			b.WriteString(`\N`)
		case 0xa0:
			b.WriteString(`\_`)
		case 0x2028:
			b.WriteString(`\L`)
		case 0x2029:
			b.WriteString(`\P`)
		default:
			switch {
			case r <= 0xff:
				fmt.Fprintf(&b, `\x%02X`, r)
			case r <= 0xffff:
				fmt.Fprintf(&b, `\u%04X`, r)
			default:
				fmt.Fprintf(&b, `\U%08X`, r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// yamlScalar renders a scalar and says whether it is plain.
func yamlScalar(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", true
	case bool:
		return strconv.FormatBool(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case bigInt:
		return string(x), true
	case float64:
		switch { // YAML's spellings (1.1 and 1.2), as the AWS CLI's ruamel.yaml writes them
		case math.IsInf(x, 1):
			return ".inf", true
		case math.IsInf(x, -1):
			return "-.inf", true
		case math.IsNaN(x):
			return ".nan", true
		}
		return pyFloat(x), true
	case string:
		return yamlString(x)
	}
	return yamlString(pyStr(v))
}

func yamlString(s string) (string, bool) {
	if yamlPlainOK(s) {
		return s, true
	}
	// libyaml's choice: double quotes for a character outside its
	// printable set (\r and U+0085 among them) or a space beside a line
	// break; single quotes, line breaks and all, otherwise.
	prev := 'x'
	for _, r := range s {
		if !yamlPrintable(r) || (yamlBreak(r) && prev == ' ') || (r == ' ' && yamlBreak(prev)) {
			return yamlDoubleQuoted(s), false
		}
		prev = r
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'", false
}

// yamlPlainOK says whether s may stand unquoted: it reads back as the same
// string, and has no indicator that a plain scalar may not have.
func yamlPlainOK(s string) bool {
	if yamlResolves(s) {
		return false
	}
	if strings.HasPrefix(s, "---") || strings.HasPrefix(s, "...") {
		return false
	}
	if s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	r := []rune(s)
	for i, c := range r {
		next := ' '
		if i+1 < len(r) {
			next = r[i+1]
		}
		if i == 0 {
			if strings.ContainsRune("#,[]{}&*!|>'\"%@`", c) {
				return false
			}
			if strings.ContainsRune("?:-", c) && next == ' ' {
				return false
			}
		} else {
			if c == ':' && next == ' ' {
				return false
			}
			if c == '#' && r[i-1] == ' ' {
				return false
			}
		}
		if yamlBreak(c) || !yamlPrintable(c) {
			return false
		}
	}
	return true
}
