package cli_test

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/postern/postern/internal/cli"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

func runCLIIn(stdin string, args ...string) (code int, stdout, stderr string) {
	var out, errb strings.Builder
	code = cli.Main(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// caFingerprint is the SHA-256 of the CA in the PEM file, colon-separated
// as `postern server` prints it.
func caFingerprint(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM", path)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(c.Raw)
	h := hex.EncodeToString(sum[:])
	var parts []string
	for i := 0; i < len(h); i += 2 {
		parts = append(parts, h[i:i+2])
	}
	return strings.Join(parts, ":")
}

// TestConfigureServer: `postern configure --server` against a real server
// shows the CA's fingerprint, writes ca.pem beside the config file and a
// profile with endpoint_url and ca_bundle, only once confirmed (by the
// answer or --ca-fingerprint); the profile then works with nothing else
// but credentials.
func TestConfigureServer(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{})
	fp := caFingerprint(t, filepath.Join(e.Dir, "ca.pem"))
	tests := []struct {
		name, stdin string
		args        []string
		code        int
		written     bool
	}{
		{name: "confirmed", stdin: "y\n", args: []string{"configure", "--server", e.URL}, code: 0, written: true},
		{name: "declined", stdin: "n\n", args: []string{"configure", "--server", e.URL}, code: cli.ExitOther},
		{name: "no answer", stdin: "", args: []string{"configure", "--server", e.URL}, code: cli.ExitOther},
		{name: "pinned", args: []string{"--profile", "lab", "configure", "--server", e.URL, "--ca-fingerprint", strings.ToUpper(strings.ReplaceAll(fp, ":", ""))}, code: 0, written: true},
		{name: "wrong pin", args: []string{"configure", "--server", e.URL, "--ca-fingerprint", strings.Repeat("ab", 32)}, code: cli.ExitOther},
		{name: "not https", args: []string{"configure", "--server", "http://" + e.Addr}, code: cli.ExitUsage},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := cliEnv(t, e.Admin)
			code, out, stderr := runCLIIn(tc.stdin, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout %s\nstderr %s", code, tc.code, out, stderr)
			}
			if tc.code != cli.ExitUsage && !strings.Contains(out, fp) {
				t.Errorf("stdout does not show the CA's fingerprint %s:\n%s", fp, out)
			}
			_, err := os.Stat(filepath.Join(dir, "config"))
			if !tc.written {
				if err == nil {
					t.Errorf("the config file was written")
				}
				return
			}
			if err != nil {
				t.Fatalf("no config file: %v", err)
			}
			profile := []string{}
			if tc.args[0] == "--profile" {
				profile = tc.args[:2]
			}
			caPath, _ := os.ReadFile(filepath.Join(dir, "config"))
			if got := caFingerprint(t, strings.TrimSpace(mustGet(t, profile, "ca_bundle"))); got != fp {
				t.Errorf("the written CA's fingerprint is %s, want %s (config:\n%s)", got, fp, caPath)
			}
			if filepath.Dir(mustGet(t, profile, "ca_bundle")) != dir {
				t.Errorf("ca_bundle %s is not beside the config file in %s", mustGet(t, profile, "ca_bundle"), dir)
			}
			if got := mustGet(t, profile, "endpoint_url"); got != e.URL {
				t.Errorf("endpoint_url = %q, want %q", got, e.URL)
			}
			// The profile works, with credentials (a named profile does not
			// take them from the environment) and a region.
			for _, kv := range [][2]string{{"aws_access_key_id", e.Admin.AccessKeyID}, {"aws_secret_access_key", e.Admin.SecretAccessKey}} {
				if code, _, stderr := runCLIIn("", append(append([]string{}, profile...), "configure", "set", kv[0], kv[1])...); code != 0 {
					t.Fatalf("configure set %s: exit %d: %s", kv[0], code, stderr)
				}
			}
			code, out, stderr = runCLIIn("", append(append([]string{}, profile...), "--region", e.Region, "sts", "get-caller-identity")...)
			if code != 0 || !strings.Contains(out, `"Account"`) {
				t.Fatalf("get-caller-identity with the profile: exit %d\n%s%s", code, out, stderr)
			}
		})
	}
}

