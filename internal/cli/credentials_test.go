package cli

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMissingCredentials: with nothing configured, an SDK operation and
// Postern's own actions fail as the AWS CLI does (exit 253, "Unable to
// locate credentials"); a configured source that fails (a credential_process
// that exits non-zero) is not worded as missing credentials. The instance
// metadata service is disabled, and the endpoint fails the test if reached:
// no request leaves the machine.
func TestMissingCredentials(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("request reached the endpoint: %s %s", r.Method, r.URL)
		w.WriteHeader(http.StatusForbidden)
	}))
	defer srv.Close()

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config-process"), []byte("[default]\ncredential_process = sh -c 'exit 3'\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("HOME", dir)
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_DEFAULT_PROFILE", "")
	t.Setenv("AWS_CA_BUNDLE", "")
	t.Setenv("AWS_WEB_IDENTITY_TOKEN_FILE", "")
	t.Setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "")
	t.Setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "none"))

	const noCreds = "\nUnable to locate credentials. You can configure credentials by running \"postern configure\".\n"
	tests := []struct {
		name, config string
		args         []string
		code         int
		stderr       string // exact, when not empty
		contains     string
	}{
		{name: "SDK operation", config: "none", args: []string{"sts", "get-caller-identity"},
			code: ExitConfig, stderr: noCreds},
		{name: "SDK operation with paging", config: "none", args: []string{"iam", "list-users"},
			code: ExitConfig, stderr: noCreds},
		{name: "Postern action", config: "none", args: []string{"ec2", "deregister-instance", "--instance-id", "i-0123456789abcdef0"},
			code: ExitConfig, stderr: noCreds},
		{name: "Postern action printing JSON", config: "none", args: []string{"ec2", "describe-endpoint-agents"},
			code: ExitConfig, stderr: noCreds},
		{name: "failing credential_process", config: "config-process", args: []string{"sts", "get-caller-identity"},
			code: ExitOther, contains: "credential_process"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, tc.config))
			args := append([]string{"--region", "us-east-1", "--endpoint-url", srv.URL}, tc.args...)
			var out, errb strings.Builder
			code := Main(context.Background(), args, strings.NewReader(""), &out, &errb)
			got := errb.String()
			if code != tc.code || (tc.stderr != "" && got != tc.stderr) || !strings.Contains(got, tc.contains) {
				t.Fatalf("exit %d, stderr %q; want exit %d and stderr %q (containing %q)", code, got, tc.code, tc.stderr, tc.contains)
			}
			if tc.code != ExitConfig && strings.Contains(got, "Unable to locate credentials") {
				t.Fatalf("a failing credential source is worded as missing credentials: %q", got)
			}
			if out.Len() != 0 {
				t.Fatalf("stdout %q; want nothing", out.String())
			}
		})
	}
}
