package cli

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/postern/postern/internal/wire/sigv4"
)

// TestClockSkewHint: the CLI has no clock hook (the SDK's clock is its
// internal sdk.NowTime) and the server's API clock is not configurable, so
// the clock-skew row of TestErrorMessages is checked here: a request the
// SDK's signer signs an hour off is refused by the server's verifier (with
// its own clock hook), and the CLI's hint for that refusal, under the code
// each protocol answers with (api.go: RequestExpired for EC2,
// SignatureDoesNotMatch otherwise), names the clock.
func TestClockSkewHint(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, off := range []time.Duration{-time.Hour, time.Hour} {
		req, err := http.NewRequest(http.MethodPost, "https://127.0.0.1/", strings.NewReader(""))
		if err != nil {
			t.Fatal(err)
		}
		const emptySHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
		creds := aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret"}
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, emptySHA, "sts", "postern-1", now.Add(off)); err != nil {
			t.Fatal(err)
		}
		v := &sigv4.Verifier{Now: func() time.Time { return now }, Lookup: func(context.Context, string, string) (sigv4.Credential, error) {
			return sigv4.Credential{SecretAccessKey: "secret"}, nil
		}}
		_, err = v.Verify(context.Background(), req, nil)
		var se *sigv4.Error
		if !errors.As(err, &se) {
			t.Fatalf("offset %v: verify: %v, want a refusal", off, err)
		}
		for _, code := range []string{"SignatureDoesNotMatch", "RequestExpired"} {
			if h := serviceHint(code, se.Message); !strings.Contains(h, "clock") {
				t.Errorf("offset %v, %s %q: hint %q does not name the clock", off, code, se.Message, h)
			}
		}
	}
}

// TestEndpointConfigured: a call goes out only to an endpoint that is
// configured (flag, environment, profile), or to AWS when the profile (or
// POSTERN_ALLOW_AWS) opts in with postern_allow_aws.
func TestEndpointConfigured(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "config")
	if err := os.WriteFile(cfgFile, []byte("[default]\nregion = us-east-1\n\n[profile aws]\npostern_allow_aws = true\n\n[profile off]\npostern_allow_aws = false\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CONFIG_FILE", cfgFile)
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_ENDPOINT_URL", "")
	t.Setenv("POSTERN_ALLOW_AWS", "")
	tests := []struct {
		name, flag, base, profile, env, allowEnv string
		want                                     bool
	}{
		{name: "nothing", want: false},
		{name: "flag", flag: "https://127.0.0.1:8443", want: true},
		{name: "profile or AWS_ENDPOINT_URL (the SDK's BaseEndpoint)", base: "https://127.0.0.1:8443", want: true},
		{name: "service variable", env: "https://127.0.0.1:8443", want: true},
		{name: "profile opts in", profile: "aws", want: true},
		{name: "profile opts out", profile: "off", want: false},
		{name: "POSTERN_ALLOW_AWS", allowEnv: "true", want: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("AWS_ENDPOINT_URL_STS", tc.env)
			t.Setenv("POSTERN_ALLOW_AWS", tc.allowEnv)
			cfg := aws.Config{}
			if tc.base != "" {
				cfg.BaseEndpoint = aws.String(tc.base)
			}
			if got := endpointConfigured(cfg, tc.flag, tc.profile); got != tc.want {
				t.Errorf("endpointConfigured = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestConnectTimeoutWording: a connection not made in time (a real dial
// that times out) is worded as the AWS CLI's "Connect timeout on endpoint
// URL", with the operation and --cli-connect-timeout; a read timeout says
// Read and --cli-read-timeout (TestReadTimeoutMessage runs that one end to
// end).
func TestConnectTimeoutWording(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, dialErr := (&net.Dialer{Timeout: time.Nanosecond}).Dial("tcp", ln.Addr().String())
	if dialErr == nil {
		t.Fatal("a dial with a one-nanosecond timeout connected")
	}
	err = &url.Error{Op: "Post", URL: "https://" + ln.Addr().String(), Err: dialErr}
	got := transportError("DescribeVpcs", err)
	want := "\nConnect timeout on endpoint URL: \"https://" + ln.Addr().String() + "/\" when calling the DescribeVpcs operation. " +
		"Is the Postern server there answering? Wait longer with --cli-connect-timeout SECONDS (0 waits for ever)."
	if got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}
