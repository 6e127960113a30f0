// Package jsonkeys finds JSON objects that name a member twice.
//
// encoding/json keeps the last of repeated member names (and, for struct
// fields, matches names case-insensitively), so {"Effect":"Deny",
// "Effect":"Allow"} silently means Allow. Callers that must mean exactly
// what a document says (IAM policies, AWS JSON request bodies) check it
// here first and refuse repeats.
package jsonkeys

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
)

// DuplicateError reports a member name repeated within one object.
type DuplicateError struct {
	// Key is the second occurrence, as written (after JSON unescaping).
	Key string
}

func (e *DuplicateError) Error() string {
	return fmt.Sprintf("jsonkeys: the member %q appears more than once in one object", e.Key)
}

// ErrSyntax wraps the decoder's error for a document that is not JSON.
var ErrSyntax = errors.New("jsonkeys: not a JSON document")

// Check walks the first JSON value in data and returns a *DuplicateError
// for the first object, at any depth, that repeats a member name; with
// fold, names that differ only in letter case count as the same name (as
// encoding/json matches them to struct fields). A document that does not
// parse gives an error wrapping ErrSyntax. Trailing data is not examined.
func Check(data []byte, fold bool) error {
	type frame struct {
		object  bool
		wantKey bool
		seen    map[string]struct{}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var stack []frame
	for {
		tok, err := dec.Token()
		if err != nil {
			if errors.Is(err, io.EOF) && len(stack) == 0 {
				return fmt.Errorf("%w: empty document", ErrSyntax)
			}
			return fmt.Errorf("%w: %v", ErrSyntax, err)
		}
		var top *frame
		if len(stack) > 0 {
			top = &stack[len(stack)-1]
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				if top != nil && top.object {
					top.wantKey = true // after this value, the next member's name
				}
				stack = append(stack, frame{object: t == '{', wantKey: t == '{'})
				continue
			default: // '}' or ']'
				stack = stack[:len(stack)-1]
				if len(stack) == 0 {
					return nil
				}
				continue
			}
		case string:
			if top != nil && top.object && top.wantKey {
				k := t
				if fold {
					k = foldKey(t)
				}
				if _, dup := top.seen[k]; dup {
					return &DuplicateError{Key: t}
				}
				if top.seen == nil {
					top.seen = map[string]struct{}{}
				}
				top.seen[k] = struct{}{}
				top.wantKey = false
				continue
			}
		}
		// A scalar value.
		if top == nil {
			return nil
		}
		if top.object {
			top.wantKey = true
		}
	}
}

// foldKey maps each rune to the smallest rune of its case-folding orbit,
// so that two names are equal under strings.EqualFold exactly when their
// folded forms are equal.
func foldKey(s string) string {
	return strings.Map(func(r rune) rune {
		m := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if f < m {
				m = f
			}
		}
		return m
	}, s)
}
