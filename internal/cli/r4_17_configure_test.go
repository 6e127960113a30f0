package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestR4NestedSettings: the AWS CLI's nested settings ("s3 =" and then
// lines indented deeper, as `aws configure set s3.use_dualstack_endpoint
// true` writes them) are the value of s3 for botocore's configparser, not
// settings of the profile. writeINI took them for settings: it refused to
// set a top-level setting that a nested one shares a name with ("a setting
// twice, which the AWS CLI refuses too" — it does not), or rewrote the
// nested line as a top-level one; readINI read the nested value as the
// profile's.
func TestR4NestedSettings(t *testing.T) {
	for _, tc := range []struct {
		name, file, sect, key, value string
		want                         string // the file after writeINI
	}{
		{name: "nested and top-level share a name",
			file: "[default]\ns3 =\n    use_dualstack_endpoint = true\nuse_dualstack_endpoint = false\n",
			sect: "default", key: "use_dualstack_endpoint", value: "true",
			want: "[default]\ns3 =\n    use_dualstack_endpoint = true\nuse_dualstack_endpoint = true\n"},
		{name: "only a nested one",
			file: "[profile dev]\ns3 =\n  endpoint_url = https://s3.example\n\n[default]\n",
			sect: "profile dev", key: "endpoint_url", value: "https://postern.example:8443",
			want: "[profile dev]\ns3 =\n  endpoint_url = https://s3.example\nendpoint_url = https://postern.example:8443\n\n[default]\n"},
		{name: "nested block ends at the next top-level line",
			file: "[default]\ns3 =\n\tregion = x\n\n  # a comment\n\tmax_concurrent_requests = 2\nregion = a\n",
			sect: "default", key: "region", value: "b",
			want: "[default]\ns3 =\n\tregion = x\n\n  # a comment\n\tmax_concurrent_requests = 2\nregion = b\n"},
		{name: "keys indented alike are keys",
			file: "[default]\n  output =\n  region = a\n",
			sect: "default", key: "region", value: "b",
			want: "[default]\n  output =\nregion = b\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config")
			if err := os.WriteFile(path, []byte(tc.file), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := writeINI(path, tc.sect, tc.key, tc.value); err != nil {
				t.Fatalf("writeINI(%q, %q, %q): %v", tc.sect, tc.key, tc.value, err)
			}
			b, _ := os.ReadFile(path)
			if string(b) != tc.want {
				t.Errorf("the file reads %q, want %q", b, tc.want)
			}
			if got := readINI(path, tc.sect)[tc.key]; got != tc.value {
				t.Errorf("readINI: [%s] %s = %q, want %q", tc.sect, tc.key, got, tc.value)
			}
		})
	}
	// A nested setting after the top-level one does not hide it.
	path := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(path, []byte("[default]\nuse_dualstack_endpoint = false\ns3 =\n    use_dualstack_endpoint = true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := readINI(path, "default")["use_dualstack_endpoint"]; got != "false" {
		t.Errorf("readINI: use_dualstack_endpoint = %q, want the top-level %q", got, "false")
	}
}

// TestR4NestedSettingsKept: an edit that would change which lines are
// nested settings is refused, the file as it was: replacing "s3 =" (its
// nested lines would become the profile's settings), or setting an empty
// value before indented lines (they would become its nested settings).
// FuzzWriteINI's property (every other setting reads as before) holds.
func TestR4NestedSettingsKept(t *testing.T) {
	for _, tc := range []struct{ name, file, key, value string }{
		{"the parent of nested settings", "[default]\nregion = y\ns3 =\n  region = x\n", "s3", "z"},
		{"empty before indented lines", "[default]\nk = 1\n  j = 2\n", "k", ""},
		{"blank before indented lines after a comment", "[default]\nk = 1\n# c\n\n\tj = 2\n", "k", " "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config")
			if err := os.WriteFile(path, []byte(tc.file), 0o600); err != nil {
				t.Fatal(err)
			}
			err := writeINI(path, "default", tc.key, tc.value)
			if err == nil || !strings.Contains(err.Error(), "nested settings") {
				b, _ := os.ReadFile(path)
				t.Fatalf("writeINI(%s = %q): %v, want a refusal naming nested settings; the file reads %q", tc.key, tc.value, err, b)
			}
			if b, _ := os.ReadFile(path); string(b) != tc.file {
				t.Errorf("refused, but the file changed to %q", b)
			}
		})
	}
	// An empty value before a line that is not indented is written.
	path := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(path, []byte("[default]\nk = 1\nj = 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := writeINI(path, "default", "k", ""); err != nil {
		t.Fatal(err)
	}
	if got := readINI(path, "default"); got["k"] != "" || got["j"] != "2" {
		t.Errorf("readINI: %v, want k empty and j = 2", got)
	}
}
