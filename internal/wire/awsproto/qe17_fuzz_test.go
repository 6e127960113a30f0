package awsproto

import (
	"slices"
	"strings"
	"testing"
)

// FuzzParseRegions reads arbitrary HeaderRegions values (the CLI reads
// them from whatever answered): it never panics, keeps only non-empty
// names with no comma and no surrounding space, and what it read reads
// back the same once written.
func FuzzParseRegions(f *testing.F) {
	f.Add(FormatRegions([]string{"postern-1", "us-east-1"}))
	f.Add(" a , ,b ")
	f.Add("")
	f.Add(",,,")
	f.Add("\u00a0eu-west-1\u00a0,\u2028")
	f.Fuzz(func(t *testing.T, v string) {
		rs := ParseRegions(v)
		for _, r := range rs {
			if r == "" || strings.Contains(r, ",") || strings.TrimSpace(r) != r {
				t.Fatalf("region %q from %q", r, v)
			}
		}
		if again := ParseRegions(FormatRegions(rs)); !slices.Equal(again, rs) {
			t.Fatalf("%q read %q, written and read again %q", v, rs, again)
		}
	})
}
