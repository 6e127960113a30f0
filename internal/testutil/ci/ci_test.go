package ci

import "testing"

func TestStrict(t *testing.T) {
	for _, tc := range []struct {
		v    string
		want bool
	}{{"", false}, {"false", false}, {"0", false}, {"true", true}, {"1", true}} {
		t.Setenv("CI", tc.v)
		if got := Strict(); got != tc.want {
			t.Errorf("CI=%q: Strict() = %v, want %v", tc.v, got, tc.want)
		}
	}
}
