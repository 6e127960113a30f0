package cli

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/jmespath/go-jmespath"
)

// jmesQuery is a compiled --query expression. JMESPath evaluates Go maps,
// which have no order, so search remembers each object's key order and
// puts it back on the result: objects taken from the response keep the
// response's order, and objects the expression builds ({a: x, b: y}) keep
// the expression's, as the AWS CLI prints them.
type jmesQuery struct {
	expr     string
	compiled *jmespath.JMESPath
	// keys are the expression's multi-select hash keys, in its order.
	keys []string
	// numbers are the numbers of the expression's JSON literals as the
	// AWS CLI's Python reads them (see noteNumber): go-jmespath reads
	// every number as a float64.
	numbers map[float64]any
}

// compileQuery parses expr; a bad expression is a usage error, reported
// before any call as the AWS CLI does.
func compileQuery(expr string) (*jmesQuery, error) {
	jexpr, literals := legacyLiterals(expr)
	c, err := jmespath.Compile(jexpr)
	if err != nil {
		return nil, fmt.Errorf("Bad value for --query %s: %v", expr, err)
	}
	q := &jmesQuery{expr: expr, compiled: c, numbers: map[float64]any{}}
	for _, lit := range literals {
		noteLiteralNumbers(q.numbers, lit)
	}
	for _, m := range hashKeyRe().FindAllStringSubmatch(expr, -1) {
		k := m[1]
		if uq, err := strconv.Unquote(k); err == nil {
			k = uq
		}
		q.keys = append(q.keys, k)
	}
	return q, nil
}

// hashKeyRe finds the keys of an expression's multi-select hashes
// ({Name: n, Id: i}); go-jmespath keeps its syntax tree to itself.
var hashKeyRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`([A-Za-z_][A-Za-z0-9_]*|"(?:[^"\\]|\\.)*")\s*:`) })

// legacyLiterals quotes the backtick literals that are not JSON
// (`running`), which the AWS CLI's JMESPath reads as strings (as JMESPath
// did before literals had to be JSON) and AWS's examples use; go-jmespath
// takes only JSON. Raw strings ('…') and quoted names ("…") are left as
// they are. literals are the JSON of every literal, as go-jmespath gets it.
func legacyLiterals(expr string) (jexpr string, literals []string) {
	var b strings.Builder
	for i := 0; i < len(expr); i++ {
		c := expr[i]
		switch c {
		case '\'', '"':
			j := i + 1
			for j < len(expr) && expr[j] != c {
				if expr[j] == '\\' {
					j++
				}
				j++
			}
			j = min(j, len(expr)-1)
			b.WriteString(expr[i : j+1])
			i = j
		case '`':
			j := i + 1
			for j < len(expr) && expr[j] != '`' {
				if expr[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(expr) {
				b.WriteString(expr[i:]) // unterminated: the parser says so
				return b.String(), literals
			}
			lit := strings.ReplaceAll(expr[i+1:j], "\\`", "`")
			if json.Valid([]byte(lit)) {
				b.WriteString(expr[i : j+1])
				literals = append(literals, lit)
			} else {
				q, _ := json.Marshal(strings.TrimLeft(lit, " \t\n"))
				b.WriteString("`" + strings.ReplaceAll(string(q), "`", "\\`") + "`")
			}
			i = j
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), literals
}

// noteLiteralNumbers notes in numbers each number of the JSON literal lit
// as Python's json.loads reads it: an int when written without '.', 'e'
// or 'E' (its digits kept past 2^53), else a float, which the AWS CLI
// prints as one (`1.0` is 1.0, `-0.0` is -0.0, where go-jmespath's
// float64 would print as the integer).
func noteLiteralNumbers(numbers map[float64]any, lit string) {
	dec := json.NewDecoder(strings.NewReader(lit))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return
	}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		case json.Number:
			f, err := x.Float64()
			if err != nil {
				return
			}
			switch {
			case strings.ContainsAny(string(x), ".eE"):
				noteNumber(numbers, f, f)
			default:
				if i, err := x.Int64(); err == nil {
					noteNumber(numbers, f, i)
				} else {
					noteNumber(numbers, f, bigInt(x))
				}
			}
		}
	}
	walk(v)
}

