package cli

import (
	"bytes"
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
