package cli

import (
	"bytes"
	"testing"
)

// TestYAML: the yaml layout as the AWS CLI v2's YAML library (a PyYAML
// safe dumper, block style) writes it. Each want was printed by PyYAML's
// yaml.dump(v, default_flow_style=False, allow_unicode=True,
// sort_keys=True) for the same document: keys sorted, as the AWS CLI's
// ruamel.yaml sorts a mapping's keys (si19_yamlorder_test.go compares with
// /usr/bin/aws itself).
func TestYAML(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"A": [[1, 2], [], ["x"]], "B": {}, "C": [], "D": [null]}`, "A:\n- - 1\n  - 2\n- []\n- - x\nB: {}\nC: []\nD:\n- null\n"},
		{`[{"a": 1}, [1, [2, 3]], "s", {}]`, "- a: 1\n- - 1\n  - - 2\n    - 3\n- s\n- {}\n"},
		{`{"Tab": "a\tb", "U": "héllo ☃", "Colon": "a:b", "Hash": "a #b", "Lead": "- x", "Q": "it's", "Star": "*x", "Yes": "yes", "Float": "1.5", "Neg": -3, "F": 2.5, "T": true, "Empty": "", "Space": " x", "Dash": "-", "Pct": "%x", "At": "@x", "Bang": "!x", "Tilde": "~", "Sq": "[x]", "Comma": "a, b", "Q2": "a?b", "Date": "2026-01-01", "Url": "https://x.example/a?b=c#d"}`,
			"At: '@x'\nBang: '!x'\nColon: a:b\nComma: a, b\nDash: '-'\nDate: '2026-01-01'\nEmpty: ''\nF: 2.5\nFloat: '1.5'\nHash: 'a #b'\nLead: '- x'\nNeg: -3\nPct: '%x'\nQ: it's\nQ2: a?b\nSpace: ' x'\nSq: '[x]'\nStar: '*x'\nT: true\nTab: \"a\\tb\"\nTilde: '~'\nU: héllo ☃\nUrl: https://x.example/a?b=c#d\n'Yes': 'yes'\n"},
		{`"just a string"`, "just a string\n...\n"},
		{`"2026"`, "'2026'\n"},
		{`42`, "42\n...\n"},
		{`null`, "null\n...\n"},
		{`[]`, "[]\n"},
		{`{}`, "{}\n"},
		{`{"Long": "aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj kkkk llll mmmm nnnn oooo pppp qqqq rrrr ssss tttt uuuu vvvv", "L": [{"Q": "it's a very long quoted: string with colons: that goes past the eighty column limit for sure yes"}]}`,
			"L:\n- Q: 'it''s a very long quoted: string with colons: that goes past the eighty column\n    limit for sure yes'\nLong: aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj kkkk llll mmmm nnnn oooo pppp\n  qqqq rrrr ssss tttt uuuu vvvv\n"},
	}
	for _, tc := range tests {
		v, err := fromJSON([]byte(tc.in))
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		writeYAML(&b, v)
		if b.String() != tc.want {
			t.Errorf("%s:\n%s\nwant\n%s", tc.in, b.String(), tc.want)
		}
	}
}
