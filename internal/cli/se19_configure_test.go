package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/postern/postern/internal/testutil/ci"
)

// se19BotocoreLines reads each of the n files dir/0 … dir/n-1 with
// botocore (configloader.raw_config_parse) and returns, per file, the
// line its parser stops at (0 when it reads the file) and the sections
// it reads (nested blocks as ""). It skips t where botocore is not
// installed, and fails t under CI, which installs it.
func se19BotocoreLines(t *testing.T, dir string, n int) []struct {
	Line     int
	Sections map[string]map[string]string
} {
	t.Helper()
	if out, err := exec.Command(se18Python, "-c", "import botocore.configloader").CombinedOutput(); err != nil {
		ci.Need(t, "%s cannot import botocore (Debian's python3-botocore): %v: %s", se18Python, err, bytes.TrimSpace(out))
	}
	out, err := exec.Command(se18Python, "-c", `import json, os, sys, configparser
import botocore.configloader as cl, botocore.exceptions as ex
res = []
for i in range(int(sys.argv[2])):
    try:
        s = cl.raw_config_parse(os.path.join(sys.argv[1], str(i)), parse_subsections=False)
        res.append({"line": 0, "sections": {k: {o: ("" if v.startswith("\n") else v) for o, v in kv.items()} for k, kv in s.items()}})
    except ex.ConfigParseError as e:
        err = e.kwargs["error"]
        line = err.errors[0][0] if isinstance(err, configparser.ParsingError) and not isinstance(err, configparser.MissingSectionHeaderError) else err.lineno
        res.append({"line": line})
json.dump(res, sys.stdout)`, dir, strconv.Itoa(n)).Output()
	if err != nil {
		t.Fatalf("botocore: %v", err)
	}
	var res []struct {
		Line     int
		Sections map[string]map[string]string
	}
	if err := json.Unmarshal(out, &res); err != nil || len(res) != n {
		t.Fatalf("botocore's answer (%d files): %v", len(res), err)
	}
	return res
}

// se19ErrLine is the line scanINI's error names last ("lines 2 and 5 …"
// names 5), 0 for none.
func se19ErrLine(err error) int {
	if err == nil {
		return 0
	}
	msg := err.Error()
	var n int
	for _, f := range []string{"lines %d and %d", "line %d "} {
		i := strings.Index(msg, f[:5])
		if i < 0 {
			continue
		}
		var a, b int
		if c, _ := fmt.Sscanf(msg[i:], f, &a, &b); c == 2 {
			return b
		} else if c == 1 {
			n = a
		}
		if n > 0 {
			return n
		}
	}
	return -1
}