// TestConfigureFingerprintMatchesServer: `postern configure --server`
// prints the CA's fingerprint in exactly the text `postern server`
// printed for it at start (its welcome), since people compare the two by
// eye; and that text is the CA file's SHA-256, colon-separated.
func TestConfigureFingerprintMatchesServer(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{})
	addr, err := net.ResolveTCPAddr("tcp", e.Addr)
	if err != nil {
		t.Fatal(err)
	}
	var welcome strings.Builder
	e.Server.PrintWelcome(&welcome, addr)
	m := regexp.MustCompile(`CA certificate: .* \(SHA-256 ([^)]+)\)`).FindStringSubmatch(welcome.String())
	if m == nil {
		t.Fatalf("the server's welcome shows no CA fingerprint:\n%s", welcome.String())
	}
	server := m[1]
	if want := caFingerprint(t, filepath.Join(e.Dir, "ca.pem")); server != want {
		t.Errorf("the server prints the CA's fingerprint as %s, want %s", server, want)
	}
	cliEnv(t, e.Admin)
	code, out, stderr := runCLIIn("n\n", "configure", "--server", e.URL)
	if code != cli.ExitOther {
		t.Fatalf("declined configure: exit %d, want %d\nstdout %s\nstderr %s", code, cli.ExitOther, out, stderr)
	}
	shown := regexp.MustCompile(`SHA-256 fingerprint: (\S+)`).FindStringSubmatch(out)
	if shown == nil {
		t.Fatalf("configure shows no fingerprint:\n%s", out)
	}
	if shown[1] != server {
		t.Errorf("configure --server prints %s, the server printed %s for the same CA", shown[1], server)
	}
}

func mustGet(t *testing.T, profile []string, key string) string {
	t.Helper()
	code, out, stderr := runCLIIn("", append(append([]string{}, profile...), "configure", "get", key)...)
	if code != 0 {
		t.Fatalf("configure get %s: exit %d: %s", key, code, stderr)
	}
	return strings.TrimSpace(out)
}

// TestConfigurePrompts: `postern configure` asks as `aws configure` does
// and writes the credentials and config files named by the environment;
// `configure get|set|list` read and write single settings; Enter keeps a
// value.
func TestConfigurePrompts(t *testing.T) {
	dir := cliEnv(t, aws.Credentials{})
	code, out, stderr := runCLIIn("AKIAEXAMPLE1234\nsecretWXYZ\npostern-1\njson\n", "--profile", "dev", "configure")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if want := "AWS Access Key ID [None]: AWS Secret Access Key [None]: Default region name [None]: Default output format [None]: "; out != want {
		t.Errorf("prompts %q, want %q", out, want)
	}
	creds, _ := os.ReadFile(filepath.Join(dir, "credentials"))
	config, _ := os.ReadFile(filepath.Join(dir, "config"))
	if want := "[dev]\naws_access_key_id = AKIAEXAMPLE1234\naws_secret_access_key = secretWXYZ\n"; string(creds) != want {
		t.Errorf("credentials file %q, want %q", creds, want)
	}
	if want := "[profile dev]\nregion = postern-1\noutput = json\n"; string(config) != want {
		t.Errorf("config file %q, want %q", config, want)
	}
	// Enter keeps; the shown key is masked.
	code, out, _ = runCLIIn("\n\neu-west-1\n\n", "--profile", "dev", "configure")
	if code != 0 || !strings.Contains(out, "[****************1234]") || !strings.Contains(out, "[postern-1]") {
		t.Errorf("second run: exit %d, prompts %q", code, out)
	}
	tests := []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"--profile", "dev", "configure", "get", "region"}, 0, "eu-west-1\n"},
		{[]string{"--profile", "dev", "configure", "get", "aws_access_key_id"}, 0, "AKIAEXAMPLE1234\n"},
		{[]string{"--profile", "dev", "configure", "get", "endpoint_url"}, 1, ""},
		{[]string{"--profile", "dev", "configure", "set", "endpoint_url", "https://127.0.0.1:1"}, 0, ""},
		{[]string{"--profile", "dev", "configure", "get", "endpoint_url"}, 0, "https://127.0.0.1:1\n"},
		{[]string{"configure", "get", "region"}, 1, ""},
	}
	for _, tc := range tests {
		code, out, stderr := runCLIIn("", tc.args...)
		if code != tc.code || out != tc.out {
			t.Errorf("%v: exit %d, stdout %q (%s); want exit %d, %q", tc.args, code, out, stderr, tc.code, tc.out)
		}
	}
	code, out, _ = runCLIIn("", "--profile", "dev", "configure", "list")
	for _, w := range []string{"****************1234", "eu-west-1", "https://127.0.0.1:1", filepath.Join(dir, "config")} {
		if code != 0 || !strings.Contains(out, w) {
			t.Errorf("configure list: exit %d, does not show %q:\n%s", code, w, out)
		}
	}
}
