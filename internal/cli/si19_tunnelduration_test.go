package cli_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// TestOpenTunnelMaxDurationBounds: --max-tunnel-duration outside 1–3600
// (0 included: given, not "unset") is refused before any call, rc 252 and
// the AWS CLI's message, under both command names; 1 and 3600 and no flag
// go on to the look-up.
func TestOpenTunnelMaxDurationBounds(t *testing.T) {
	cliEnv(t, aws.Credentials{AccessKeyID: "AKIDSI19", SecretAccessKey: "secret"})
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`<Response><Errors><Error><Code>InvalidInstanceID.NotFound</Code><Message>si19 look-up reached</Message></Error></Errors><RequestID>si19</RequestID></Response>`))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	const msg = "Invalid max connection timeout specified. Value must be greater than 1 and less than 3600."
	for _, name := range [][]string{{"ec2-instance-connect", "open-tunnel"}, {"tunnel"}} {
		for _, tc := range []struct {
			flag    []string
			refused bool
		}{
			{[]string{"--max-tunnel-duration", "-1"}, true},
			{[]string{"--max-tunnel-duration", "0"}, true},
			{[]string{"--max-tunnel-duration=0"}, true},
			{[]string{"--max-tunnel-duration", "3601"}, true},
			{[]string{"--max-tunnel-duration", "9223372036854775807"}, true},
			{[]string{"--max-tunnel-duration", "1"}, false},
			{[]string{"--max-tunnel-duration", "3600"}, false},
			{nil, false},
		} {
			t.Run(strings.Join(append(append([]string{}, name...), tc.flag...), " "), func(t *testing.T) {
				before := conns.Load()
				args := append([]string{"--region", "us-east-1", "--endpoint-url", srv.URL}, name...)
				args = append(append(args, "--instance-id", "i-0123456789abcdef0"), tc.flag...)
				code, _, stderr := runCLI(args...)
				made := conns.Load() - before
				if tc.refused {
					if code != 252 || !strings.Contains(stderr, msg) || made != 0 {
						t.Fatalf("exit %d, %d connections, stderr %q; want 252, none, %q", code, made, stderr, msg)
					}
					return
				}
				if code == 252 || strings.Contains(stderr, "Invalid max connection timeout") || made == 0 {
					t.Fatalf("exit %d, %d connections, stderr %q; want the look-up made", code, made, stderr)
				}
			})
		}
	}
}
