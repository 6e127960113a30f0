package cli

import (
	"bytes"
	"strings"
	"testing"
)

// TestYAML: the yaml layout as the AWS CLI v2's YAML library (ruamel.yaml's
// safe dumper over libyaml, block style) writes it. Each document's want
// was printed by /usr/bin/aws 2.9.19's own awscli.formatter.YAMLDumper for
// the same document: keys sorted, strings resolved by YAML 1.2 ("Yes: yes"
// plain). si19_yamlorder_test.go and sj19_yamlscalars_test.go compare with
// /usr/bin/aws itself.
func TestYAML(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"A": [[1, 2], [], ["x"]], "B": {}, "C": [], "D": [null]}`, "A:\n- - 1\n  - 2\n- []\n- - x\nB: {}\nC: []\nD:\n- null\n"},
		{`[{"a": 1}, [1, [2, 3]], "s", {}]`, "- a: 1\n- - 1\n  - - 2\n    - 3\n- s\n- {}\n"},
		{`{"Tab": "a\tb", "U": "héllo ☃", "Colon": "a:b", "Hash": "a #b", "Lead": "- x", "Q": "it's", "Star": "*x", "Yes": "yes", "Float": "1.5", "Neg": -3, "F": 2.5, "T": true, "Empty": "", "Space": " x", "Dash": "-", "Pct": "%x", "At": "@x", "Bang": "!x", "Tilde": "~", "Sq": "[x]", "Comma": "a, b", "Q2": "a?b", "Date": "2026-01-01", "Url": "https://x.example/a?b=c#d"}`,
			"At: '@x'\nBang: '!x'\nColon: a:b\nComma: a, b\nDash: '-'\nDate: '2026-01-01'\nEmpty: ''\nF: 2.5\nFloat: '1.5'\nHash: 'a #b'\nLead: '- x'\nNeg: -3\nPct: '%x'\nQ: it's\nQ2: a?b\nSpace: ' x'\nSq: '[x]'\nStar: '*x'\nT: true\nTab: \"a\\tb\"\nTilde: '~'\nU: héllo ☃\nUrl: https://x.example/a?b=c#d\nYes: yes\n"},
		{`"just a string"`, "\"just a string\"\n"}, // a scalar result: JSON, as the AWS CLI's formatter writes it
		{`"2026"`, "\"2026\"\n"},
		{`42`, "42\n"},
		{`null`, "null\n"},
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

// TestSJ19YAMLScalars: strings as awscli.formatter.YAMLDumper (AWS CLI v2
// 2.9.19) writes them in {"k": s, s: [s]}: YAML 1.2's resolution (yes, Off,
// 1:20 and _1 plain; -.5 a float, quoted), libyaml's printable set and
// escapes (U+00A0 plain, "\x7F", "\0", "\U0001F600"), line breaks inside
// single quotes, a key on several lines or past 128 bytes after "? ", a
// double-quoted string folded at 80 columns. Wants printed by
// /usr/bin/python3 with /usr/lib/python3/dist-packages/awscli; before,
// postern quoted 'yes', wrote "\x7f" and "a\nb", and wrote every key simple.
func TestSJ19YAMLScalars(t *testing.T) {
	tests := []struct{ s, want string }{
		{"yes", "k: yes\nyes:\n- yes\n"},
		{"Off", "Off:\n- Off\nk: Off\n"},
		{"1:20", "1:20:\n- 1:20\nk: 1:20\n"},
		{"-.5", "'-.5':\n- '-.5'\nk: '-.5'\n"},
		{"_1", "_1:\n- _1\nk: _1\n"},
		{"a\u00a0b", "a\u00a0b:\n- a\u00a0b\nk: a\u00a0b\n"},
		{"\x7f", "k: \"\\x7F\"\n\"\\x7F\":\n- \"\\x7F\"\n"},
		{"\x00", "\"\\0\":\n- \"\\0\"\nk: \"\\0\"\n"},
		{"a\nb", "? 'a\n\n  b'\n: - 'a\n\n    b'\nk: 'a\n\n  b'\n"},
		{"\u2028", "k: '\u2028  '\n? '\u2028  '\n: - '\u2028    '\n"},
		{"a\r\nb", "? \"a\\r\\nb\"\n: - \"a\\r\\nb\"\nk: \"a\\r\\nb\"\n"},
		{"\U0001F600", "k: \"\\U0001F600\"\n\"\\U0001F600\":\n- \"\\U0001F600\"\n"},
	}
	for _, tc := range tests {
		var b bytes.Buffer
		writeYAML(&b, ordered{{key: "k", value: tc.s}, {key: tc.s, value: []any{tc.s}}})
		if b.String() != tc.want {
			t.Errorf("%q:\n%q\nwant\n%q", tc.s, b.String(), tc.want)
		}
	}
	var b bytes.Buffer
	writeYAML(&b, ordered{{key: "D", value: strings.Repeat("tab\there ", 12)}, {key: strings.Repeat("x", 129), value: int64(1)}})
	want := "D: \"tab\\there tab\\there tab\\there tab\\there tab\\there tab\\there tab\\there tab\\there\n  tab\\there tab\\there tab\\there tab\\there \"\n? " + strings.Repeat("x", 129) + "\n: 1\n"
	if b.String() != want {
		t.Errorf("folded, long key:\n%q\nwant\n%q", b.String(), want)
	}
}

// FuzzSJ19YAMLScalar: any string, as a value, a key and an item, is
// written without a panic, ends its document with a newline, and a plain
// one is written as given.
func FuzzSJ19YAMLScalar(f *testing.F) {
	for _, s := range []string{"yes", "1:20", "a\nb", " a ", "\u2028", "\x00", strings.Repeat("ab  ", 40)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var b bytes.Buffer
		writeYAML(&b, ordered{{key: "k", value: s}, {key: s, value: []any{s}}})
		if !strings.HasSuffix(b.String(), "\n") {
			t.Fatalf("%q: %q", s, b.String())
		}
		if got, plain := yamlString(s); plain && got != s {
			t.Fatalf("%q plain as %q", s, got)
		}
	})
}
