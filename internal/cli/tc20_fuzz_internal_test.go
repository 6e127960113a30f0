package cli

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzTC20JSONString: writeJSONString writes valid JSON for any string,
// which reads back as the string (each byte that is not UTF-8 as U+FFFD),
// with no raw control character, and the characters Go's encoding/json
// escapes but Python's json.dumps(ensure_ascii=False) does not ('<', '>',
// '&', U+2028, U+2029) as they are.
func FuzzTC20JSONString(f *testing.F) {
	for _, s := range []string{"", "a", "<a>&b", "a\u2028b\u2029", "\x00\x1f\x7f", "\b\f\n\r\t\"\\/", "😀", "\xff\xfe", "a\xe2\x82b", "\ufffd"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var b bytes.Buffer
		writeJSONString(&b, s)
		out := b.String()
		var back string
		if err := json.Unmarshal(b.Bytes(), &back); err != nil {
			t.Fatalf("%q: not JSON: %v", out, err)
		}
		var want strings.Builder
		for i := 0; i < len(s); {
			r, size := utf8.DecodeRuneInString(s[i:])
			want.WriteRune(r)
			i += size
		}
		if back != want.String() {
			t.Fatalf("%q reads back as %q, want %q", out, back, want.String())
		}
		if !utf8.ValidString(out) || strings.ContainsFunc(out, func(r rune) bool { return r < 0x20 }) {
			t.Fatalf("%q: raw control character or bad UTF-8", out)
		}
		for _, c := range []string{"\\u003c", "\\u003e", "\\u0026", "\\u2028", "\\u2029", "\\ufffd"} {
			if strings.Contains(out, c) && !strings.Contains(s, `\`) {
				t.Fatalf("%q: escapes %s, which Python writes as it is", out, c)
			}
		}
	})
}

// FuzzTC20PolicyDocument: any policy document text, URL-encoded or not,
// decodes without a panic to the string itself or to a value whose JSON
// (writeJSON) is valid and means what the unquoted text means (but for
// numbers past float64, Infinity as Python writes them); and
// pyUnquote agrees with url.PathUnescape wherever that accepts the text
// and gives UTF-8.
func FuzzTC20PolicyDocument(f *testing.F) {
	for _, s := range []string{
		"", "{}", "%7B%7D", `{"a":1,"a":2}`, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`,
		"%7B%22a%22%3A1.0e10%2C%22b%22%3A-0.0%7D", "[1e400, -1e400]", "%", "%zz", "%e2%82", "[1, 12345678901234567890, null, true]", `{"a":{}} x`,
		strings.Repeat("[", 600) + strings.Repeat("]", 600),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if u, err := url.PathUnescape(s); err == nil && utf8.ValidString(u) {
			if got := pyUnquote(s); got != u {
				t.Fatalf("pyUnquote(%q) = %q, url.PathUnescape %q", s, got, u)
			}
		}
		v := decodePolicyDocument(s)
		if str, ok := v.(string); ok && str == s {
			return
		}
		var b bytes.Buffer
		writeJSON(&b, v, 0)
		if bytes.Contains(b.Bytes(), []byte("Infinity")) {
			return // a number past float64 (1e400), as Python's json.dumps writes it
		}
		if !json.Valid(b.Bytes()) {
			t.Fatalf("%q decodes to %#v, whose JSON %q is not valid", s, v, b.String())
		}
		var got, want any
		if err := json.Unmarshal(b.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(pyUnquote(s)), &want); err != nil {
			t.Fatalf("%q decoded, but its text is not JSON: %v", s, err)
		}
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		if !bytes.Equal(g, w) {
			t.Fatalf("%q decodes to %s, want %s", s, g, w)
		}
	})
}
