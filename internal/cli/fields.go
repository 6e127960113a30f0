package cli

import (
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
)

var (
	firstCap = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(.)([A-Z][a-z]+)`) })
	endCap   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`([a-z0-9])([A-Z])`) })
)

// kebab turns an SDK name into the AWS CLI's command or flag name, with
// botocore's xform_name rules: SSHPublicKey → ssh-public-key,
// InstanceOSUser → instance-os-user, Ipv6CidrBlock → ipv6-cidr-block.
// The rules are the two regular expressions of kebabRE; a name of ASCII
// characters (every SDK name) is scanned for the same matches without
// them: every service command names its operations and their options with
// it, and the expressions' replacements were ~4 % of `postern ec2 ...`'s
// CPU. FuzzKebab holds the two equal.
func kebab(name string) string {
	for i := 0; i < len(name); i++ {
		if name[i] >= 0x80 || name[i] == '\n' {
			return kebabRE(name)
		}
	}
	isUpper := func(c byte) bool { return 'A' <= c && c <= 'Z' }
	isLower := func(c byte) bool { return 'a' <= c && c <= 'z' }
	// firstCap, (.)([A-Z][a-z]+) → ${1}_${2}: leftmost matches, each
	// search starting where the last match ended.
	s := make([]byte, 0, len(name)+8)
	i := 0
	for p := 0; p+2 < len(name); {
		if !isUpper(name[p+1]) || !isLower(name[p+2]) {
			p++
			continue
		}
		q := p + 3
		for q < len(name) && isLower(name[q]) {
			q++
		}
		s = append(append(append(s, name[i:p+1]...), '_'), name[p+1:q]...)
		i, p = q, q
	}
	s = append(s, name[i:]...)
	// endCap, ([a-z0-9])([A-Z]) → ${1}_${2}, on the result; then lower
	// case, and '-' for '_'.
	out := make([]byte, 0, len(s)+8)
	for p := 0; p < len(s); p++ {
		c := s[p]
		if isUpper(c) {
			c += 'a' - 'A'
		}
		if c == '_' {
			c = '-'
		}
		out = append(out, c)
		if p+1 < len(s) && (isLower(s[p]) || '0' <= s[p] && s[p] <= '9') && isUpper(s[p+1]) {
			out = append(out, '-', s[p+1]+('a'-'A'))
			p++
		}
	}
	return string(out)
}

// kebabRE is kebab by botocore's regular expressions, for any name.
func kebabRE(name string) string {
	s := firstCap().ReplaceAllString(name, "${1}_${2}")
	s = endCap().ReplaceAllString(s, "${1}_${2}")
	return strings.ReplaceAll(strings.ToLower(s), "_", "-")
}

// field is one member of an operation's input structure.
type field struct {
	name   string // flag name
	member string // the input member's name, "MaxResults"
	doc    string // the member's description (docs.json)
	index  int
	typ    reflect.Type
	list   bool // the flag takes several arguments
	isBool bool
}

var timeType = reflect.TypeOf(time.Time{})

func inputFields(t reflect.Type) []field {
	var out []field
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		ft := sf.Type
		base := ft
		if base.Kind() == reflect.Pointer {
			base = base.Elem()
		}
		f := field{name: kebab(sf.Name), member: sf.Name, index: i, typ: ft}
		f.isBool = base.Kind() == reflect.Bool
		f.list = ft.Kind() == reflect.Slice && ft.Elem().Kind() != reflect.Uint8
		out = append(out, f)
	}
	return out
}

func (f field) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	usage := describe(f.typ)
	if f.doc != "" {
		usage = firstSentence(f.doc)
	}
	switch {
	case f.isBool:
		fl.Bool(f.name, false, usage)
		fl.Bool("no-"+f.name, false, "")
	case f.list:
		fl.StringArray(f.name, nil, usage)
	default:
		fl.String(f.name, "", usage)
	}
}

func describe(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Slice:
		return "list of " + describe(t.Elem())
	case reflect.Struct:
		if t == timeType {
			return "timestamp"
		}
		return "structure (shorthand Key=Value,... or JSON)"
	case reflect.Map:
		return "map (shorthand or JSON)"
	}
	return t.Kind().String()
}

// apply sets the field in the input structure from the command's flags.
func (f field) apply(cmd *cobra.Command, in reflect.Value) error {
	fl := cmd.Flags()
	dst := in.Field(f.index)
	switch {
	case f.isBool:
		yes, no := fl.Changed(f.name), fl.Changed("no-"+f.name)
		if yes && no {
			return usageErr("argument --%s: not allowed with argument --no-%s", f.name, f.name)
		}
		if yes || no {
			return assign(dst, yes, "--"+f.name)
		}
		return nil
	case f.list:
		if !fl.Changed(f.name) {
			return nil
		}
		vals, _ := fl.GetStringArray(f.name)
		items := make([]any, 0, len(vals))
		elem := f.typ.Elem()
		for _, v := range vals {
			v, err := readFileArg(v)
			if err != nil {
				return err
			}
			// A JSON list given as one argument stands for the whole list.
			if len(vals) == 1 && strings.HasPrefix(strings.TrimSpace(v), "[") {
				var all []any
				if err := json.Unmarshal([]byte(v), &all); err == nil {
					return assign(dst, all, "--"+f.name)
				}
			}
			item, err := parseValue(v, elem)
			if err != nil {
				return usageErr("argument --%s: %v", f.name, err)
			}
			items = append(items, item)
		}
		return assign(dst, items, "--"+f.name)
	default:
		if !fl.Changed(f.name) {
			return nil
		}
		v, _ := fl.GetString(f.name)
		v, err := readFileArg(v)
		if err != nil {
			return err
		}
		val, err := parseValue(v, f.typ)
		if err != nil {
			return usageErr("argument --%s: %v", f.name, err)
		}
		return assign(dst, val, "--"+f.name)
	}
}

// parseValue turns one argument into a generic value for a target type:
// structures and maps from JSON or shorthand, scalars as the string.
func parseValue(s string, t reflect.Type) (any, error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if (t.Kind() == reflect.Struct && t != timeType) || t.Kind() == reflect.Map || t.Kind() == reflect.Slice {
		trimmed := strings.TrimSpace(s)
		if strings.HasPrefix(trimmed, "{") || strings.HasPrefix(trimmed, "[") {
			var v any
			if err := json.Unmarshal([]byte(trimmed), &v); err == nil {
				return v, nil
			}
		}
		if t.Kind() == reflect.Slice {
			return parseShorthandList(s)
		}
		return ParseShorthand(s)
	}
	return s, nil
}

// assign stores a generic value (from JSON or shorthand: string, float64,
// bool, []any, map[string]any) into dst, converting to its type. Struct
// member names match case-insensitively.
func assign(dst reflect.Value, v any, where string) error {
	if v == nil {
		return nil
	}
	t := dst.Type()
	if t.Kind() == reflect.Pointer {
		p := reflect.New(t.Elem())
		if err := assign(p.Elem(), v, where); err != nil {
			return err
		}
		dst.Set(p)
		return nil
	}
	bad := func() error {
		return usageErr("Invalid type for parameter %s, value: %s, type: %s, valid types: %s", where, shownValue(v), valueKind(v), typeKind(t))
	}
	switch t.Kind() {
	case reflect.String:
		s, ok := scalarString(v)
		if !ok {
			return bad()
		}
		dst.SetString(s)
	case reflect.Bool:
		switch x := v.(type) {
		case bool:
			dst.SetBool(x)
		case string:
			b, err := strconv.ParseBool(x)
			if err != nil {
				return bad()
			}
			dst.SetBool(b)
		default:
			return bad()
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		s, ok := scalarString(v)
		if !ok {
			return bad()
		}
		n, err := strconv.ParseInt(s, 10, t.Bits())
		if err != nil {
			return usageErr("%s: %s is not an integer", where, shownValue(s))
		}
		dst.SetInt(n)
	case reflect.Float32, reflect.Float64:
		s, ok := scalarString(v)
		if !ok {
			return bad()
		}
		n, err := strconv.ParseFloat(s, t.Bits())
		if err != nil {
			return usageErr("%s: %s is not a number", where, shownValue(s))
		}
		dst.SetFloat(n)
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			s, ok := scalarString(v)
			if !ok {
				return bad()
			}
			dst.SetBytes([]byte(s))
			return nil
		}
		items, ok := v.([]any)
		if !ok {
			items = []any{v}
		}
		out := reflect.MakeSlice(t, len(items), len(items))
		for i, it := range items {
			if err := assign(out.Index(i), it, fmt.Sprintf("%s[%d]", where, i)); err != nil {
				return err
			}
		}
		dst.Set(out)
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			return bad()
		}
		out := reflect.MakeMapWithSize(t, len(m))
		for k, mv := range m {
			ev := reflect.New(t.Elem()).Elem()
			if err := assign(ev, mv, where+"."+k); err != nil {
				return err
			}
			out.SetMapIndex(reflect.ValueOf(k).Convert(t.Key()), ev)
		}
		dst.Set(out)
	case reflect.Struct:
		if t == timeType {
			s, ok := scalarString(v)
			if !ok {
				return bad()
			}
			tm, err := parseTime(s)
			if err != nil {
				return usageErr("%s: %v", where, err)
			}
			dst.Set(reflect.ValueOf(tm))
			return nil
		}
		m, ok := v.(map[string]any)
		if !ok {
			return bad()
		}
		for k, mv := range m {
			fi := -1
			for i := 0; i < t.NumField(); i++ {
				if t.Field(i).IsExported() && strings.EqualFold(t.Field(i).Name, k) {
					fi = i
					break
				}
			}
			if fi < 0 {
				return usageErr("%s: unknown member %q", where, k)
			}
			if err := assign(dst.Field(fi), mv, where+"."+k); err != nil {
				return err
			}
		}
	default:
		return bad()
	}
	return nil
}

// maxShown bounds how much of a refused value an error message echoes
// (an input document may hold megabytes in one member).
const maxShown = 80

// shownValue is v as JSON, cut to maxShown bytes, for an error message.
func shownValue(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(fmt.Sprint(v))
	}
	if len(b) > maxShown {
		return string(b[:maxShown]) + "..."
	}
	return string(b)
}

// valueKind names a generic value's JSON type as the AWS CLI's messages do.
func valueKind(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case float64, json.Number:
		return "number"
	case bool:
		return "boolean"
	case []any:
		return "list"
	case map[string]any:
		return "structure"
	}
	return "value"
}

// typeKind names the input type a member takes, in the wording of the
// AWS CLI's parameter validation: help's names (awsType), except that a
// float is a "number" and a blob is given as a "list".
func typeKind(t reflect.Type) string {
	switch k := awsType(t); k {
	case "double":
		return "number"
	case "blob":
		return "list"
	default:
		return k
	}
}

func scalarString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(x), true
	case json.Number:
		return x.String(), true
	}
	return "", false
}

func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a timestamp (ISO 8601 or epoch seconds)", s)
}

// expandListArgs rewrites `--flag a b c` into `--flag a --flag b --flag c`
// for the chosen command's list flags, as the AWS CLI takes lists.
func expandListArgs(root *cobra.Command, args []string) []string {
	cmd, _, err := root.Find(args)
	if err != nil || cmd == nil {
		return args
	}
	isList := func(name string) bool {
		f := cmd.Flags().Lookup(name)
		return f != nil && f.Value.Type() == "stringArray"
	}
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, ok := strings.CutPrefix(a, "--")
		if !ok || strings.Contains(name, "=") || !isList(name) {
			out = append(out, a)
			continue
		}
		n := 0
		for i+1 < len(args) && !strings.HasPrefix(args[i+1], "--") {
			i++
			out = append(out, a, args[i])
			n++
		}
		if n == 0 {
			out = append(out, a) // let the flag parser report the missing value
		}
	}
	return out
}
