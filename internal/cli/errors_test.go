package cli_test

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/postern/postern/internal/agent"
	"github.com/postern/postern/internal/cli"
	"github.com/postern/postern/internal/testutil/refused"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// cliEnv clears the AWS settings of the environment: no profile, no
// files, no instance metadata; creds are set when given.
func cliEnv(t *testing.T, creds aws.Credentials) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("HOME", dir)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_ACCESS_KEY_ID", creds.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", creds.SecretAccessKey)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	for _, v := range []string{"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CA_BUNDLE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_DEFAULT_OUTPUT", "POSTERN_ALLOW_AWS"} {
		t.Setenv(v, "")
	}
	return dir
}

func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errb strings.Builder
	code = cli.Main(context.Background(), args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

// TestErrorMessages: each failure a user can meet is one line (after the
// AWS CLI's leading blank line) that names the operation asked for and
// says what to do, with `postern` commands; a server that cannot be
// reached or trusted is not retried.
func TestErrorMessages(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{})
	_, subnet, endpoint, _ := e.Network("10.42.0.0/16", "10.42.1.0/24")
	noEndpoints := e.NewUser("no-endpoints", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:DescribeInstances","Resource":"*"}]}`)
	ca := filepath.Join(e.Dir, "ca.pem")
	// An endpoint whose agent joined (so it is create-complete) but is not
	// running: no agent is connected when a tunnel is asked for.
	_, _, joined, _ := e.Network("10.43.0.0/16", "10.43.1.0/24")
	if _, err := agent.Join(context.Background(), e.JoinToken(joined), agent.Config{StateDir: filepath.Join(t.TempDir(), "agent")}); err != nil {
		t.Fatal(err)
	}
	cliEnv(t, e.Admin)
	code, out, stderr := runCLI("--region", e.Region, "--endpoint-url", e.URL, "--ca-bundle", ca,
		"ec2", "register-instance", "--subnet-id", subnet, "--private-ip-address", "10.42.1.5")
	if code != 0 {
		t.Fatalf("register-instance: exit %d: %s", code, stderr)
	}
	instance := regexp.MustCompile(`\bi-[0-9a-f]+\b`).FindString(out)

	// A TLS server with a CA the client does not have; it counts the
	// connections made to it.
	var conns atomic.Int32
	untrusted := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("request reached the untrusted server: %s", r.URL)
	}))
	untrusted.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	untrusted.Config.ErrorLog = log.New(io.Discard, "", 0)
	untrusted.StartTLS()
	defer untrusted.Close()

	down := refused.Addr(t)
	tests := []struct {
		name  string
		creds aws.Credentials
		args  []string
		code  int
		want  []string // each in stderr
		not   []string // none in stderr
	}{
		{name: "server down", args: []string{"--region", e.Region, "--endpoint-url", "https://" + down, "sts", "get-caller-identity"},
			code: cli.ExitOther, want: []string{`Could not connect to the endpoint URL: "https://` + down + `/" (connection refused) when calling the GetCallerIdentity operation`, "postern configure --server"},
			not: []string{"exceeded maximum number of attempts", "StatusCode"}},
		{name: "TLS trust failure", args: []string{"--region", e.Region, "--endpoint-url", untrusted.URL, "ec2", "describe-vpcs"},
			code: cli.ExitOther, want: []string{"SSL validation failed for " + untrusted.URL + "/ when calling the DescribeVpcs operation", "ca.pem", `postern configure --server ` + untrusted.URL}},
		{name: "wrong region", args: []string{"--region", "eu-west-3", "--endpoint-url", e.URL, "--ca-bundle", ca, "sts", "get-caller-identity"},
			code: cli.ExitServiceFail, want: []string{"when calling the GetCallerIdentity operation", "--region " + e.Region, "postern configure set region " + e.Region}},
		{name: "no endpoint configured", args: []string{"--region", e.Region, "sts", "get-caller-identity"},
			code: cli.ExitConfig, want: []string{"postern configure --server", "postern_allow_aws"}},
		{name: "nothing configured", args: []string{"sts", "get-caller-identity"},
			code: cli.ExitConfig, want: []string{"postern configure --server", "postern_allow_aws"}},
		{name: "no region", args: []string{"--endpoint-url", e.URL, "sts", "get-caller-identity"},
			code: cli.ExitConfig, want: []string{"You must specify a region", `"postern configure"`}, not: []string{"aws configure"}},
		{name: "no agent", args: []string{"--region", e.Region, "--endpoint-url", e.URL, "--ca-bundle", ca, "ec2-instance-connect", "open-tunnel", "--instance-id", instance},
			code: cli.ExitOther, want: []string{endpoint + " is create-in-progress", "postern ec2 create-endpoint-join-token --instance-connect-endpoint-id " + endpoint, "postern endpoint-agent --join-token"}},
		{name: "no agent, endpoint named", args: []string{"--region", e.Region, "--endpoint-url", e.URL, "--ca-bundle", ca, "ec2-instance-connect", "open-tunnel",
			"--instance-id", instance, "--instance-connect-endpoint-id", endpoint},
			code: cli.ExitOther, want: []string{"postern ec2 create-endpoint-join-token --instance-connect-endpoint-id " + endpoint}},
		{name: "no agent connected", args: []string{"--region", e.Region, "--endpoint-url", e.URL, "--ca-bundle", ca, "ec2-instance-connect", "open-tunnel",
			"--private-ip-address", "10.43.1.5", "--instance-connect-endpoint-id", joined},
			code: cli.ExitOther, want: []string{"when calling the OpenTunnel operation", "postern ec2 create-endpoint-join-token --instance-connect-endpoint-id " + joined, "postern endpoint-agent --join-token"}},
		{name: "tunnel server down", args: []string{"--region", e.Region, "--endpoint-url", e.URL, "--ca-bundle", ca, "ec2-instance-connect", "open-tunnel",
			"--private-ip-address", "10.43.1.5", "--instance-connect-endpoint-id", joined, "--instance-connect-endpoint-dns-name", down},
			code: cli.ExitOther, want: []string{"Could not connect to the endpoint URL", down, "(connection refused) when calling the OpenTunnel operation"}},
		{name: "open-tunnel refused the endpoint look-up", creds: noEndpoints, args: []string{"--region", e.Region, "--endpoint-url", e.URL, "--ca-bundle", ca,
			"ec2-instance-connect", "open-tunnel", "--instance-id", instance},
			code: cli.ExitServiceFail, want: []string{"when calling the DescribeInstanceConnectEndpoints operation"}, not: []string{"DescribeInstances "}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			creds := tc.creds
			if creds.AccessKeyID == "" {
				creds = e.Admin
			}
			cliEnv(t, creds)
			code, out, stderr := runCLI(tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d; stderr %q", code, tc.code, stderr)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			if lines := strings.Split(strings.Trim(stderr, "\n"), "\n"); len(lines) != 1 {
				t.Errorf("stderr has %d lines, want one: %q", len(lines), stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q\ndoes not say %q", stderr, w)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(stderr, w) {
					t.Errorf("stderr %q\nsays %q", stderr, w)
				}
			}
		})
	}
	t.Run("clock skew", func(t *testing.T) {
		t.Skip("neither the CLI nor the SDK has a clock hook (the SDK's is its internal sdk.NowTime) and the server's API clock is not configurable; TestClockSkewHint checks the wording on the server verifier's own refusal")
	})
	if n := conns.Load(); n != 1 {
		t.Errorf("the untrusted server got %d connections, want 1 (no retries)", n)
	}
}
