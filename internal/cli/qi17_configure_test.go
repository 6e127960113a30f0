package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestQI17WriteINIFaults: the three faults FuzzWriteINI found (s17).
// writeINI either writes a setting that readINI then reads back under the
// names asked for, or refuses with a message naming the problem (and the
// file and line, for a file the AWS CLI itself would refuse) and leaves
// the file as it was.
func TestQI17WriteINIFaults(t *testing.T) {
	for _, tc := range []struct {
		name, file, sect, key, value string
		refuse                       []string // words the refusal holds; nil: accepted
	}{
		// 1. Duplicates: botocore's configparser (strict) refuses the whole
		// file ("Unable to parse config file"); writeINI edited the first
		// and readINI returned the last.
		{name: "profile twice", file: "[default]\nregion = a\n[default]\nregion = b\n", sect: "default", key: "region", value: "c",
			refuse: []string{"config", "lines 1 and 3", "[default]", "twice"}},
		{name: "profile twice, spelled apart", file: "[ default ]\nregion = a\n[other]\n[default]\noutput = json\n", sect: "default", key: "output", value: "text",
			refuse: []string{"lines 1 and 4", "twice"}},
		{name: "setting twice", file: "[default]\nregion = a\n# x\n  region=b\n", sect: "default", key: "region", value: "c",
			refuse: []string{"config", "lines 2 and 4", "region", "twice"}},
		// Duplicates writeINI does not touch are the user's (and the AWS
		// CLI's) to judge: the setting asked for still reads back.
		{name: "another setting twice", file: "[default]\nregion = a\nregion = b\n", sect: "default", key: "output", value: "json"},
		{name: "another profile twice", file: "[a]\nk = 1\n[a]\nk = 2\n[default]\n", sect: "default", key: "region", value: "c"},
		{name: "one profile, one setting", file: "[default]\nregion = a\n[profile dev]\nregion = b\n", sect: "default", key: "region", value: "c"},
		// 2. A profile name with white space at an end reads back trimmed.
		{name: "profile leading blank", file: "[dev]\nk = 1\n", sect: " dev", key: "k", value: "2", refuse: []string{"white space"}},
		{name: "profile trailing tab", file: "", sect: "dev\t", key: "k", value: "2", refuse: []string{"white space"}},
		{name: "profile trailing NBSP", file: "", sect: "dev\u00a0", key: "k", value: "2", refuse: []string{"white space"}},
		{name: "profile empty", file: "", sect: "", key: "k", value: "2", refuse: []string{"profile name is empty"}},
		// 3. Setting names: an allow-list, as the message says.
		{name: "setting trailing \\v\\f", file: "[a]\n", sect: "a", key: "k\v\f", value: "x", refuse: []string{"not a setting name"}},
		{name: "setting trailing U+0085", file: "[a]\n", sect: "a", key: "k\u0085", value: "x", refuse: []string{"not a setting name"}},
		{name: "setting trailing U+00A0", file: "[a]\n", sect: "a", key: "k\u00a0", value: "x", refuse: []string{"not a setting name"}},
		{name: "setting with ':' (configparser's other delimiter)", file: "[a]\n", sect: "a", key: "k:x", value: "x", refuse: []string{"not a setting name"}},
		{name: "setting non-ASCII letter", file: "[a]\n", sect: "a", key: "régión", value: "x", refuse: []string{"not a setting name"}},
		{name: "setting allowed characters", file: "[a]\n", sect: "a", key: "s3.addressing_style-X9", value: "path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config")
			if err := os.WriteFile(path, []byte(tc.file), 0o600); err != nil {
				t.Fatal(err)
			}
			err := writeINI(path, tc.sect, tc.key, tc.value)
			b, _ := os.ReadFile(path)
			if tc.refuse != nil {
				if err == nil {
					t.Fatalf("writeINI(%q, %q, %q) was accepted: the file reads %q; [%s] %s reads %q",
						tc.sect, tc.key, tc.value, b, tc.sect, tc.key, readINI(path, tc.sect)[tc.key])
				}
				for _, w := range tc.refuse {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("refusal %q does not say %q", err, w)
					}
				}
				if string(b) != tc.file {
					t.Errorf("refused, but the file changed to %q", b)
				}
				return
			}
			if err != nil {
				t.Fatalf("writeINI(%q, %q, %q): %v", tc.sect, tc.key, tc.value, err)
			}
			if got := readINI(path, tc.sect)[tc.key]; got != tc.value {
				t.Fatalf("the file %q reads [%s] %s = %q, want %q", b, tc.sect, tc.key, got, tc.value)
			}
		})
	}
}

// TestQI17SetProfileBlanks: `configure set` with --profile " dev" was
// written to the config file as [profile  dev], which the AWS CLI reads
// as profile dev (it splits the header on white space): refused.
func TestQI17SetProfileBlanks(t *testing.T) {
	for _, p := range []string{" dev", "dev ", "\tdev"} {
		t.Run(p, func(t *testing.T) {
			dir := t.TempDir()
			t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
			t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
			for _, key := range []string{"region", "aws_access_key_id"} {
				err := setConfigValue(p, key, "x")
				if err == nil || !strings.Contains(err.Error(), "white space") {
					t.Errorf("setConfigValue(%q, %s): %v, want a refusal naming white space", p, key, err)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, "config")); !os.IsNotExist(err) {
				t.Errorf("the config file was written (%v)", err)
			}
		})
	}
}
