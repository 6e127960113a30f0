package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The AWS CLI's output: a response becomes a generic value (ordered
// objects, lists, scalars), --query (JMESPath) selects from it, and
// --output lays it out as json, text, table, yaml or yaml-stream, each as
// the AWS CLI does (awscli/formatter.py, awscli/text.py, awscli/table.py;
// v2's yaml). Every command prints through printResult, Postern's own
// included.

// outputFormats are --output's choices, as the AWS CLI's.
var outputFormats = []string{"json", "text", "table", "yaml", "yaml-stream"}

// printOutput prints service's SDK output structure out (a pointer to
// an operation's output) in format, with no query, members in the model's
// order as an SDK operation's command prints them.
func printOutput(w io.Writer, format, service string, out reflect.Value) error {
	return printResult(w, &globals{output: format, color: "off"}, "", modelOutput{service: service, shape: baseName(out.Type()), v: out})
}

// printResult prints a command's result as the AWS CLI would with the
// global options g. title names the operation (the table's title); out is
// an SDK output (a reflect.Value or a pointer to a structure), or a value
// already generic (see fromJSON).
func printResult(w io.Writer, g *globals, title string, out any) error {
	var v any
	switch x := out.(type) {
	case reflect.Value:
		v = toGeneric(x)
	case modelOutput:
		m := skeletonModelOf(x.service)
		v = toGenericModel(&m, x.shape, x.v)
		if format, err := g.outputFormat(); err == nil && format == "text" && x.pages != nil {
			return printPagedText(w, g, v, x.pages)
		}
	case ordered, []any, string, int64, bigInt, float64, bool, nil:
		v = x
	default:
		v = toGeneric(reflect.ValueOf(x))
	}
	if v == nil && g.query == nil {
		return nil
	}
	if g.query != nil {
		q, err := g.query.search(v)
		if err != nil {
			return &exitError{code: ExitOther, msg: "\n" + err.Error()}
		}
		v = q
	} else if m, ok := v.(ordered); ok && len(m) == 0 {
		return nil // nothing to print, as the AWS CLI for e.g. delete-user
	}
	format, err := g.outputFormat()
	if err != nil {
		return err
	}
	var b bytes.Buffer
	switch format {
	case "text":
		writeText(&b, v, "", nil)
	case "table":
		writeTableWidth(&b, title, v, tableStyle(g.color, w), terminalWidth(w))
	case "yaml":
		if m, ok := v.(ordered); ok && len(m) == 0 {
			break
		}
		writeYAML(&b, v)
	case "yaml-stream":
		writeYAML(&b, []any{v})
	default:
		if m, ok := v.(ordered); ok && len(m) == 0 {
			break
		}
		writeJSON(&b, v, 0)
		b.WriteByte('\n')
	}
	_, err = w.Write(b.Bytes())
	return err
}

// printPagedText prints a listing merged across pages as text, as the AWS
// CLI's text formatter does: page by page, the query applied to each page
// (pages: how many items of each result list each page gave), then the
// resume token, when the listing was cut, as a NEXTTOKEN line of its own
// at the end — the query applied to {"NextToken": {"NextToken": …}} as
// well — where the other formats keep NextToken as the listing's member.
func printPagedText(w io.Writer, g *globals, v any, pages []map[string]int) error {
	var token any
	var parts []any
	if o, ok := v.(ordered); ok {
		offset := map[string]int{}
		for i, counts := range pages {
			page := ordered{}
			for _, m := range o {
				list, isList := m.value.([]any)
				n, inPage := counts[m.key]
				switch {
				case m.key == "NextToken":
					token = m.value
				case isList && inPage:
					from := min(offset[m.key], len(list))
					to := min(from+n, len(list))
					page = append(page, member{key: m.key, value: list[from:to]})
					offset[m.key] = to
				case i == 0:
					page = append(page, m)
				}
			}
			parts = append(parts, page)
		}
	} else {
		parts = append(parts, v)
	}
	if token != nil {
		parts = append(parts, ordered{{key: "NextToken", value: ordered{{key: "NextToken", value: token}}}})
	}
	var b bytes.Buffer
	for _, p := range parts {
		if g.query != nil {
			q, err := g.query.search(p)
			if err != nil {
				// The pages before print, as the AWS CLI's, which
				// prints each page as it comes.
				_, _ = w.Write(b.Bytes())
				return &exitError{code: ExitOther, msg: "\n" + err.Error()}
			}
			p = q
		}
		writeText(&b, p, "", nil)
	}
	_, err := w.Write(b.Bytes())
	return err
}

