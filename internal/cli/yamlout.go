package cli

import (
	"bytes"
	"math"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unicode"
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
		s, plain := yamlScalar(v)
		if v == nil {
			s, plain = "null", true
		}
		e.write(s)
		b.WriteByte('\n')
		if plain {
			b.WriteString("...\n")
		}
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
// space past the width as the dumper does.
func (e *yamlEmitter) scalar(s string, indent int) {
	if s == "" || (s[0] == '"') {
		e.write(s)
		return
	}
	runes := []rune(s)
	start := 0
	for i := 0; i < len(runes); i++ {
		if runes[i] != ' ' {
			continue
		}
		lone := (i == 0 || runes[i-1] != ' ') && i+1 < len(runes) && runes[i+1] != ' '
		if !lone {
			continue
		}
		e.write(string(runes[start:i]))
		if e.col > yamlWidth && i+1 < len(runes) && !(s[0] == '\'' && i+1 == len(runes)-1) {
			e.newline(indent)
		} else {
			e.write(" ")
		}
		start = i + 1
	}
	e.write(string(runes[start:]))
}

var (
	yamlIntRe = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^(?:[-+]?0b[0-1_]+|[-+]?0o?[0-7_]+|[-+]?[0-9_]+|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$`)
	})
	yamlFloatRe = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)|\.[0-9_]+(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$`)
	})
	yamlTimeRe = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$`)
	})
	yamlWords = map[string]bool{"": true, "~": true, "null": true, "Null": true, "NULL": true,
		"true": true, "True": true, "TRUE": true, "false": true, "False": true, "FALSE": true,
		"yes": true, "Yes": true, "YES": true, "no": true, "No": true, "NO": true,
		"on": true, "On": true, "ON": true, "off": true, "Off": true, "OFF": true, "<<": true, "=": true}
)

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
	for _, r := range s {
		if r == '\n' || r == '\r' || r == '\t' || !unicode.IsPrint(r) {
			return strconv.Quote(s), false
		}
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'", false
}

// yamlPlainOK says whether s may stand unquoted: it reads back as the same
// string, and has no indicator that a plain scalar may not have.
func yamlPlainOK(s string) bool {
	if yamlWords[s] || yamlIntRe().MatchString(s) || yamlFloatRe().MatchString(s) || yamlTimeRe().MatchString(s) {
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
		if c == '\n' || c == '\r' || c == '\t' || !unicode.IsPrint(c) || c == '\ufeff' {
			return false
		}
	}
	return true
}
