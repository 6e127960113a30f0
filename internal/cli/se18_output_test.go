package cli

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"

	"github.com/postern/postern/internal/testutil/ci"
)

// TestSE18IntegersBeyondInt64AsPython: an integer beyond int64 in a
// server's JSON answer (not a time) printed as a float64
// (12345678901234567890 as 1.2345678901234567e+19); the AWS CLI's Python
// reads it as an int and prints it exactly. The JSON output is compared
// byte for byte with the AWS CLI's formatter call (json.dump, indent=4)
// on the same document; the text, table and YAML layouts print the digits
// (as Python's str and ruamel.yaml); a JMESPath query still compares it as
// a number.
func TestSE18IntegersBeyondInt64AsPython(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		ci.Need(t, "no python3, the AWS CLI's runtime: %v", err)
	}
	for _, tc := range []struct {
		name, in string
		digits   []string // as the text and table layouts must print them
	}{
		{name: "member", in: `{"n": 12345678901234567890}`, digits: []string{"12345678901234567890"}},
		{name: "negative, beside int64's bounds and a float", in: `{"a": -12345678901234567890, "b": [18446744073709551616, 9223372036854775807, -9223372036854775808, 1.5, 1e400]}`,
			digits: []string{"-12345678901234567890", "18446744073709551616", "9223372036854775807"}},
		{name: "far beyond float64", in: `{"n": 1` + strings.Repeat("0", 400) + `}`, digits: []string{"1" + strings.Repeat("0", 400)}},
		{name: "in a list", in: `[123456789012345678901234567890]`, digits: []string{"123456789012345678901234567890"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(py, "-c", "import json,sys; json.dump(json.loads(sys.stdin.read()), sys.stdout, indent=4, ensure_ascii=False)")
			cmd.Stdin = strings.NewReader(tc.in)
			want, err := cmd.Output()
			if err != nil {
				t.Fatalf("python3 on %s: %v", tc.in, err)
			}
			v, err := fromJSON([]byte(tc.in))
			if err != nil {
				t.Fatalf("fromJSON(%s): %v", tc.in, err)
			}
			var j, x, tb, y bytes.Buffer
			writeJSON(&j, v, 0)
			writeYAML(&y, v)
			if strings.TrimSpace(j.String()) != strings.TrimSpace(string(want)) {
				t.Errorf("JSON: postern prints %q, the AWS CLI's Python %q", j.String(), want)
			}
			writeText(&x, v, "", nil)
			writeTableWidth(&tb, "Test", v, tableStyle("off", &tb), 1000)
			for _, d := range tc.digits {
				if !strings.Contains(x.String(), d) {
					t.Errorf("text %q does not print %s", x.String(), d)
				}
				if !strings.Contains(tb.String(), d) {
					t.Errorf("table %q does not print %s", tb.String(), d)
				}
				// A number to YAML, as the AWS CLI's ruamel.yaml prints an
				// int: plain, not a quoted string.
				if !strings.Contains(y.String(), " "+d+"\n") {
					t.Errorf("YAML %q does not print %s plain", y.String(), d)
				}
			}
		})
	}
	// A query compares and sorts the integer as a number, as the AWS CLI's
	// JMESPath compares Python's ints.
	v, err := fromJSON([]byte(`{"n": 12345678901234567890, "l": [18446744073709551616, 5, 12345678901234567890]}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, qc := range []struct{ expr, want string }{
		{"n > `5`", "true"},
		{"n < `5`", "false"},
		{"max(l) > n", "true"},
		{"length(sort(l))", "3"},
	} {
		q, err := compileQuery(qc.expr)
		if err != nil {
			t.Fatal(err)
		}
		r, err := q.search(v)
		if err != nil {
			t.Fatalf("--query %s: %v", qc.expr, err)
		}
		var b bytes.Buffer
		writeJSON(&b, r, 0)
		if b.String() != qc.want {
			t.Errorf("--query %s = %s, want %s", qc.expr, b.String(), qc.want)
		}
	}
}