// ordered is a JSON object that keeps its members' order.
type ordered []member

type member struct {
	key   string
	value any
}

// toGeneric converts SDK values to ordered objects, lists and scalars,
// dropping unset members, ResultMetadata and unexported fields, members
// in the SDK's (Go struct) order.
func toGeneric(v reflect.Value) any { return toGenericModel(nil, "", v) }

// modelOutput is an SDK operation's output to be printed with members in
// the AWS model's order, as the AWS CLI (botocore parses a response into
// dicts in the shape's member order): service names the model, shape the
// output's shape (op+"Output" in skeleton.json).
type modelOutput struct {
	service, shape string
	v              reflect.Value
	// pages, when v is a listing merged across pages (pagination.run),
	// say how many items of each result list each page gave; the
	// listing's NextToken, when it was cut, is the resume token.
	pages []map[string]int
}

// toGenericModel is toGeneric with structure members in model m's order
// where m (nil: none) knows the shape (shape names v's; nested shapes
// are named by their Go types), then the rest in the SDK's order.
func toGenericModel(m *skeletonModel, shape string, v reflect.Value) any {
	if !v.IsValid() {
		return nil
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return toGenericModel(m, shape, v.Elem())
	case reflect.Struct:
		if t, ok := v.Interface().(time.Time); ok {
			return formatTime(t)
		}
		var o ordered
		t := v.Type()
		var fields []reflect.StructField
		if m != nil && t.Name() != "" {
			fields = memberOrder(*m, shape, t)
		} else {
			// Paging's merged result (an unnamed structure, see
			// newResult) keeps its order, as botocore's
			// build_full_result: result lists, then NextToken.
			fields = memberOrder(skeletonModel{}, "", t)
		}
		for _, sf := range fields {
			f := v.FieldByIndex(sf.Index)
			if f.Kind() == reflect.String && f.Len() == 0 {
				// An unset enum (a string type, not a pointer): the
				// AWS CLI omits it as it omits every unset member.
				continue
			}
			g := toGenericModel(m, baseName(sf.Type), f)
			if g == nil {
				continue
			}
			if s, ok := g.(string); ok && policyDocumentMember(t, sf.Name) {
				g = decodePolicyDocument(s)
			}
			o = append(o, member{sf.Name, g})
		}
		if o == nil {
			o = ordered{}
		}
		return o
	case reflect.Slice:
		if v.IsNil() {
			return nil
		}
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return string(v.Bytes())
		}
		list := make([]any, 0, v.Len())
		for i := 0; i < v.Len(); i++ {
			list = append(list, toGenericModel(m, baseName(v.Type().Elem()), v.Index(i)))
		}
		return list
	case reflect.Map:
		if v.IsNil() {
			return nil
		}
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
		o := ordered{}
		for _, k := range keys {
			o = append(o, member{fmt.Sprint(k.Interface()), toGenericModel(m, baseName(v.Type().Elem()), v.MapIndex(k))})
		}
		return o
	case reflect.String:
		return v.String()
	case reflect.Bool:
		return v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int()
	case reflect.Float32, reflect.Float64:
		return v.Float()
	}
	return nil
}

// policyDocuments are the IAM members that hold a policy document (the
// model's policyDocumentType) in an answer, by structure: as botocore's
// json_decode_policies (awscli/botocore/handlers.py) finds them.
var policyDocuments = map[string]string{
	"GetGroupPolicyOutput": "PolicyDocument",
	"GetRolePolicyOutput":  "PolicyDocument",
	"GetUserPolicyOutput":  "PolicyDocument",
	"PolicyDetail":         "PolicyDocument",
	"PolicyVersion":        "Document",
	"Role":                 "AssumeRolePolicyDocument",
	"RoleDetail":           "AssumeRolePolicyDocument",
}

// policyDocumentMember says whether the member name of the SDK structure
// t holds an IAM policy document.
func policyDocumentMember(t reflect.Type, name string) bool {
	pkg := t.PkgPath()
	if !strings.HasSuffix(pkg, "/service/iam") && !strings.HasSuffix(pkg, "/service/iam/types") {
		return false
	}
	return policyDocuments[t.Name()] == name
}