// search evaluates the query on a generic value and returns a generic one.
func (q *jmesQuery) search(v any) (any, error) {
	order := map[uintptr][]string{}
	big := make(map[float64]any, len(q.numbers))
	for f, n := range q.numbers {
		big[f] = n
	}
	res, err := q.compiled.Search(toJMES(v, order, big))
	if err != nil {
		return nil, fmt.Errorf("--query %s: %w", q.expr, err)
	}
	return q.fromJMES(res, order, big), nil
}

// toJMES converts a generic value to the maps, slices and float64s that
// go-jmespath evaluates, noting each object's key order, and in big each
// number under the float64 it becomes (noteNumber): an integer, whose
// digits fromJMES prints as the AWS CLI's Python int does past 2^53, and
// a whole float64, which it prints as a float (2.0), not as the integer
// go-jmespath's float64 looks like.
func toJMES(v any, order map[uintptr][]string, big map[float64]any) any {
	switch x := v.(type) {
	case ordered:
		m := make(map[string]any, len(x))
		keys := make([]string, 0, len(x))
		for _, mb := range x {
			m[mb.key] = toJMES(mb.value, order, big)
			keys = append(keys, mb.key)
		}
		order[reflect.ValueOf(m).Pointer()] = keys
		return m
	case []any:
		list := make([]any, len(x))
		for i, e := range x {
			list[i] = toJMES(e, order, big)
		}
		return list
	case int64:
		f := float64(x)
		noteNumber(big, f, x)
		return f
	case bigInt:
		// A number to compare and sort, as Python's int is to the AWS
		// CLI's JMESPath; its digits come back through big.
		f, _ := strconv.ParseFloat(string(x), 64)
		noteNumber(big, f, x)
		return f
	case float64:
		if x == math.Trunc(x) {
			noteNumber(big, x, x)
		}
		return x
	}
	return v
}

// noteNumber notes in big that the number n (an int64, a bigInt, or a
// float64 that Python holds as a float) became f: nil when another number
// became f too, which fromJMES cannot tell apart.
func noteNumber(big map[float64]any, f float64, n any) {
	if prev, ok := big[f]; ok && prev != n {
		n = nil
	}
	big[f] = n
}

func (q *jmesQuery) fromJMES(v any, order map[uintptr][]string, big map[float64]any) any {
	switch x := v.(type) {
	case map[string]any:
		keys, ok := order[reflect.ValueOf(x).Pointer()]
		if !ok {
			keys = q.keyOrder(x)
		}
		o := ordered{}
		for _, k := range keys {
			if e, ok := x[k]; ok {
				o = append(o, member{k, q.fromJMES(e, order, big)})
			}
		}
		return o
	case []any:
		list := make([]any, len(x))
		for i, e := range x {
			list[i] = q.fromJMES(e, order, big)
		}
		return list
	case float64:
		if x == 0 && math.Signbit(x) {
			return x // -0.0: only a float is negative zero
		}
		if n := big[x]; n != nil {
			return n
		}
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x)
		}
		return x
	case int:
		return int64(x)
	}
	return v
}

// keyOrder orders the keys of an object the expression built: as they
// stand in the expression (a multi-select hash), the others after, sorted.
func (q *jmesQuery) keyOrder(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	seen := map[string]bool{}
	for _, k := range q.keys {
		if _, ok := m[k]; ok && !seen[k] {
			keys = append(keys, k)
			seen[k] = true
		}
	}
	var rest []string
	for k := range m {
		if !seen[k] {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	return append(keys, rest...)
}

// queryValue is the --query flag: it compiles its expression when set.
type queryValue struct{ q **jmesQuery }

func (v queryValue) String() string {
	if *v.q == nil {
		return ""
	}
	return (*v.q).expr
}

func (v queryValue) Set(s string) error {
	q, err := compileQuery(s)
	if err != nil {
		return err
	}
	*v.q = q
	return nil
}

func (v queryValue) Type() string { return "string" }

// choiceValue is a flag whose value must be one of choices.
type choiceValue struct {
	p       *string
	choices []string
}

func (v choiceValue) String() string { return *v.p }

func (v choiceValue) Set(s string) error {
	for _, c := range v.choices {
		if s == c {
			*v.p = s
			return nil
		}
	}
	return fmt.Errorf("Invalid choice, valid choices are: %s", strings.Join(v.choices, " | "))
}

func (v choiceValue) Type() string { return "string" }
