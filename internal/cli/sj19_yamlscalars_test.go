//go:build !postern_client

package cli_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// sj19Tricky are strings whose YAML form is easy to get wrong: words and
// numbers YAML 1.1 would read as booleans or sexagesimals (plain in YAML
// 1.2, which the AWS CLI's ruamel.yaml writes), numbers and nulls YAML 1.2
// reads (quoted), indicators, spaces and tabs at the ends, line breaks,
// characters outside libyaml's printable set (escaped in double quotes),
// non-ASCII, empty and long strings (folded at 80 columns).
var sj19Tricky = []string{
	"yes", "no", "on", "off", "y", "n", "Yes", "NO", "On", "OFF", "true", "False", "null", "NULL", "~", "",
	"1:20", "-1:20", "190:20:30", "12:34:56.7", "0x1F", "0o17", "017", "0b101", "1_000", "_1", "1e3", "1E3",
	".5", "-.5", "+.5", "5.", ".inf", "-.Inf", ".nan", "NaN", "2001-12-14", "2001-12-14t21:59:43.10-05:00",
	"=", "<<", "-", "- a", "-a", "#", "a #b", "a#b", ": ", ":a", "a:", "a: b", "?", "? a", "---", "... a",
	"!a", "&a", "*a", "|", ">a", "%a", "@a", "`a", "'a", `"a`, "a'b", `a\b`, "[a", "{a", ",a",
	" a", "a ", " ", "\t", "a\tb", "a\nb", "a\n\nb", "yes\n", "\na", "a \nb", "a\n b", "a\r\nb",
	"a\u2028b", "a\u00a0b", "\u0085", "\ufeff", "\x7f", "\x00", "\x1b", "é", "日本", "😀",
	strings.Repeat("word ", 30), strings.Repeat("tab\there ", 15), strings.Repeat("x  ", 40) + "\x01",
	strings.Repeat("a\nb ", 20)[:79], strings.Repeat("long ", 20) + "  double" + strings.Repeat(" end", 10),
}

// TestSJ19YAMLScalarsAsAWSCLI: --output yaml quotes, escapes and folds
// strings byte for byte as /usr/bin/aws (AWS CLI v2 2.9.19, ruamel.yaml's
// safe dumper over libyaml) does, on the same --query results: every
// sj19Tricky string as a list item, as a map value, and as a map key (a
// key on several lines or longer than 128 bytes is written after "? ");
// and a scalar result (root*), which the AWS CLI writes as JSON. Before,
// postern quoted yes/no/on/off and 1:20 ('yes'), escaped as Go does
// ("\x7f", "\u00a0"), wrote line breaks as "\n" escapes, never folded a
// double-quoted string, and wrote a scalar result as a YAML document
// ('123', "2\n...").
func TestSJ19YAMLScalarsAsAWSCLI(t *testing.T) {
	_, awsEnv, common := awsCLIBeside(t)
	// A JMESPath JSON literal (`...`, jmesLiteral) carries any string; a quoted
	// identifier (jmesText) any key.
	var items, values, keys []string
	for i, s := range sj19Tricky {
		items = append(items, jmesLiteral(t, s))
		values = append(values, jmesText(t, "k"+string(rune('A'+i/26))+string(rune('a'+i%26)))+": "+jmesLiteral(t, s))
		if s != "" { // JMESPath has no empty identifier
			keys = append(keys, jmesText(t, s)+": "+jmesLiteral(t, s))
		}
	}
	for name, query := range map[string]string{
		"items":    "[" + strings.Join(items, ", ") + "]",
		"values":   "{" + strings.Join(values, ", ") + "}",
		"keys":     "{" + strings.Join(keys, ", ") + "}",
		"nested":   "{a: [{b: [" + strings.Join(items, ", ") + "]}]}",
		"root":     "Account",
		"rootyes":  "`\"yes\"`",
		"rootnum":  "`2.5`",
		"rootnull": "`null`",
		"roottrue": "`true`",
		"rootesc":  jmesLiteral(t, "a\u00e9\n\x01\"<&\u2028"),
	} {
		t.Run(name, func(t *testing.T) {
			args := append(common, "sts", "get-caller-identity", "--output", "yaml", "--query", query)
			outputAsAWSCLI(t, awsEnv, args...)
		})
	}
}

// jmesText is s as a JSON string, which a JMESPath quoted identifier
// ("...", JSON escapes) takes.
func jmesText(t *testing.T, s string) string {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// jmesLiteral is s as a JMESPath JSON literal (`...`), which carries any
// string.
func jmesLiteral(t *testing.T, s string) string {
	t.Helper()
	return "`" + strings.ReplaceAll(jmesText(t, s), "`", "\\`") + "`"
}
