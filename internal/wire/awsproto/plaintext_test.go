package awsproto

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strconv"
	"testing"
)

// TestPlainXMLTextMatchesEscapeText: plainXMLText says "unchanged" for an
// ASCII text (below DEL) exactly when xml.EscapeText writes it unchanged, byte by
// byte and inside a longer text; for any other text it may only say so
// when that is true (a multi-byte character goes to xml.EscapeText).
func TestPlainXMLTextMatchesEscapeText(t *testing.T) {
	escape := func(s string) string {
		var b bytes.Buffer
		_ = xml.EscapeText(&b, []byte(s))
		return b.String()
	}
	for c := 0; c < 256; c++ {
		for _, s := range []string{string([]byte{byte(c)}), "arn:aws:ec2:" + string([]byte{byte(c)}) + "x"} {
			unchanged := escape(s) == s
			got := plainXMLText(s)
			if c < 0x7f && got != unchanged { // (DEL, like the multi-byte characters, goes to xml.EscapeText)
				t.Errorf("byte %#x in %q: plainXMLText %v, xml.EscapeText leaves it unchanged: %v", c, s, got, unchanged)
			}
			if got && !unchanged {
				t.Errorf("%q: plainXMLText says unchanged, xml.EscapeText writes %q", s, escape(s))
			}
			if a := string(AppendXMLText(nil, s)); a != escape(s) {
				t.Errorf("AppendXMLText(%q) = %q, want %q", s, a, escape(s))
			}
		}
	}
	for _, s := range []string{"", "eice-0123456789abcdef0", "é", "a\u2028b", "\xff\xfe"} {
		if a := string(AppendXMLText(nil, s)); a != escape(s) {
			t.Errorf("AppendXMLText(%q) = %q, want %q", s, a, escape(s))
		}
	}
}

// TestQuotesAsIs: quotesAsIs(s) says "unchanged" exactly when
// strconv.Quote(s) is s between double quotes, for every byte alone and
// inside a namespace; the opening tag is what fmt.Fprintf wrote.
func TestQuotesAsIs(t *testing.T) {
	for c := 0; c < 256; c++ {
		for _, s := range []string{string([]byte{byte(c)}), "https://ec2.amazonaws.com/doc/" + string([]byte{byte(c)}) + "/"} {
			if got, want := quotesAsIs(s), strconv.Quote(s) == `"`+s+`"`; got != want && c < 0x80 {
				t.Errorf("%q: quotesAsIs %v, strconv.Quote leaves it as is: %v", s, got, want)
			} else if got && !want {
				t.Errorf("%q: quotesAsIs says as is, strconv.Quote writes %s", s, strconv.Quote(s))
			}
			var b bytes.Buffer
			writeResponseOpen(&b, "DescribeVpcs", s)
			if want := fmt.Sprintf("<%sResponse xmlns=%q>\n", "DescribeVpcs", s); b.String() != want {
				t.Errorf("writeResponseOpen(%q) = %q, want %q", s, b.String(), want)
			}
		}
	}
}
