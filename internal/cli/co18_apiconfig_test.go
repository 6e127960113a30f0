package cli

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// TestCO18APICommandsRefuseWhatTheAWSCLIRefuses: a config or credentials
// file that botocore's strict parser refuses (a setting or a profile
// twice) stops every AWS CLI command before it sends anything ("Unable to
// parse config file", exit 255: /usr/bin/aws 2.9.19 here). postern's API
// commands loaded it through the AWS SDK for Go, which merges it, and
// sent the request with the last values. Each broken file is also checked
// against botocore itself (se18Botocore); the intact file's request still
// goes out.
func TestCO18APICommandsRefuseWhatTheAWSCLIRefuses(t *testing.T) {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		http.Error(w, "no", http.StatusForbidden)
	}))
	defer srv.Close()
	for _, tc := range []struct{ name, config, creds, refuse string }{
		{"intact", "[default]\nregion = us-east-1\n", "[default]\naws_access_key_id = A\naws_secret_access_key = B\n", ""},
		{"config: a setting twice", "[default]\nregion = us-east-1\nRegion = eu-west-1\n", "[default]\naws_access_key_id = A\naws_secret_access_key = B\n", "config: lines 2 and 3 both set region"},
		// s19: [DEFAULT] twice is no profile twice to botocore (it runs);
		// one of its settings twice is, across them.
		{"intact: DEFAULT twice", "[DEFAULT]\noutput = json\n[default]\nregion = us-east-1\n[DEFAULT]\nk = 1\n", "[default]\naws_access_key_id = A\naws_secret_access_key = B\n", ""},
		{"config: a DEFAULT setting twice", "[DEFAULT]\nk = 1\n[default]\nregion = us-east-1\n[DEFAULT]\nk = 2\n", "[default]\naws_access_key_id = A\naws_secret_access_key = B\n", "config: lines 2 and 6 both set k in [DEFAULT]"},
		{"credentials: a profile twice", "[default]\nregion = us-east-1\n", "[default]\naws_access_key_id = A\n[default]\naws_secret_access_key = B\n", "credentials: lines 1 and 3 both name the profile [default]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, body := range map[string]string{"config": tc.config, "credentials": tc.creds} {
				path := filepath.Join(dir, name)
				if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
					t.Fatal(err)
				}
				if _, botoErr := se18Botocore(t, path); (botoErr != "") != strings.HasPrefix(tc.refuse, name+":") {
					t.Fatalf("botocore on %s: error %q; the case expects a refusal: %v", name, botoErr, strings.HasPrefix(tc.refuse, name+":"))
				}
			}
			t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
			t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
			for _, v := range []string{"AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_CA_BUNDLE"} {
				t.Setenv(v, "")
			}
			before := requests.Load()
			var out, errb strings.Builder
			code := Main(t.Context(), []string{"sts", "get-caller-identity", "--endpoint-url", srv.URL}, strings.NewReader(""), &out, &errb)
			sent := requests.Load() > before
			if tc.refuse == "" {
				if !sent {
					t.Fatalf("the intact files' request was not sent: exit %d, stderr %q", code, errb.String())
				}
				return
			}
			if code != ExitOther || sent || !strings.Contains(errb.String(), filepath.Join(dir, tc.refuse)) {
				t.Errorf("exit %d, request sent %v, stderr %q; want %d, none sent, and %q", code, sent, errb.String(), ExitOther, tc.refuse)
			}
		})
	}
}
