package cli

import (
	"bytes"
	"encoding/json"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/postern/postern/internal/testutil/ci"
	"github.com/postern/postern/internal/wire/agentkey"
)

// se18Python is Debian's Python, where python3-botocore installs
// (scripts/test-deps.sh); a python3 earlier on PATH may lack it.
const se18Python = "/usr/bin/python3"

// se18Botocore reads the file at path with botocore's own reader
// (configloader.raw_config_parse, nested blocks as their raw text): the
// sections, or the error botocore refuses the file with. It skips t where
// botocore is not installed, and fails t under CI, which installs it.
func se18Botocore(t *testing.T, path string) (map[string]map[string]string, string) {
	t.Helper()
	const script = `import json, sys
import botocore.configloader as cl, botocore.exceptions as ex
try:
    out = {"sections": cl.raw_config_parse(sys.argv[1], parse_subsections=False)}
except ex.ConfigParseError as e:
    out = {"error": str(e)}
json.dump(out, sys.stdout)`
	if out, err := exec.Command(se18Python, "-c", "import botocore.configloader").CombinedOutput(); err != nil {
		ci.Need(t, "%s cannot import botocore (Debian's python3-botocore): %v: %s", se18Python, err, bytes.TrimSpace(out))
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(se18Python, "-c", script, path)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("botocore on %s: %v: %s", path, err, stderr.String())
	}
	var got struct {
		Sections map[string]map[string]string
		Error    string
	}
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("botocore's answer %q: %v", stdout.String(), err)
	}
	return got.Sections, got.Error
}

// TestSE18ReadsAsBotocore: `configure get` (scanINI) reads a file as the
// AWS CLI does, checked against botocore itself on the same file: names
// in lower case, ':' as a delimiter, indented lines continuing a value,
// and the whole file refused for a profile or a setting given twice
// (also spelled apart in case) or a line outside any profile. readINI
// merged duplicates (the last won), kept names as spelled, and took an
// indented line for a setting of its own.
func TestSE18ReadsAsBotocore(t *testing.T) {
	for _, tc := range []struct {
		name, file, sect string
		want             map[string]string
		refuse           string // words the error holds; "" for none
	}{
		{name: "plain", file: "[default]\nregion = a\noutput=json\n", sect: "default",
			want: map[string]string{"region": "a", "output": "json"}},
		{name: "names in lower case", file: "[default]\nRegion = a\nOUTPUT = json\n", sect: "default",
			want: map[string]string{"region": "a", "output": "json"}},
		{name: "':' delimits too, the first delimiter wins", file: "[default]\nregion: a\nendpoint_url = https://h:8443\n", sect: "default",
			want: map[string]string{"region": "a", "endpoint_url": "https://h:8443"}},
		{name: "indented line continues the value", file: "[default]\nregion = a\n# x\n  region=b\n\n  c\n", sect: "default",
			want: map[string]string{"region": "a\nregion=b\n\nc"}},
		{name: "nested settings are not the profile's", file: "[default]\ns3 =\n  use_dualstack_endpoint = true\nuse_dualstack_endpoint = false\n", sect: "default",
			want: map[string]string{"s3": "", "use_dualstack_endpoint": "false"}},
		{name: "CRLF", file: "[profile dev]\r\nregion = a\r\n", sect: "profile dev",
			want: map[string]string{"region": "a"}},
		{name: "setting twice", file: "[default]\nregion = a\nregion = b\n", sect: "default",
			want: map[string]string{"region": "b"}, refuse: "lines 2 and 3 both set region"},
		{name: "setting twice, spelled apart", file: "[default]\nregion = a\nRegion = b\n", sect: "default",
			want: map[string]string{"region": "b"}, refuse: "lines 2 and 3 both set region"},
		{name: "profile twice", file: "[default]\nregion = a\n[default]\noutput = json\n", sect: "default",
			want: map[string]string{"region": "a", "output": "json"}, refuse: "lines 1 and 3 both name the profile [default]"},
		{name: "another profile's setting twice", file: "[a]\nk = 1\nk = 2\n[default]\nregion = a\n", sect: "default",
			want: map[string]string{"region": "a"}, refuse: "lines 2 and 3 both set k"},
		{name: "setting outside any profile", file: "region = a\n[default]\noutput = json\n", sect: "default",
			want: map[string]string{"output": "json"}, refuse: "line 1 is a setting outside"},
		{name: "a line that is no setting", file: "[default]\nregion = a\nother\n", sect: "default",
			want: map[string]string{"region": "a"}, refuse: "line 3 is neither"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config")
			if err := os.WriteFile(path, []byte(tc.file), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := scanINI(path, tc.sect)
			switch {
			case tc.refuse == "" && err != nil:
				t.Errorf("scanINI: %v, want no error", err)
			case tc.refuse != "" && (err == nil || !strings.Contains(err.Error(), tc.refuse)):
				t.Errorf("scanINI: error %v, want one saying %q", err, tc.refuse)
			}
			if !maps.Equal(got, tc.want) {
				t.Errorf("scanINI: [%s] reads %q, want %q", tc.sect, got, tc.want)
			}
			// The expectations are botocore's.
			sections, perr := se18Botocore(t, path)
			if (perr != "") != (tc.refuse != "") {
				t.Fatalf("botocore: error %q, sections %q; the case expects a refusal: %v", perr, sections, tc.refuse != "")
			}
			if perr != "" {
				return
			}
			bc := map[string]string{}
			for k, v := range sections[tc.sect] {
				if strings.HasPrefix(v, "\n") {
					v = "" // a nested block ("s3 ="): not one of the profile's values
				}
				bc[k] = v
			}
			if !maps.Equal(bc, tc.want) {
				t.Errorf("botocore reads [%s] as %q, the case wants %q", tc.sect, bc, tc.want)
			}
		})
	}
}

