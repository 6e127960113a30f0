package awsproto

import (
	"slices"
	"testing"
)

// ParseRegions reads what FormatRegions writes, and nothing from an
// absent header.
func TestRegionsHeader(t *testing.T) {
	tests := []struct {
		regions []string
		value   string
	}{
		{[]string{"postern-1", "us-east-1"}, "postern-1,us-east-1"},
		{[]string{"us-east-1"}, "us-east-1"},
		{nil, ""},
	}
	for _, tt := range tests {
		if got := FormatRegions(tt.regions); got != tt.value {
			t.Errorf("FormatRegions(%q) = %q, want %q", tt.regions, got, tt.value)
		}
		if got := ParseRegions(tt.value); !slices.Equal(got, tt.regions) {
			t.Errorf("ParseRegions(%q) = %q, want %q", tt.value, got, tt.regions)
		}
	}
	if got := ParseRegions(" a , ,b "); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("ParseRegions with spaces = %q", got)
	}
}