// TestSE19ErrorLineAsBotocore: scanINI refuses a file at the line
// botocore's strict configparser stops at, and reads every section as it
// does, on files built from indented settings and headers, bad lines,
// settings without a name, [DEFAULT] twice and padded headers. Before:
// an indented setting after a bad line was taken for a setting of its own
// (botocore: a continuation of the last setting), so "lines 2 and 4 both
// set k" where botocore reads the file but for the bad line; a bad line
// was named before a later duplicate, which botocore stops at at once;
// [DEFAULT] twice was refused (botocore allows it) and its settings were
// not every section's; "= x" was accepted.
func TestSE19ErrorLineAsBotocore(t *testing.T) {
	pieces := []string{"[default]", "[a]", "[ a]", "[DEFAULT]", "k = 1", "K: 2", "j = 3", "k =", "= x", "bare", "# c", "", "s3 ="}
	indents := []string{"", "", "", " ", "  ", "\t", "\u00a0"}
	r := rand.New(rand.NewPCG(19, 5)) // the same files every run
	dir := t.TempDir()
	const n = 600
	files := make([]string, n)
	for i := range files {
		var b strings.Builder
		if r.IntN(3) > 0 {
			b.WriteString("[default]\n")
		}
		for range 2 + r.IntN(7) {
			b.WriteString(indents[r.IntN(len(indents))] + pieces[r.IntN(len(pieces))] + "\n")
		}
		files[i] = b.String()
		if err := os.WriteFile(filepath.Join(dir, strconv.Itoa(i)), []byte(files[i]), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// And the cases named above, whatever the generator made.
	res := se19BotocoreLines(t, dir, n)
	for i, bc := range res {
		path := filepath.Join(dir, strconv.Itoa(i))
		_, err := scanINI(path, "")
		if got := se19ErrLine(err); got != bc.Line {
			t.Errorf("%q: scanINI stops at line %d (%v), botocore at %d", files[i], got, err, bc.Line)
			continue
		}
		if err != nil {
			continue
		}
		for s, want := range bc.Sections {
			if got, _ := scanINI(path, s); !maps.Equal(got, want) {
				t.Errorf("%q: [%s] scanINI reads %q, botocore %q", files[i], s, got, want)
			}
		}
	}
}

// TestSE19ConfigureGetAsAWSCLI: `configure get` answers what
// /usr/bin/aws configure get answers on the same files: the value (or
// exit 1 for none), or exit 255 for a file it cannot parse. Before: an
// indented setting after a bad line, or one indented with a no-break
// space, was named as a setting given twice, at the wrong line;
// [DEFAULT] twice was refused and its settings were no profile's;
// "[ default]" was read as the default profile (botocore: a section of
// no profile), "[profile  a ]" was not profile a; the credentials
// file's settings other than the keys were not read.
func TestSE19ConfigureGetAsAWSCLI(t *testing.T) {
	const aws = "/usr/bin/aws" // Debian's AWS CLI v2 (scripts/test-deps.sh)
	if _, err := os.Stat(aws); err != nil {
		ci.Need(t, "%s: %v (Debian's awscli)", aws, err)
	}
	for _, tc := range []struct {
		name, config, creds, profile, key string
		code                              int
		value                             string
	}{
		{name: "indented setting after a bad line continues the last", config: "[default]\nregion = a\nbare\n  region = b\n", key: "region", code: ExitOther},
		{name: "no-break space indents", config: "[default]\nk = 1\n\u00a0k = 2\n", key: "k", code: 0, value: "1\nk = 2"},
		{name: "a duplicate after a bad line", config: "[default]\nbare\nk = 1\nk = 2\n", key: "k", code: ExitOther},
		{name: "DEFAULT twice", config: "[DEFAULT]\nregion = r\n[DEFAULT]\noutput = json\n[default]\n", key: "output", code: 0, value: "json"},
		{name: "DEFAULT under every profile", config: "[DEFAULT]\nregion = r\n[profile a]\n", profile: "a", key: "region", code: 0, value: "r"},
		{name: "DEFAULT is no profile", config: "[DEFAULT]\nregion = r\n", key: "region", code: 1},
		{name: "DEFAULT's setting twice", config: "[DEFAULT]\nk = 1\n[a]\n[DEFAULT]\nk = 2\n[default]\n", key: "k", code: ExitOther},
		{name: "padded default is none", config: "[ default]\nregion = r\n", key: "region", code: 1},
		{name: "padded profile a", config: "[profile  a ]\nregion = r\n", profile: "a", key: "region", code: 0, value: "r"},
		{name: "the last of default and profile default", config: "[profile default]\nregion = r\n[default]\nregion = q\n", key: "region", code: 0, value: "q"},
		{name: "a named profile neither file holds", config: "[default]\nregion = r\n", profile: "nosuch", key: "region", code: ExitOther},
		{name: "default named and absent", config: "", profile: "default", key: "region", code: ExitOther},
		{name: "default unnamed and absent", config: "[profile a]\n", key: "region", code: 1},
		{name: "a profile only in the credentials file", creds: "[c]\nx = 1\n", profile: "c", key: "region", code: 1},
		{name: "credentials over config", config: "[default]\nregion = a\n", creds: "[default]\nregion = b\n", key: "region", code: 0, value: "b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			conf, creds := filepath.Join(dir, "config"), filepath.Join(dir, "credentials")
			if err := os.WriteFile(conf, []byte(tc.config), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(creds, []byte(tc.creds), 0o600); err != nil {
				t.Fatal(err)
			}
			args := []string{"configure", "get", tc.key}
			if tc.profile != "" {
				args = append([]string{"--profile", tc.profile}, args...)
			}
			cmd := exec.Command(aws, args...)
			cmd.Env = []string{"AWS_CONFIG_FILE=" + conf, "AWS_SHARED_CREDENTIALS_FILE=" + creds, "HOME=" + dir, "PATH=/usr/bin:/bin"}
			out, err := cmd.Output()
			awsCode := 0
			if ee, ok := err.(*exec.ExitError); ok {
				awsCode = ee.ExitCode()
			} else if err != nil {
				t.Fatalf("%s: %v", aws, err)
			}
			if awsCode != tc.code || strings.TrimSuffix(string(out), "\n") != tc.value {
				t.Fatalf("%s exits %d printing %q; the case wants %d, %q", aws, awsCode, out, tc.code, tc.value)
			}
			t.Setenv("AWS_CONFIG_FILE", conf)
			t.Setenv("AWS_SHARED_CREDENTIALS_FILE", creds)
			t.Setenv("AWS_PROFILE", "")
			var stdout, stderr strings.Builder
			code := Main(t.Context(), args, strings.NewReader(""), &stdout, &stderr)
			if code != tc.code || strings.TrimSuffix(stdout.String(), "\n") != tc.value {
				t.Errorf("postern exits %d printing %q (stderr %q); want %d, %q", code, stdout.String(), stderr.String(), tc.code, tc.value)
			}
		})
	}
}
