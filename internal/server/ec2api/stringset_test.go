package ec2api

import (
	"slices"
	"testing"
)

// TestStringSetSharesNothingWritable: stringSet renders the stored id
// list without copying it, so its items must not let a writer reach the
// stored list: an append to them copies (capacity cut to length), and an
// empty or nil list renders as an empty, non-nil set.
func TestStringSetSharesNothingWritable(t *testing.T) {
	tests := []struct {
		name string
		ids  []string
	}{
		{"nil", nil},
		{"empty", []string{}},
		{"one", []string{"sg-1"}},
		{"two, spare capacity", append(make([]string, 0, 8), "eni-1", "eni-2")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stored := slices.Clone(tc.ids)
			full := tc.ids[:cap(tc.ids)]
			before := slices.Clone(full)
			got := stringSet(tc.ids)
			if got.Items == nil || !slices.Equal(got.Items, stored) {
				t.Fatalf("stringSet(%q) = %#v", tc.ids, got.Items)
			}
			if cap(got.Items) != len(got.Items) {
				t.Fatalf("capacity %d beyond length %d: an append would write into the stored list", cap(got.Items), len(got.Items))
			}
			_ = append(got.Items, "x")
			if !slices.Equal(tc.ids[:cap(tc.ids)], before) {
				t.Fatalf("an append to the rendered items changed the stored list: %q", tc.ids[:cap(tc.ids)])
			}
		})
	}
}
