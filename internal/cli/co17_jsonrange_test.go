package cli

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestJSONOutputNumbersOutOfRange: a server answer holding valid JSON
// numbers that Go's float64 or the CLI's time text cannot carry prints as
// the AWS CLI prints it, instead of failing the whole output (1e400) or
// printing a date that overflowed int64 (FuzzFromJSON found both, s17).
func TestJSONOutputNumbersOutOfRange(t *testing.T) {
	for _, c := range []struct {
		name, in, json, text string
	}{
		{"beyond float64", `{"a": 1e400}`, `"a": Infinity`, "inf"},
		{"below -float64", `{"a": -1e400}`, `"a": -Infinity`, "-inf"},
		{"time past year 9999", `{"UpdatedAt": 12345678901234567890}`, `"UpdatedAt": 1.2345678901234567e+19`, "1.2345678901234567e+19"},
		{"time before year 1", `{"CreatedAt": -1e19}`, `"CreatedAt": -1e+19`, "-1e+19"},
		{"time in range", `{"CreatedAt": 0}`, `"CreatedAt": "1970-01-01T00:00:00+00:00"`, "1970-01-01T00:00:00+00:00"},
	} {
		t.Run(c.name, func(t *testing.T) {
			v, err := fromJSON([]byte(c.in))
			if err != nil {
				t.Fatalf("fromJSON(%s): %v", c.in, err)
			}
			var j, x bytes.Buffer
			writeJSON(&j, v, 0)
			if !strings.Contains(j.String(), c.json) {
				t.Errorf("JSON output %q, want it to hold %q", j.String(), c.json)
			}
			writeText(&x, v, "", nil)
			if !strings.Contains(x.String(), c.text) {
				t.Errorf("text output %q, want it to hold %q", x.String(), c.text)
			}
		})
	}
}

// TestJSONOutputOutOfRangeAsPython: the JSON output of numbers beyond
// float64 is what the AWS CLI's own formatter (Python's json.dump with
// indent=4) prints for the same document, run through the python3 that
// the AWS CLI runs on.
func TestJSONOutputOutOfRangeAsPython(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("python3, the AWS CLI's runtime, is not installed: %v", err)
		}
		t.Skip("no python3")
	}
	for _, in := range []string{`{"a": 1e400}`, `{"a": -1e400, "b": [1e999, 2.5]}`, `[1e400]`} {
		cmd := exec.Command(py, "-c", "import json,sys; json.dump(json.loads(sys.stdin.read()), sys.stdout, indent=4, ensure_ascii=False)")
		cmd.Stdin = strings.NewReader(in)
		want, err := cmd.Output()
		if err != nil {
			t.Fatalf("python3 on %s: %v", in, err)
		}
		v, err := fromJSON([]byte(in))
		if err != nil {
			t.Fatalf("fromJSON(%s): %v", in, err)
		}
		var got bytes.Buffer
		writeJSON(&got, v, 0)
		if strings.TrimSpace(got.String()) != strings.TrimSpace(string(want)) {
			t.Errorf("%s: postern prints %q, the AWS CLI's Python %q", in, got.String(), want)
		}
	}
}