// decodePolicyDocument is an IAM policy document (URL-encoded JSON) as the
// AWS CLI prints it: botocore's decode_quoted_jsondoc decodes it with
// Python's unquote and json.loads into an object, members in the
// document's order, null members kept, numbers an int or a float as
// written; a document that does not decode stays the string it was.
func decodePolicyDocument(s string) any {
	dec := json.NewDecoder(strings.NewReader(pyUnquote(s)))
	dec.UseNumber()
	v, err := decodePolicyValue(dec, 0)
	if err != nil {
		return s
	}
	if _, err := dec.Token(); err != io.EOF {
		return s // more after the document: json.loads refuses it
	}
	return v
}

// maxPolicyDepth bounds a policy document's nesting, as Python's
// recursion limit bounds json.loads (which then leaves the string).
const maxPolicyDepth = 500

// decodePolicyValue decodes one JSON value as Python's json.loads reads
// it; a key given twice keeps its first place and its last value.
func decodePolicyValue(dec *json.Decoder, depth int) (any, error) {
	if depth > maxPolicyDepth {
		return nil, errors.New("policy document nested too deep")
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			o := ordered{}
			at := map[string]int{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, _ := kt.(string)
				v, err := decodePolicyValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				if i, ok := at[k]; ok {
					o[i].value = v
					continue
				}
				at[k] = len(o)
				o = append(o, member{k, v})
			}
			_, err := dec.Token()
			return o, err
		case '[':
			list := []any{}
			for dec.More() {
				v, err := decodePolicyValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				list = append(list, v)
			}
			_, err := dec.Token()
			return list, err
		}
		return nil, fmt.Errorf("unexpected %v", t)
	case json.Number:
		if !strings.ContainsAny(string(t), ".eE") {
			if i, err := t.Int64(); err == nil {
				return i, nil
			}
			return bigInt(t), nil
		}
		f, err := t.Float64()
		if errors.Is(err, strconv.ErrRange) {
			return f, nil // ±inf or 0, as Python's float reads it
		}
		return f, err
	}
	return tok, nil // string, bool or nil
}

// pyUnquote is Python's urllib.parse.unquote: each %XX (hex) is that byte,
// the bytes read as UTF-8 with each bad sequence U+FFFD; a '%' without
// two hex digits stays, and '+' is a plus.
func pyUnquote(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			n, _ := strconv.ParseUint(s[i+1:i+3], 16, 8)
			b = append(b, byte(n))
			i += 2
			continue
		}
		b = append(b, s[i])
	}
	if utf8.Valid(b) {
		return string(b)
	}
	var out strings.Builder
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		out.WriteRune(r) // utf8.RuneError for each byte that is not UTF-8
		b = b[size:]
	}
	return out.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func formatFraction(t time.Time) string {
	if ns := t.Nanosecond(); ns != 0 {
		return fmt.Sprintf(".%06d", ns/1000)
	}
	return ""
}

