package ec2api

import (
	"reflect"
	"slices"
	"testing"
)

// selectIDsMaps is selectIDs as it was before its one-id path: the
// reference the path is checked against.
func selectIDsMaps[T any](items []T, id func(T) string, ids []string, k resourceKind) ([]T, error) {
	if len(ids) == 0 {
		return items, nil
	}
	want := make(map[string]bool, len(ids))
	for _, i := range ids {
		want[i] = true
	}
	var out []T
	found := map[string]bool{}
	for _, it := range items {
		if want[id(it)] {
			out = append(out, it)
			found[id(it)] = true
		}
	}
	var missing []string
	for _, i := range ids {
		if !found[i] {
			missing = append(missing, i)
		}
	}
	if len(missing) > 0 {
		return nil, k.errNotFound(missing...)
	}
	return out, nil
}

// TestSelectIDsOneID: selecting by one id (a Describe by id) answers what
// the general path answers: the items with that id, in order, repeats
// included, or the kind's NotFound error naming it; dedupe and sortByID
// leave lists of 0 and 1 as they are.
func TestSelectIDsOneID(t *testing.T) {
	type item struct{ id, v string }
	idOf := func(i item) string { return i.id }
	items := []item{{"eice-b", "1"}, {"eice-a", "2"}, {"eice-b", "3"}, {"eice-c", "4"}}
	for _, ids := range [][]string{{"eice-a"}, {"eice-b"}, {"eice-c"}, {"eice-z"}, {""}, {"eice-a", "eice-c"}, {"eice-a", "eice-z"}, nil} {
		for _, list := range [][]item{items, nil, items[:1]} {
			got, gotErr := selectIDs(list, idOf, ids, kindEndpoint)
			want, wantErr := selectIDsMaps(list, idOf, ids, kindEndpoint)
			if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(gotErr, wantErr) {
				t.Errorf("ids %q of %v: got %v, %v; want %v, %v", ids, list, got, gotErr, want, wantErr)
			}
		}
	}
	for _, ss := range [][]string{nil, {}, {"a"}, {"b", "a", "b"}} {
		want := []string{}
		for _, s := range ss {
			if !slices.Contains(want, s) {
				want = append(want, s)
			}
		}
		if got := dedupe(slices.Clone(ss)); !slices.Equal(got, want) || (ss == nil) != (got == nil) {
			t.Errorf("dedupe(%#v) = %#v, want %#v", ss, got, want)
		}
	}
	one := []item{{"x", "1"}}
	sortByID(one, idOf)
	sortByID([]item(nil), idOf)
	if one[0].id != "x" {
		t.Errorf("sortByID changed a list of one: %v", one)
	}
}
