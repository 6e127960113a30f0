package cli_test

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/postern/postern/internal/agent"
	"github.com/postern/postern/internal/cli"
	"github.com/postern/postern/internal/testutil/refused"
	"github.com/postern/postern/internal/testutil/tunneltest"
	"github.com/postern/postern/internal/wire/awsproto"
	"github.com/postern/postern/internal/wire/sigv4"
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
		// The look-up cannot even be sent: the message names what the
		// user asked for, not the look-up (formerly DescribeInstances).
		{name: "open-tunnel, server down", args: []string{"--region", e.Region, "--endpoint-url", "https://" + down, "ec2-instance-connect", "open-tunnel", "--instance-id", instance},
			code: cli.ExitOther, want: []string{"(connection refused) when calling the OpenTunnel operation", "postern configure --server"}, not: []string{"DescribeInstances"}},
		{name: "open-tunnel, wrong region", args: []string{"--region", "eu-west-3", "--endpoint-url", e.URL, "--ca-bundle", ca, "ec2-instance-connect", "open-tunnel", "--instance-id", instance},
			code: cli.ExitServiceFail, want: []string{"when calling the OpenTunnel operation", "--region " + e.Region}, not: []string{"DescribeInstances"}},
		{name: "open-tunnel, unknown instance", args: []string{"--region", e.Region, "--endpoint-url", e.URL, "--ca-bundle", ca, "ec2-instance-connect", "open-tunnel", "--instance-id", "i-0123456789abcdef0"},
			code: cli.ExitServiceFail, want: []string{"(InvalidInstanceID.NotFound) when calling the DescribeInstances operation"}},
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
	if n := conns.Load(); n != 1 {
		t.Errorf("the untrusted server got %d connections, want 1 (no retries)", n)
	}
}

// TestSDKQuietUnlessDebug: with no credentials anywhere, the SDK's own
// warnings (an instance metadata service answering 403 — formerly "SDK …
// WARN falling back to IMDSv1 … StatusCode: 403" before postern's line)
// do not reach stderr: one line names the missing setting. --debug logs
// each request and response, as the AWS CLI's --debug. An unknown
// profile says how to set it up.
func TestSDKQuietUnlessDebug(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{})
	ca := filepath.Join(e.Dir, "ca.pem")
	var imdsCalls atomic.Int32
	imds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		imdsCalls.Add(1)
		http.Error(w, "forbidden", http.StatusForbidden)
	}))
	t.Cleanup(imds.Close)

	cliEnv(t, aws.Credentials{})
	t.Setenv("AWS_EC2_METADATA_DISABLED", "false")
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.URL)
	// The SDK's default logger writes to the process's stderr, not to
	// Main's: watch both.
	var code int
	var out, stderr string
	processStderr := captureStderr(t, func() {
		code, out, stderr = runCLI("--region", e.Region, "--endpoint-url", e.URL, "--ca-bundle", ca, "sts", "get-caller-identity")
	})
	const want = "\nUnable to locate credentials. You can configure credentials by running \"postern configure\".\n"
	if code != cli.ExitConfig || out != "" || stderr != want || processStderr != "" {
		t.Errorf("no credentials: exit %d, stdout %q, stderr %q, process stderr %q; want exit %d, stderr %q and nothing else", code, out, stderr, processStderr, cli.ExitConfig, want)
	}
	if imdsCalls.Load() == 0 {
		t.Error("the instance metadata service was not asked: the test does not show the SDK's warning is silenced")
	}

	code, _, stderr = runCLI("--profile", "nosuch", "--region", e.Region, "--endpoint-url", e.URL, "sts", "get-caller-identity")
	if want := "\nThe config profile (nosuch) could not be found. Set it up with \"postern configure --profile nosuch\" (and --server for its Postern server).\n"; code != cli.ExitOther || stderr != want {
		t.Errorf("unknown profile: exit %d, stderr %q; want exit %d, stderr %q", code, stderr, cli.ExitOther, want)
	}

	cliEnv(t, e.Admin)
	code, out, stderr = runCLI("--debug", "--region", e.Region, "--endpoint-url", e.URL, "--ca-bundle", ca, "sts", "get-caller-identity", "--query", "Account", "--output", "text")
	if code != cli.ExitOK || strings.TrimSpace(out) == "" {
		t.Fatalf("--debug: exit %d, stdout %q: %s", code, out, stderr)
	}
	for _, w := range []string{"DEBUG Request", "Action=GetCallerIdentity", "DEBUG Response", "HTTP/1.1 200 OK", "<GetCallerIdentityResult>"} {
		if !strings.Contains(stderr, w) {
			t.Errorf("--debug: stderr lacks %q:\n%s", w, stderr)
		}
	}
	if strings.Contains(out, "DEBUG") {
		t.Errorf("--debug logged to stdout: %q", out)
	}
}