// TestSE18ConfigureRefusesWhatTheAWSCLIRefuses: `configure get`, `list`
// and the prompts refuse a file the AWS CLI refuses (it fails with
// "Unable to parse config file"), naming the file and the lines, where
// they used to answer from the merged file.
// Either file (the AWS CLI loads both before it answers, also for
// `configure get region` when only the credentials file is broken).
func TestSE18ConfigureRefusesWhatTheAWSCLIRefuses(t *testing.T) {
	for _, broken := range []struct{ name, file, lines string }{
		{"config", "[default]\nregion = a\nRegion = b\n", "lines 2 and 3 both set region"},
		{"credentials", "[default]\naws_access_key_id = A\n[default]\n", "lines 1 and 3 both name the profile [default]"},
	} {
		for _, args := range [][]string{
			{"configure", "get", "region"},
			{"configure", "list"},
			{"configure"},
		} {
			t.Run(broken.name+"/"+strings.Join(args, " "), func(t *testing.T) {
				dir := t.TempDir()
				t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
				t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
				t.Setenv("AWS_PROFILE", "")
				if err := os.WriteFile(filepath.Join(dir, "config"), []byte("[default]\nregion = a\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				path := filepath.Join(dir, broken.name)
				if err := os.WriteFile(path, []byte(broken.file), 0o600); err != nil {
					t.Fatal(err)
				}
				var out, errb strings.Builder
				code := Main(t.Context(), args, strings.NewReader("\n\n\n\n"), &out, &errb)
				if code != ExitOther || !strings.Contains(errb.String(), path+": "+broken.lines) {
					t.Errorf("exit %d, stderr %q, want %d and the lines named\nstdout %q", code, errb.String(), ExitOther, out.String())
				}
				if b, _ := os.ReadFile(path); string(b) != broken.file {
					t.Errorf("the file changed to %q", b)
				}
			})
		}
	}
}

// TestSE18SetMatchesNamesWithoutCase: `configure set region` on a
// profile holding "Region = a" wrote "region = b" beside it: one setting
// twice for the AWS CLI and the SDKs (names are not case-sensitive),
// which the AWS CLI then refuses. It is refused, the file untouched.
func TestSE18SetMatchesNamesWithoutCase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	file := "[default]\nRegion = a\n"
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	err := writeINI(path, "default", "region", "b")
	if err == nil || !strings.Contains(err.Error(), "line 2 sets Region") {
		t.Errorf("writeINI: %v, want a refusal naming line 2", err)
	}
	if b, _ := os.ReadFile(path); string(b) != file {
		t.Errorf("the file changed to %q", b)
	}
	if _, err := scanINI(path, "default"); err != nil {
		t.Errorf("the file is no longer one the AWS CLI reads: %v", err)
	}
}

// TestSE18ProfileWithWhiteSpaceRefused: a profile name with white space
// inside was written as [profile my dev], which the AWS SDK for Go
// (postern's calls) reads as profile "my dev" but the AWS CLI ignores (it
// reads only [profile 'my dev'], which the SDK takes as "'my dev'"). No
// header serves both: `configure set` refuses the name and writes nothing.
func TestSE18ProfileWithWhiteSpaceRefused(t *testing.T) {
	for _, p := range []string{"my dev", "my\tdev", "my\u00a0dev"} {
		t.Run(p, func(t *testing.T) {
			dir := t.TempDir()
			t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
			t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
			for _, key := range []string{"region", "aws_access_key_id"} {
				if err := setConfigValue(p, key, "x"); err == nil || !strings.Contains(err.Error(), "white space") {
					t.Errorf("setConfigValue(%q, %s): %v, want a refusal naming white space", p, key, err)
				}
			}
			for _, f := range []string{"config", "credentials"} {
				if _, err := os.Stat(filepath.Join(dir, f)); !os.IsNotExist(err) {
					t.Errorf("%s was written (%v)", f, err)
				}
			}
		})
	}
}

// TestSE18ConfigureServerRefusesBeforeWriting: `configure --server`
// wrote the CA (" dev-ca.pem", "dev-ca.pem") before the profile name or
// the config file's edit was refused. Every refusal now comes first, and
// nothing is written.
func TestSE18ConfigureServerRefusesBeforeWriting(t *testing.T) {
	srv := httptest.NewTLSServer(http.NotFoundHandler()) // its certificate is its own CA, for 127.0.0.1
	defer srv.Close()
	fp := agentkey.DisplayFingerprint(srv.Certificate())
	for _, tc := range []struct {
		name, profile, file, refuse string
	}{
		{name: "profile with a leading blank", profile: " dev", refuse: "white space"},
		{name: "profile with white space inside", profile: "my dev", refuse: "white space"},
		{name: "the profile's endpoint_url twice", profile: "dev", file: "[profile dev]\nendpoint_url = a\nendpoint_url = b\n", refuse: "lines 2 and 3 both set endpoint_url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			conf := filepath.Join(dir, "config")
			t.Setenv("AWS_CONFIG_FILE", conf)
			t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
			if tc.file != "" {
				if err := os.WriteFile(conf, []byte(tc.file), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			var out, errb strings.Builder
			code := Main(t.Context(), []string{"--profile", tc.profile, "configure", "--server", srv.URL, "--ca-fingerprint", fp}, strings.NewReader(""), &out, &errb)
			if code != ExitOther || !strings.Contains(errb.String(), tc.refuse) {
				t.Errorf("exit %d, stderr %q, want %d and %q\nstdout %q", code, errb.String(), ExitOther, tc.refuse, out.String())
			}
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				if e.Name() != "config" || tc.file == "" {
					t.Errorf("%s was written", e.Name())
				}
			}
			if b, _ := os.ReadFile(conf); tc.file != "" && string(b) != tc.file {
				t.Errorf("the config file changed to %q", b)
			}
		})
	}
}

// TestSE18ProfileHeadersBotocoreAndSDKDisagree pins the premise of
// checkProfile's refusal, with both readers on the same files: botocore
// (the AWS CLI) reads profile "my dev" only from [profile 'my dev'] or
// [profile "my dev"] and ignores [profile my dev]; the AWS SDK for Go
// (postern's own calls) reads it only from [profile my dev]. Should one
// of them change, a header may serve both and the refusal can go.
func TestSE18ProfileHeadersBotocoreAndSDKDisagree(t *testing.T) {
	for _, tc := range []struct {
		header          string
		botocore, goSDK bool
	}{
		{"[profile my dev]", false, true},
		{"[profile 'my dev']", true, false},
		{`[profile "my dev"]`, true, false},
	} {
		t.Run(tc.header, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config")
			if err := os.WriteFile(path, []byte(tc.header+"\nregion = r\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			sc, err := awsconfig.LoadSharedConfigProfile(t.Context(), "my dev", func(o *awsconfig.LoadSharedConfigOptions) {
				o.ConfigFiles, o.CredentialsFiles = []string{path}, []string{filepath.Join(t.TempDir(), "none")}
			})
			if got := err == nil && sc.Region == "r"; got != tc.goSDK {
				t.Errorf("the AWS SDK for Go reads profile \"my dev\" from %s: %v (%v), want %v", tc.header, got, err, tc.goSDK)
			}
			if out, err := exec.Command(se18Python, "-c", "import botocore.configloader").CombinedOutput(); err != nil {
				ci.Need(t, "%s cannot import botocore (Debian's python3-botocore): %v: %s", se18Python, err, bytes.TrimSpace(out))
			}
			out, err := exec.Command(se18Python, "-c", `import sys, botocore.configloader as cl
print(cl.load_config(sys.argv[1])["profiles"].get("my dev", {}).get("region", ""))`, path).Output()
			if err != nil {
				t.Fatalf("botocore on %s: %v", tc.header, err)
			}
			if got := strings.TrimSpace(string(out)) == "r"; got != tc.botocore {
				t.Errorf("botocore reads profile \"my dev\" from %s: %v, want %v", tc.header, got, tc.botocore)
			}
		})
	}
}

