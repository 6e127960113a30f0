package cli

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// resumeToken is where a listing cut by --max-items continues: the
// service token of the page to ask for (nil: the first page) and how many
// of that page's items were already printed. Its text form is the AWS
// CLI's (botocore's TokenEncoder): standard base64 of Python's json.dumps
// of {"<input token>": <service token>, "boto_truncate_amount": n}, so a
// token from either CLI works with the other.
type resumeToken struct {
	service  *string
	truncate int // 0: not in the middle of a page (no boto_truncate_amount)
}

// encodeToken returns tok's text form for the input token member name.
func encodeToken(name string, tok resumeToken) string {
	var b strings.Builder
	b.WriteString("{")
	b.WriteString(pyJSONString(name))
	b.WriteString(": ")
	if tok.service == nil {
		b.WriteString("null")
	} else {
		b.WriteString(pyJSONString(*tok.service))
	}
	if tok.truncate > 0 {
		b.WriteString(`, "boto_truncate_amount": `)
		b.WriteString(strconv.Itoa(tok.truncate))
	}
	b.WriteString("}")
	return base64.StdEncoding.EncodeToString([]byte(b.String()))
}

// decodeToken reads a --starting-token as botocore does: the JSON form
// above, else the old "token___index" form, else the whole text as the
// service's own token.
func decodeToken(name, s string) resumeToken {
	if raw, err := base64.StdEncoding.DecodeString(s); err == nil {
		var m map[string]json.RawMessage
		if json.Unmarshal(raw, &m) == nil && m != nil {
			var tok resumeToken
			if v, ok := m[name]; ok {
				var svc *string
				if json.Unmarshal(v, &svc) == nil && svc != nil && *svc != "None" {
					tok.service = svc
				}
			}
			if v, ok := m["boto_truncate_amount"]; ok {
				json.Unmarshal(v, &tok.truncate)
			}
			tok.truncate = max(tok.truncate, 0)
			return tok
		}
	}
	tok := resumeToken{service: &s}
	if parts := strings.Split(s, "___"); len(parts) == 2 {
		if n, err := strconv.Atoi(parts[1]); err == nil {
			tok = resumeToken{truncate: max(n, 0)}
			if parts[0] != "None" {
				tok.service = &parts[0]
			}
		}
	}
	return tok
}

// pyJSONString quotes s as Python's json.dumps does (ensure_ascii): only
// '"', '\\' and control characters are escaped besides non-ASCII, which
// becomes \uXXXX (surrogate pairs above U+FFFF); '/', '<', '>' and '&'
// stay as they are.
func pyJSONString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r < 0x20 || (r >= 0x7f && r <= 0xffff):
			if r == utf8.RuneError {
				r = 0xfffd
			}
			fmt.Fprintf(&b, `\u%04x`, r)
		case r > 0xffff:
			r -= 0x10000
			fmt.Fprintf(&b, `\u%04x\u%04x`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
