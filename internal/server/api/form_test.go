package api

import (
	"errors"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// checkForm checks parseForm(form) against url.ParseQuery(form) and the
// refusal of a repeated name: the same error or none; a repeat named by
// a name url.ParseQuery gives twice; otherwise the same map, each value
// a slice of capacity 1.
func checkForm(t *testing.T, form string) {
	t.Helper()
	got, err := parseForm(form)
	want, werr := url.ParseQuery(form)
	var dup *duplicateParamError
	switch {
	case werr != nil:
		if err == nil || errors.As(err, &dup) || !strings.Contains(err.Error(), werr.Error()) {
			t.Fatalf("parseForm(%q) = %v, %v; url.ParseQuery refuses it: %v", form, got, err, werr)
		}
	case errors.As(err, &dup):
		if len(want[dup.name]) < 2 {
			t.Fatalf("parseForm(%q) names %q as repeated; url.ParseQuery gives %q", form, dup.name, want)
		}
	case err != nil:
		t.Fatalf("parseForm(%q): %v; url.ParseQuery accepts it: %q", form, err, want)
	default:
		for k, v := range want {
			if len(v) > 1 {
				t.Fatalf("parseForm(%q) accepted %q twice", form, k)
			}
		}
		if !maps.EqualFunc(map[string][]string(got), map[string][]string(want), slices.Equal[[]string]) {
			t.Fatalf("parseForm(%q) = %q, want %q", form, got, want)
		}
		for k, v := range got {
			if cap(v) != 1 {
				t.Fatalf("parseForm(%q)[%q] has capacity %d: an append would write into another value", form, k, cap(v))
			}
		}
	}
}

// TestParseFormMatchesParseQuery: parseForm answers what url.ParseQuery
// and a check for repeated names answered, for the SDKs' forms, escapes,
// empty fields and values, repeats (first, last, escaped two ways),
// malformed escapes, semicolons and more fields than its fast path takes.
func TestParseFormMatchesParseQuery(t *testing.T) {
	many := make([]string, maxFastFormFields+1)
	for i := range many {
		many[i] = "P" + strconv.Itoa(i) + "=v"
	}
	tests := []string{
		"Action=GetCallerIdentity&Version=2011-06-15",
		"Action=DescribeInstanceConnectEndpoints&InstanceConnectEndpointId.1=eice-0123456789abcdef0&Version=2016-11-15",
		"Action=X&Filter.1.Name=tag%3AName&Filter.1.Value.1=a+b%26c&Version=1",
		"Action=X&&Version=1&",
		"&",
		"=",
		"=&=", // the empty name, twice (found by FuzzParseForm)
		"a",
		"a=",
		"=v",
		"a=1&a=2",
		"a=1&b=2&a=1",
		"a=1&%61=2",
		"a=1&b=1&b=2&a=2",
		"a=%zz",
		"%zz=1",
		"a=1&b=%zz&a=2",
		"a=1;b=2",
		"a=1&a=2&c=%",
		"a=%E2%9C%93&b=+",
		strings.Join(many, "&"),
		strings.Join(many, "&") + "&P0=again",
		strings.Join(many[:maxFastFormFields], "&"),
	}
	for _, form := range tests {
		t.Run(form[:min(len(form), 40)], func(t *testing.T) { checkForm(t, form) })
	}
}

// TestParseFormNamesFirstRepeat: the refusal names the first name that
// comes again, in the form's order.
func TestParseFormNamesFirstRepeat(t *testing.T) {
	tests := []struct{ form, name string }{
		{"b=1&a=1&a=2&b=2", "a"},
		{"z=1&z=2&a=1&a=2", "z"},
		{"Action=X&User%4Eame=a&UserName=b", "UserName"},
	}
	for _, tc := range tests {
		_, err := parseForm(tc.form)
		var dup *duplicateParamError
		if !errors.As(err, &dup) || dup.name != tc.name {
			t.Fatalf("parseForm(%q): %v, want %q named", tc.form, err, tc.name)
		}
	}
}

func FuzzParseForm(f *testing.F) {
	for _, s := range []string{"Action=GetCallerIdentity&Version=2011-06-15", "a=1&a=2", "a=%zz", "a;b", "&&=&", "a=+%20&b=%2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, form string) { checkForm(t, form) })
}
