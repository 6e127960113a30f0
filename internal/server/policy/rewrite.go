package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// MapAWSPrincipals returns doc with every value of the "AWS" member of its
// statements' Principal and NotPrincipal elements replaced by what fn
// returns for it; everything else, formatting included, is kept byte for
// byte. doc must be a document Parse accepted. An error from fn is
// returned as is.
//
// IAM binds the users and roles a resource policy names to their unique
// ids when it stores the policy, and shows the ARN again while the
// identity exists (its unique id once it is gone): callers store and show
// policies through this function.
func MapAWSPrincipals(doc string, fn func(v string) (string, error)) (string, error) {
	w := &principalWalker{doc: doc, dec: json.NewDecoder(strings.NewReader(doc)), fn: fn}
	if err := w.document(); err != nil {
		return "", err
	}
	if len(w.edits) == 0 {
		return doc, nil
	}
	var b strings.Builder
	last := 0
	for _, e := range w.edits {
		b.WriteString(doc[last:e.start])
		b.WriteString(e.text)
		last = e.end
	}
	b.WriteString(doc[last:])
	return b.String(), nil
}

// errRewrite reports a document MapAWSPrincipals cannot walk; it happens
// only to a document Parse would refuse.
var errRewrite = errors.New("policy: not a policy document")

// principalWalker finds the "AWS" principal values of a document.
type principalWalker struct {
	doc   string
	dec   *json.Decoder
	fn    func(string) (string, error)
	edits []edit
}

// edit replaces doc[start:end] (a JSON string literal) with text.
type edit struct {
	start, end int
	text       string
}

// document walks the top-level object.
func (w *principalWalker) document() error {
	if err := w.delim('{'); err != nil {
		return err
	}
	for w.dec.More() {
		key, err := w.key()
		if err != nil {
			return err
		}
		if key != "Statement" {
			if err := w.skip(); err != nil {
				return err
			}
			continue
		}
		tok, err := w.dec.Token()
		if err != nil {
			return fmt.Errorf("%w: %w", errRewrite, err)
		}
		switch tok {
		case json.Delim('['):
			for w.dec.More() {
				if err := w.delim('{'); err != nil {
					return err
				}
				if err := w.statement(); err != nil {
					return err
				}
			}
			if err := w.delim(']'); err != nil {
				return err
			}
		case json.Delim('{'):
			if err := w.statement(); err != nil {
				return err
			}
		default:
			return errRewrite
		}
	}
	return w.delim('}')
}

// statement walks one statement's members, after its '{'.
func (w *principalWalker) statement() error {
	for w.dec.More() {
		key, err := w.key()
		if err != nil {
			return err
		}
		if key == "Principal" || key == "NotPrincipal" {
			err = w.principal()
		} else {
			err = w.skip()
		}
		if err != nil {
			return err
		}
	}
	return w.delim('}')
}

// principal walks a Principal or NotPrincipal element: "*" or an object.
func (w *principalWalker) principal() error {
	tok, err := w.dec.Token()
	if err != nil {
		return fmt.Errorf("%w: %w", errRewrite, err)
	}
	if _, ok := tok.(string); ok {
		return nil // "*"
	}
	if tok != json.Delim('{') {
		return errRewrite
	}
	for w.dec.More() {
		key, err := w.key()
		if err != nil {
			return err
		}
		if key != "AWS" {
			if err := w.skip(); err != nil {
				return err
			}
			continue
		}
		start := w.dec.InputOffset()
		tok, err := w.dec.Token()
		if err != nil {
			return fmt.Errorf("%w: %w", errRewrite, err)
		}
		switch v := tok.(type) {
		case string:
			if err := w.value(start, v); err != nil {
				return err
			}
		case json.Delim:
			if v != '[' {
				return errRewrite
			}
			for w.dec.More() {
				start := w.dec.InputOffset()
				tok, err := w.dec.Token()
				if err != nil {
					return fmt.Errorf("%w: %w", errRewrite, err)
				}
				s, ok := tok.(string)
				if !ok {
					return errRewrite
				}
				if err := w.value(start, s); err != nil {
					return err
				}
			}
			if err := w.delim(']'); err != nil {
				return err
			}
		default:
			return errRewrite
		}
	}
	return w.delim('}')
}

// value maps one principal value, the string token that was just read
// after offset from.
func (w *principalWalker) value(from int64, v string) error {
	end := int(w.dec.InputOffset())
	// Between two tokens there are only blanks, ',' and ':', so the
	// string literal begins at the first quote after from.
	start := int(from) + strings.IndexByte(w.doc[from:end], '"')
	if start < int(from) {
		return errRewrite
	}
	repl, err := w.fn(v)
	if err != nil {
		return err
	}
	if repl == v {
		return nil
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(repl); err != nil {
		return fmt.Errorf("policy: encode principal: %w", err)
	}
	w.edits = append(w.edits, edit{start: start, end: end, text: strings.TrimSuffix(b.String(), "\n")})
	return nil
}

// key reads an object member's name.
func (w *principalWalker) key() (string, error) {
	tok, err := w.dec.Token()
	if err != nil {
		return "", fmt.Errorf("%w: %w", errRewrite, err)
	}
	k, ok := tok.(string)
	if !ok {
		return "", errRewrite
	}
	return k, nil
}

// delim reads the delimiter d.
func (w *principalWalker) delim(d json.Delim) error {
	tok, err := w.dec.Token()
	if errors.Is(err, io.EOF) || (err == nil && tok != d) {
		return errRewrite
	}
	if err != nil {
		return fmt.Errorf("%w: %w", errRewrite, err)
	}
	return nil
}

// skip reads and drops one value.
func (w *principalWalker) skip() error {
	var raw json.RawMessage
	if err := w.dec.Decode(&raw); err != nil {
		return fmt.Errorf("%w: %w", errRewrite, err)
	}
	return nil
}
