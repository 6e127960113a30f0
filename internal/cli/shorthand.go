package cli

import (
	"fmt"
	"strings"
)

// ParseShorthand parses the AWS CLI's shorthand syntax for a structure:
//
//	Key=a,Value=b
//	Name=vpc-id,Values=vpc-1,vpc-2          (a value that runs on is a list)
//	IpProtocol=tcp,UserIdGroupPairs=[{GroupId=sg-1},{GroupId=sg-2}]
//	ResourceType=instance-connect-endpoint,Tags=[{Key=Name,Value=x}]
//	Key='a,b',Value="c=d"                   (quotes keep separators literal)
//
// Values are strings, []any and map[string]any; the caller converts them
// to the target type.
func ParseShorthand(s string) (map[string]any, error) {
	p := &shParser{s: s}
	m, err := p.structure(true)
	if err != nil {
		return nil, err
	}
	if p.i != len(p.s) {
		return nil, p.errorf("unexpected %q", p.s[p.i])
	}
	return m, nil
}

// parseShorthandList parses a list value: [a,b], a,b or [{..},{..}].
func parseShorthandList(s string) ([]any, error) {
	p := &shParser{s: s}
	var out []any
	var err error
	if strings.HasPrefix(s, "[") {
		out, err = p.list()
	} else {
		for {
			var v any
			if v, err = p.item(); err != nil {
				break
			}
			out = append(out, v)
			if !p.eat(',') {
				break
			}
		}
	}
	if err != nil {
		return nil, err
	}
	if p.i != len(p.s) {
		return nil, p.errorf("unexpected %q", p.s[p.i])
	}
	return out, nil
}

type shParser struct {
	s string
	i int
}

func (p *shParser) errorf(format string, args ...any) error {
	return fmt.Errorf("invalid shorthand at column %d in %q: %s", p.i+1, p.s, fmt.Sprintf(format, args...))
}

func (p *shParser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *shParser) eat(c byte) bool {
	if p.peek() == c && p.i < len(p.s) {
		p.i++
		return true
	}
	return false
}

func (p *shParser) skipSpace() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

// structure parses key=value pairs; top is true outside braces, where a
// bare value may run on as a list.
func (p *shParser) structure(top bool) (map[string]any, error) {
	m := map[string]any{}
	for {
		p.skipSpace()
		start := p.i
		for p.i < len(p.s) && p.s[p.i] != '=' && p.s[p.i] != ',' && p.s[p.i] != '}' && p.s[p.i] != ']' {
			p.i++
		}
		key := strings.TrimSpace(p.s[start:p.i])
		if key == "" {
			return nil, p.errorf("expected a key")
		}
		if !p.eat('=') {
			return nil, p.errorf("expected '=' after %q", key)
		}
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		// A bare value followed by ",x" where x has no '=' runs on as a list.
		if _, isStr := v.(string); isStr {
			list := []any{v}
			extended := false
			for p.peek() == ',' && !p.nextIsPair() {
				p.i++
				item, err := p.item()
				if err != nil {
					return nil, err
				}
				list = append(list, item)
				extended = true
			}
			if extended {
				v = list
			}
		}
		m[key] = v
		if !p.eat(',') {
			return m, nil
		}
	}
}

// nextIsPair reports whether the text after the comma at p.i starts a
// key=value pair rather than another list item.
func (p *shParser) nextIsPair() bool {
	for j := p.i + 1; j < len(p.s); j++ {
		switch p.s[j] {
		case '=':
			return true
		case ',', '[', ']', '{', '}', '\'', '"':
			return false
		}
	}
	return false
}

func (p *shParser) value() (any, error) {
	p.skipSpace()
	switch p.peek() {
	case '[':
		return p.list()
	case '{':
		p.i++
		m, err := p.structure(false)
		if err != nil {
			return nil, err
		}
		if !p.eat('}') {
			return nil, p.errorf("expected '}'")
		}
		return m, nil
	}
	return p.scalar()
}

func (p *shParser) item() (any, error) {
	return p.value()
}

func (p *shParser) list() ([]any, error) {
	if !p.eat('[') {
		return nil, p.errorf("expected '['")
	}
	out := []any{}
	p.skipSpace()
	if p.eat(']') {
		return out, nil
	}
	for {
		v, err := p.item()
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		p.skipSpace()
		if p.eat(']') {
			return out, nil
		}
		if !p.eat(',') {
			return nil, p.errorf("expected ',' or ']'")
		}
	}
}

func (p *shParser) scalar() (string, error) {
	if q := p.peek(); q == '\'' || q == '"' {
		p.i++
		start := p.i
		for p.i < len(p.s) && p.s[p.i] != q {
			p.i++
		}
		if p.i >= len(p.s) {
			return "", p.errorf("unterminated quote")
		}
		v := p.s[start:p.i]
		p.i++
		return v, nil
	}
	start := p.i
	for p.i < len(p.s) && !strings.ContainsRune(",]}", rune(p.s[p.i])) {
		p.i++
	}
	return strings.TrimSpace(p.s[start:p.i]), nil
}
