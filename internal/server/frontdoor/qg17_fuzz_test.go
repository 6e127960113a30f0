package frontdoor

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// qg17PortSpec is what ParsePorts takes for one entry: a port, a range,
// or every port ("*" or "all"); a sign or leading zeros before a number
// are tolerated (strconv.Atoi's).
var qg17PortSpec = regexp.MustCompile(`^(\*|all|\+?[0-9]+(-\+?[0-9]+)?)$`)

// FuzzParsePorts feeds ParsePorts port policies as an endpoint's
// postern:proxy-protocol-ports tag (a value any caller allowed to tag
// sets) and tunnel.ports (the operator's config file) hand them over.
// Properties: it never panics; what it accepts is one range per entry,
// within 1-65535 and in order, from an entry of the documented form; and
// each range written back as the policy says it ("22", "8000-8999") reads
// as the same range.
func FuzzParsePorts(f *testing.F) {
	for _, s := range []string{"22", "22,3389", " 3389 , 8000-8999", "*", "all", "1-65535", "0", "65536", "8999-8000",
		"22-", "-22", "+22", "022", "1--2", "22,,23", "", " ", "9223372036854775808", "5432,*,7000-7001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tag string) {
		specs := strings.Split(tag, ",")
		got, err := ParsePorts(specs)
		if err != nil {
			return
		}
		if len(got) != len(specs) {
			t.Fatalf("ParsePorts(%q) = %v: %d ranges for %d entries", specs, got, len(got), len(specs))
		}
		for i, r := range got {
			if r.From < 1 || r.To > 65535 || r.From > r.To {
				t.Fatalf("ParsePorts(%q) = %v: range %d is outside 1-65535 or backwards", specs, got, i)
			}
			if s := strings.TrimSpace(specs[i]); !qg17PortSpec.MatchString(s) {
				t.Fatalf("ParsePorts(%q) = %v: took %q, not a port, a range or *", specs, got, s)
			}
			text := strconv.Itoa(r.From)
			if r.To != r.From {
				text += "-" + strconv.Itoa(r.To)
			}
			again, err := ParsePorts([]string{text})
			if err != nil || len(again) != 1 || again[0] != r {
				t.Fatalf("range %v written as %q reads as %v, %v", r, text, again, err)
			}
		}
	})
}
