package cli

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"

	"github.com/postern/postern/internal/testutil/ci"
)

// TestSE19QueryAndYAMLAsAWSCLI compares postern's output with the AWS
// CLI's own formatters (awscli.formatter, Debian's awscli, with its
// JMESPath) on the same document and --query: byte for byte, JSON and
// YAML. Before: YAML printed infinity and NaN (from 1e999 in a server's
// answer, or avg over them) as Python's str (inf, -inf, nan), which YAML
// reads as strings, where ruamel.yaml writes .inf, -.inf and .nan; and an
// integer a float64 cannot hold (beyond int64, or an int64 past 2^53)
// came out of a --query as a float (1.2345678901234567e+19), where the
// AWS CLI's Python int keeps its digits (noteBig).
func TestSE19QueryAndYAMLAsAWSCLI(t *testing.T) {
	const script = `import sys, json, argparse, jmespath
from awscli.formatter import YAMLFormatter, JSONFormatter
doc = json.loads(sys.argv[1])
q = jmespath.compile(sys.argv[2]) if sys.argv[2] else None
F = YAMLFormatter if sys.argv[3] == "yaml" else JSONFormatter
F(argparse.Namespace(query=q))("op", doc, sys.stdout)`
	if out, err := exec.Command(se18Python, "-c", "import awscli.formatter, jmespath").CombinedOutput(); err != nil {
		ci.Need(t, "%s cannot import awscli.formatter (Debian's awscli): %v: %s", se18Python, err, bytes.TrimSpace(out))
	}
	const doc = `{"l": [1e999, -1e999, 1.5], "n": 12345678901234567890, "m": 9007199254740993, "k": -9223372036854775808, "s": [18446744073709551616, 18446744073709551617, 3]}`
	for _, tc := range []struct{ query, format string }{
		{"l", "yaml"},
		{"[avg([l[0], l[1]])]", "yaml"},
		{"[n, m, k]", "yaml"},
		{"[n, m, k]", "json"},
		{"[max([n, `5`]), sort([m, `1`])]", "json"},
		{"{a: n, b: m}", "json"},
		{"n", "json"},
		// Not here: two integers that become one float64 (s's first two),
		// which fromJMES cannot tell apart; they print as that float.
		{"s[2:]", "json"},
	} {
		t.Run(tc.format+" "+tc.query, func(t *testing.T) {
			want, err := exec.Command(se18Python, "-c", script, doc, tc.query, tc.format).Output()
			if err != nil {
				t.Fatalf("the AWS CLI's formatter: %v", err)
			}
			v, err := fromJSON([]byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			q, err := compileQuery(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			if v, err = q.search(v); err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			if tc.format == "yaml" {
				writeYAML(&b, v)
			} else {
				writeJSON(&b, v, 0)
			}
			if got := strings.TrimSpace(b.String()); got != strings.TrimSpace(string(want)) {
				t.Errorf("postern prints\n%s\nthe AWS CLI\n%s", got, want)
			}
		})
	}
}
