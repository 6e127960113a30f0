package jsonkeys

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	tests := []struct {
		name, doc string
		fold      bool
		dup       string // the repeated key, "" for none
		syntax    bool
	}{
		{"flat", `{"a":1,"b":2}`, false, "", false},
		{"repeat", `{"a":1,"a":2}`, false, "a", false},
		{"repeat after a nested value", `{"a":{"x":1},"b":[1,{"y":2}],"a":3}`, false, "a", false},
		{"nested object", `{"s":[{"Effect":"Deny","Action":"*","Effect":"Allow"}]}`, false, "Effect", false},
		{"deep", `[[[{"k":{"k":{"k":1,"k":2}}}]]]`, false, "k", false},
		{"same name in sibling objects", `[{"a":1},{"a":2}]`, false, "", false},
		{"same name at two depths", `{"a":{"a":1}}`, false, "", false},
		{"escaped", `{"Effect":1,"\u0045ffect":2}`, false, "Effect", false},
		{"case differs, exact", `{"Effect":1,"effect":2}`, false, "", false},
		{"case differs, fold", `{"Effect":1,"effect":2}`, true, "effect", false},
		{"kelvin sign folds to k", "{\"k\":1,\"\u212a\":2}", true, "\u212a", false},
		{"string values are not keys", `{"a":"a","b":"a"}`, false, "", false},
		{"array of strings", `{"a":["a","a"]}`, false, "", false},
		{"scalars", `"x"`, false, "", false},
		{"huge number", `{"n":1e400}`, false, "", false},
		{"not JSON", `{"a":`, false, "", true},
		{"empty", ``, false, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Check([]byte(tc.doc), tc.fold)
			var de *DuplicateError
			switch {
			case tc.syntax:
				if !errors.Is(err, ErrSyntax) {
					t.Fatalf("got %v, want a syntax error", err)
				}
			case tc.dup != "":
				if !errors.As(err, &de) || de.Key != tc.dup {
					t.Fatalf("got %v, want the duplicate %q", err, tc.dup)
				}
			case err != nil:
				t.Fatalf("got %v, want nil", err)
			}
		})
	}
}

// FuzzCheck: Check never panics, and a document it passes without folding
// decodes to an object map with as many members as it has names.
func FuzzCheck(f *testing.F) {
	f.Add(`{"a":1,"b":{"a":[1,2,{"c":null}]}}`)
	f.Add(`{"a":1,"a":2}`)
	f.Add(`[{"x":"y"},{"x":"z"}]`)
	f.Fuzz(func(t *testing.T, doc string) {
		err := Check([]byte(doc), false)
		_ = Check([]byte(doc), true)
		if err != nil || !json.Valid([]byte(doc)) {
			return
		}
		var top map[string]json.RawMessage
		if json.Unmarshal([]byte(doc), &top) != nil {
			return
		}
		dec := json.NewDecoder(strings.NewReader(doc))
		if _, err := dec.Token(); err != nil {
			return
		}
		names := 0
		for dec.More() {
			if _, err := dec.Token(); err != nil {
				return
			}
			var v json.RawMessage
			if dec.Decode(&v) != nil {
				return
			}
			names++
		}
		if names != len(top) {
			t.Fatalf("Check passed %q but it has %d names for %d members", doc, names, len(top))
		}
	})
}