// writeJSON writes v with the AWS CLI's 4-space indentation.
func writeJSON(b *bytes.Buffer, v any, depth int) {
	pad := func(d int) {
		for range d {
			b.WriteString("    ")
		}
	}
	// items writes n items between open and close, one a line, or open
	// and close alone when there are none.
	items := func(open, close byte, n int, item func(i int)) {
		b.WriteByte(open)
		if n == 0 {
			b.WriteByte(close)
			return
		}
		b.WriteByte('\n')
		for i := range n {
			pad(depth + 1)
			item(i)
			if i < n-1 {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		pad(depth)
		b.WriteByte(close)
	}
	switch x := v.(type) {
	case ordered:
		items('{', '}', len(x), func(i int) {
			writeJSONString(b, x[i].key)
			b.WriteString(": ")
			writeJSON(b, x[i].value, depth+1)
		})
	case []any:
		items('[', ']', len(x), func(i int) { writeJSON(b, x[i], depth+1) })
	case string:
		writeJSONString(b, x)
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case bigInt:
		b.WriteString(string(x))
	case float64:
		switch {
		case math.IsInf(x, 1): // as Python's json.dumps writes them
			b.WriteString("Infinity")
		case math.IsInf(x, -1):
			b.WriteString("-Infinity")
		default:
			b.WriteString(pyFloat(x))
		}
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case nil:
		b.WriteString("null")
	}
}

// writeJSONString writes s as a JSON string as the AWS CLI's Python
// writes it (json.dumps with ensure_ascii=False): '"' and '\\' escaped,
// \b \f \n \r \t by name, the other control characters below U+0020 as
// \u00XX (lower-case hex), everything else as it is: '<', '>', '&', DEL,
// U+2028 and U+2029 too, which Go's encoding/json escapes. Bytes that are
// not UTF-8 (Python's text never holds them) become U+FFFD, written as
// the character, where encoding/json writes the escape \ufffd.
func writeJSONString(b *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r != utf8.RuneError || size != 1 {
				i += size
				continue
			}
			b.WriteString(s[start:i])
			b.WriteRune(utf8.RuneError)
			i++
			start = i
			continue
		}
		b.WriteString(s[start:i])
		switch c {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			b.WriteString(`\u00`)
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0xf])
		}
		i++
		start = i
	}
	b.WriteString(s[start:])
	b.WriteByte('"')
}

// minEpoch and maxEpoch are 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z
// in epoch seconds: the times the CLI's time text can carry.
const minEpoch, maxEpoch = -62135596800, 253402300799

// pyFloat formats a float as Python's repr, which the AWS CLI prints.
func pyFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if abs := math.Abs(f); abs != 0 && (abs >= 1e16 || abs < 1e-4) {
		s = strconv.FormatFloat(f, 'e', -1, 64)
		if mant, exp, ok := strings.Cut(s, "e"); ok && len(exp) == 3 && (exp[1] == '0') {
			s = mant + "e" + exp[:1] + exp[2:]
		}
		return s
	}
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

// pyStr formats a scalar as Python's str(), which the AWS CLI's text and
// table layouts print: True, False, None.
func pyStr(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		if x {
			return "True"
		}
		return "False"
	case nil:
		return "None"
	case int64:
		return strconv.FormatInt(x, 10)
	case bigInt:
		return string(x)
	case float64:
		return pyFloat(x)
	}
	return fmt.Sprint(v)
}

func isScalar(v any) bool {
	switch v.(type) {
	case ordered, []any:
		return false
	}
	return true
}

// writeText writes v in the AWS CLI's text layout (awscli/text.py): each
// object's scalars on one tab-separated line in key order, headed by the
// upper-cased name of the member that holds it; the scalars of a list of
// objects in the columns that all of them have; nested values after.
func writeText(b *bytes.Buffer, v any, identifier string, scalarKeys []string) {
	switch x := v.(type) {
	case ordered:
		var scalars []string
		var nested []member
		if scalarKeys == nil {
			for _, m := range sortedMembers(x) {
				if isScalar(m.value) {
					scalars = append(scalars, pyStr(m.value))
				} else {
					nested = append(nested, m)
				}
			}
		} else {
			have := map[string]bool{}
			for _, k := range scalarKeys {
				have[k] = true
				if m, ok := x.get(k); ok {
					scalars = append(scalars, pyStr(m))
				} else {
					scalars = append(scalars, "")
				}
			}
			for _, m := range sortedMembers(x) {
				if !have[m.key] {
					nested = append(nested, m)
				}
			}
		}
		if len(scalars) > 0 {
			if identifier != "" {
				scalars = append([]string{strings.ToUpper(identifier)}, scalars...)
			}
			b.WriteString(strings.Join(scalars, "\t"))
			b.WriteByte('\n')
		}
		for _, m := range nested {
			writeText(b, m.value, m.key, nil)
		}
	case []any:
		if len(x) == 0 {
			return
		}
		hasObject, hasList := false, false
		for _, e := range x {
			switch e.(type) {
			case ordered:
				hasObject = true
			case []any:
				hasList = true
			}
		}
		switch {
		case hasObject:
			keys := allScalarKeys(x)
			for _, e := range x {
				writeText(b, e, identifier, keys)
			}
		case hasList:
			var scalars []any
			var rest []any
			for _, e := range x {
				if isScalar(e) {
					scalars = append(scalars, e)
				} else {
					rest = append(rest, e)
				}
			}
			if len(scalars) > 0 {
				writeScalarList(b, scalars, identifier)
			}
			for _, e := range rest {
				writeText(b, e, identifier, nil)
			}
		default:
			writeScalarList(b, x, identifier)
		}
	default:
		b.WriteString(pyStr(x))
		b.WriteByte('\n')
	}
}

