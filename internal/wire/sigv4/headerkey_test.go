package sigv4

import (
	"net/textproto"
	"strings"
	"testing"
)

// TestHeaderKeyIsCanonical: the header key a signed name is looked up
// under is textproto.CanonicalMIMEHeaderKey's (what http.Header.Values
// uses), for the names kept in knownKeys and for any other name.
func TestHeaderKeyIsCanonical(t *testing.T) {
	names := []string{"x-custom-thing", "x-amz-meta-a", "content-type2", "a", "x--y", "x_y", "ünicode", "x y"}
	for n := range knownKeys {
		names = append(names, n)
	}
	for _, n := range names {
		if got, want := headerKey(n), textproto.CanonicalMIMEHeaderKey(n); got != want {
			t.Errorf("headerKey(%q) = %q, want %q", n, got, want)
		}
	}
	if len(knownKeys) < 10 {
		t.Errorf("knownKeys has %d names", len(knownKeys))
	}
}

// TestIsLower: isLower(s) is strings.ToLower(s) == s, for ASCII and for
// names with other characters (which ParseAuthorization refuses when
// they have upper-case letters).
func TestIsLower(t *testing.T) {
	for _, s := range []string{"", "host", "x-amz-date", "Host", "x-amz-Date", "HOST", "a1-_.~", "é", "É", "xé", "xÉ", "ǅ", "\xff", "İ", "x\u212a"} {
		if got, want := isLower(s), strings.ToLower(s) == s; got != want {
			t.Errorf("isLower(%q) = %v, want %v", s, got, want)
		}
	}
	for c := 0; c < 128; c++ {
		s := "x-" + string(rune(c))
		if got, want := isLower(s), strings.ToLower(s) == s; got != want {
			t.Errorf("isLower(%q) = %v, want %v", s, got, want)
		}
	}
}
