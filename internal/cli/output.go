package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strconv"
	"time"
)

// printOutput prints an SDK output structure as the AWS CLI does.
func printOutput(w io.Writer, format string, out reflect.Value) error {
	v := toGeneric(out)
	if v == nil {
		return nil
	}
	if m, ok := v.(ordered); ok && len(m) == 0 {
		return nil // nothing to print, as the AWS CLI for e.g. delete-user
	}
	var b bytes.Buffer
	switch format {
	case "text":
		writeText(&b, v)
	default:
		writeJSON(&b, v, 0)
		b.WriteByte('\n')
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
// dropping unset members, ResultMetadata and unexported fields.
func toGeneric(v reflect.Value) any {
	if !v.IsValid() {
		return nil
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return toGeneric(v.Elem())
	case reflect.Struct:
		if t, ok := v.Interface().(time.Time); ok {
			return t.UTC().Format("2006-01-02T15:04:05") + formatFraction(t) + "+00:00"
		}
		var o ordered
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			sf := t.Field(i)
			if !sf.IsExported() || sf.Name == "ResultMetadata" {
				continue
			}
			g := toGeneric(v.Field(i))
			if g == nil {
				continue
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
			list = append(list, toGeneric(v.Index(i)))
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
			o = append(o, member{fmt.Sprint(k.Interface()), toGeneric(v.MapIndex(k))})
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
			k, _ := json.Marshal(x[i].key)
			b.Write(k)
			b.WriteString(": ")
			writeJSON(b, x[i].value, depth+1)
		})
	case []any:
		items('[', ']', len(x), func(i int) { writeJSON(b, x[i], depth+1) })
	case string:
		enc := json.NewEncoder(b)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(x)
		b.Truncate(b.Len() - 1) // Encode adds a newline
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case float64:
		b.WriteString(strconv.FormatFloat(x, 'f', -1, 64))
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case nil:
		b.WriteString("null")
	}
}

// writeText prints scalars tab-separated, one line per structure, roughly
// as the AWS CLI's text output.
func writeText(b *bytes.Buffer, v any) {
	switch x := v.(type) {
	case ordered:
		var scalars []string
		var nested []any
		for _, m := range x {
			switch m.value.(type) {
			case ordered, []any:
				nested = append(nested, m.value)
			default:
				scalars = append(scalars, fmt.Sprint(m.value))
			}
		}
		if len(scalars) > 0 {
			for i, s := range scalars {
				if i > 0 {
					b.WriteByte('\t')
				}
				b.WriteString(s)
			}
			b.WriteByte('\n')
		}
		for _, n := range nested {
			writeText(b, n)
		}
	case []any:
		for _, e := range x {
			writeText(b, e)
		}
	default:
		fmt.Fprintln(b, x)
	}
}