func writeScalarList(b *bytes.Buffer, list []any, identifier string) {
	if identifier != "" {
		for _, e := range list {
			fmt.Fprintf(b, "%s\t%s\n", strings.ToUpper(identifier), pyStr(e))
		}
		return
	}
	s := make([]string, len(list))
	for i, e := range list {
		s[i] = pyStr(e)
	}
	b.WriteString(strings.Join(s, "\t"))
	b.WriteByte('\n')
}

// allScalarKeys are the sorted keys that hold a scalar in any of list's
// objects.
func allScalarKeys(list []any) []string {
	seen := map[string]bool{}
	for _, e := range list {
		if o, ok := e.(ordered); ok {
			for _, m := range o {
				if isScalar(m.value) {
					seen[m.key] = true
				}
			}
		}
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func sortedMembers(o ordered) []member {
	s := append([]member(nil), o...)
	sort.SliceStable(s, func(i, j int) bool { return s[i].key < s[j].key })
	return s
}

func (o ordered) get(key string) (any, bool) {
	for _, m := range o {
		if m.key == key {
			return m.value, true
		}
	}
	return nil, false
}

// fromJSON decodes a JSON document into a generic value, keeping the
// members' order. Timestamps that a JSON protocol sends as epoch seconds
// (members named …At or …Since) and those sent as RFC 3339 become the
// AWS CLI's ISO 8601 form, as the SDK's times print.
func fromJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeJSONValue(dec, "")
	if err != nil {
		return nil, fmt.Errorf("decode JSON output: %w", err)
	}
	return v, nil
}

func decodeJSONValue(dec *json.Decoder, key string) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			o := ordered{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, _ := kt.(string)
				v, err := decodeJSONValue(dec, k)
				if err != nil {
					return nil, err
				}
				if v == nil {
					continue
				}
				o = append(o, member{k, v})
			}
			_, err := dec.Token()
			return o, err
		case '[':
			list := []any{}
			for dec.More() {
				v, err := decodeJSONValue(dec, "")
				if err != nil {
					return nil, err
				}
				list = append(list, v)
			}
			_, err := dec.Token()
			return list, err
		}
	case json.Number:
		if timeKey(key) {
			// Only seconds the time text can carry (years 1-9999): past
			// them the conversion to int64 overflowed into a wrong date.
			if f, err := t.Float64(); err == nil && f >= minEpoch && f <= maxEpoch {
				sec, frac := math.Modf(f)
				return formatTime(time.Unix(int64(sec), int64(math.Round(frac*1e6))*1000)), nil
			}
		}
		if i, err := t.Int64(); err == nil {
			return i, nil
		}
		if !timeKey(key) && !strings.ContainsAny(t.String(), ".eE") {
			return bigInt(t), nil // an integer beyond int64, as written
		}
		f, err := t.Float64()
		if errors.Is(err, strconv.ErrRange) {
			// Valid JSON beyond float64 (1e400): ±inf, as botocore's
			// Python reads it, not an error for the whole output.
			return f, nil
		}
		return f, err
	case string:
		if timeKey(key) {
			if tm, err := time.Parse(time.RFC3339Nano, t); err == nil {
				return formatTime(tm), nil
			}
		}
		return t, nil
	case bool:
		return t, nil
	}
	return nil, nil
}

// bigInt is an integer from a server's JSON answer beyond int64, kept as
// its literal (JSON allows no other spelling of it): the AWS CLI's Python
// reads it as an int, which has no bound and prints exactly, where a
// float64 would print 12345678901234567890 as 1.2345678901234567e+19.
// JMESPath queries see it as a float64 (toJMES).
type bigInt string

// timeKey says whether a member named key holds a timestamp.
func timeKey(key string) bool {
	return strings.HasSuffix(key, "At") || strings.HasSuffix(key, "Since")
}

// formatTime is the AWS CLI's ISO 8601 form of a timestamp.
func formatTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05") + formatFraction(t) + "+00:00"
}