// captureStderr returns what run wrote to the process's stderr.
func captureStderr(t *testing.T, run func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = w
	got := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(r)
		got <- string(b)
	}()
	defer func() {
		os.Stderr = saved
	}()
	run()
	os.Stderr = saved
	_ = w.Close()
	s := <-got
	_ = r.Close()
	return s
}

// TestClockSkewMessage: a machine whose clock is an hour off the
// server's gets one line naming the operation and the clock (formerly a
// skipped row of TestErrorMessages: neither the CLI nor the SDK has a clock
// hook). The server here is the real SigV4 verifier with its clock an hour
// ahead or behind, answering its refusal as Postern's STS does
// (SignatureDoesNotMatch, api.go); the request is the CLI's, signed by the
// SDK.
func TestClockSkewMessage(t *testing.T) {
	creds := aws.Credentials{AccessKeyID: "AKIAEXAMPLEEXAMPLE12", SecretAccessKey: "secretsecretsecretsecretsecretsecret1234"}
	for _, off := range []time.Duration{time.Hour, -time.Hour} {
		t.Run(off.String(), func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				body, err := io.ReadAll(r.Body)
				if err != nil {
					t.Error(err)
					return
				}
				v := &sigv4.Verifier{Now: func() time.Time { return time.Now().Add(off) }, Regions: []string{"us-east-1"},
					Lookup: func(context.Context, string, string) (sigv4.Credential, error) {
						return sigv4.Credential{SecretAccessKey: creds.SecretAccessKey}, nil
					}}
				_, err = v.Verify(r.Context(), r, body)
				var se *sigv4.Error
				if !errors.As(err, &se) {
					t.Errorf("the verifier took a request signed %v off: %v", off, err)
					return
				}
				awsproto.WriteQueryError(w, "https://sts.amazonaws.com/doc/2011-06-15/", "req-1",
					awsproto.Errorf(http.StatusForbidden, "SignatureDoesNotMatch", "%s", se.Message))
			}))
			t.Cleanup(srv.Close)
			cliEnv(t, creds)
			code, out, stderr := runCLI("--region", "us-east-1", "--endpoint-url", srv.URL, "sts", "get-caller-identity")
			if code != cli.ExitServiceFail || out != "" {
				t.Errorf("exit %d, stdout %q; want exit %d", code, out, cli.ExitServiceFail)
			}
			if lines := strings.Split(strings.Trim(stderr, "\n"), "\n"); len(lines) != 1 {
				t.Errorf("stderr has %d lines, want one: %q", len(lines), stderr)
			}
			for _, w := range []string{"(SignatureDoesNotMatch) when calling the GetCallerIdentity operation", "This machine's clock differs from the server's", "set the clock"} {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q\ndoes not say %q", stderr, w)
				}
			}
			if calls.Load() == 0 {
				t.Error("no request reached the server")
			}
		})
	}
}

// TestReadTimeoutMessage: a server that takes the connection and never
// answers gives, after --cli-read-timeout, one line as the AWS CLI's
// ("Read timeout on endpoint URL") naming the operation and the option —
// formerly the SDK's raw "exceeded maximum number of attempts, 3, https
// response error StatusCode: 0, … timeout awaiting response headers".
func TestReadTimeoutMessage(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c) // taken, never answered
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			_ = c.Close()
		}
	})
	cliEnv(t, aws.Credentials{AccessKeyID: "AKIAEXAMPLEEXAMPLE12", SecretAccessKey: "secretsecretsecretsecretsecretsecret1234"})
	t.Setenv("AWS_MAX_ATTEMPTS", "1")
	url := "http://" + ln.Addr().String()
	code, out, stderr := runCLI("--region", "us-east-1", "--endpoint-url", url, "--cli-read-timeout", "1", "sts", "get-caller-identity")
	want := "\nRead timeout on endpoint URL: \"" + url + "/\" when calling the GetCallerIdentity operation. " +
		"Is the Postern server there answering? Wait longer with --cli-read-timeout SECONDS (0 waits for ever).\n"
	if code != cli.ExitOther || out != "" || stderr != want {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, stderr %q", code, out, stderr, cli.ExitOther, want)
	}
}