// TestSE18ReadsAsBotocoreGenerated compares scanINI with botocore on 400
// files built from the pieces where the two readers could part (headers
// with text after ']', both delimiters, indented lines under values and
// under "s3 =", comments and blank lines among them, names twice, lines
// outside any section): the same files refused, and the same settings in
// every section read. Sections are compared where their name is not
// padded: scanINI looks them up trimmed, as readINI and the AWS SDK for
// Go do, where botocore keeps "[ a]" as " a".
func TestSE18ReadsAsBotocoreGenerated(t *testing.T) {
	pieces := []string{"[default]", "[a]", "[ a]", "[a] x", "[]", "region = 1", "Region=2", "k: 3", "k = ", "= x", "bare",
		"# c", "; c", "", "  ", "s3 =", "x=y:z", "k : a = b"}
	indents := []string{"", "", "", " ", "  ", "\t"}
	r := rand.New(rand.NewPCG(18, 5)) // the same files every run
	dir := t.TempDir()
	const n = 400
	files := make([]string, n)
	for i := range files {
		var b strings.Builder
		for range 2 + r.IntN(7) {
			b.WriteString(indents[r.IntN(len(indents))] + pieces[r.IntN(len(pieces))] + "\n")
		}
		files[i] = b.String()
		if err := os.WriteFile(filepath.Join(dir, strconv.Itoa(i)), []byte(files[i]), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command(se18Python, "-c", "import botocore.configloader").CombinedOutput(); err != nil {
		ci.Need(t, "%s cannot import botocore (Debian's python3-botocore): %v: %s", se18Python, err, bytes.TrimSpace(out))
	}
	out, err := exec.Command(se18Python, "-c", `import json, os, sys
import botocore.configloader as cl, botocore.exceptions as ex
res = []
for i in range(int(sys.argv[2])):
    try:
        res.append({"sections": cl.raw_config_parse(os.path.join(sys.argv[1], str(i)), parse_subsections=False)})
    except ex.ConfigParseError as e:
        res.append({"error": str(e)})
json.dump(res, sys.stdout)`, dir, strconv.Itoa(n)).Output()
	if err != nil {
		t.Fatalf("botocore: %v", err)
	}
	var res []struct {
		Sections map[string]map[string]string
		Error    string
	}
	if err := json.Unmarshal(out, &res); err != nil || len(res) != n {
		t.Fatalf("botocore's answer (%d files): %v", len(res), err)
	}
	for i, bc := range res {
		path := filepath.Join(dir, strconv.Itoa(i))
		if _, err := scanINI(path, "default"); (err != nil) != (bc.Error != "") {
			t.Errorf("%q: scanINI's error %v, botocore's %q", files[i], err, bc.Error)
			continue
		}
		for s, kv := range bc.Sections {
			if strings.TrimSpace(s) != s || bc.Sections[" "+s] != nil {
				continue
			}
			want := map[string]string{}
			for k, v := range kv {
				if strings.HasPrefix(v, "\n") {
					v = "" // a nested block ("s3 ="): not one of the profile's values
				}
				want[k] = v
			}
			if got, _ := scanINI(path, s); !maps.Equal(got, want) {
				t.Errorf("%q: [%s] scanINI reads %q, botocore %q", files[i], s, got, want)
			}
		}
	}
}
