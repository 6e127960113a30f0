package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/testutil/ci"
	"github.com/postern/postern/internal/testutil/refused"
	"github.com/postern/postern/internal/testutil/tunneltest"
	"github.com/postern/postern/internal/wire/tunnelproto"
)

// The tests in this file speak to a real `postern server` through TLS and
// HTTP stacks other than Go's: OpenSSL's s_client, and awscrt (the AWS
// Common Runtime: s2n-tls and aws-c-http), which is what the AWS CLI v2's
// `ec2-instance-connect open-tunnel` and `ssh` use. scripts/test-deps.sh
// installs them (Debian's openssl and python3-awscrt); without them the
// tests skip, except under CI, where they fail.

// systemPython is Debian's Python, where python3-awscrt installs (a
// `python3` earlier on PATH may be another one without it).
const systemPython = "/usr/bin/python3"

// foreignStack skips t when a foreign stack is missing (err), or fails it
// under CI, which must run these tests.
func foreignStack(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if ci.Strict() {
		t.Fatalf("%s is not available (%v); CI must run this test (scripts/test-deps.sh installs it)", what, err)
	}
	t.Skipf("%s is not available (%v); run scripts/test-deps.sh", what, err)
}

// needAWSCRT checks that Debian's Python can import awscrt's WebSocket.
func needAWSCRT(t *testing.T) {
	t.Helper()
	out, err := exec.Command(systemPython, "-c", "import awscrt.auth, awscrt.io, awscrt.websocket").CombinedOutput()
	if err != nil {
		err = fmt.Errorf("%s cannot import awscrt: %v: %s", systemPython, err, bytes.TrimSpace(out))
	}
	foreignStack(t, "python3-awscrt", err)
}

// TestOpenSSLSeesNoCertificateRequest connects OpenSSL's s_client to a
// running server, with TLS 1.2 and 1.3: a client that offers no ALPN
// protocol, or only HTTP's, gets a handshake with no CertificateRequest
// (the AWS CLI's TLS stack fails on one); a client that offers the agents'
// protocol gets one, and HTTP/1.1 is selected.
func TestOpenSSLSeesNoCertificateRequest(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	foreignStack(t, "openssl", err)
	srv := startBareServer(t, filepath.Join(t.TempDir(), "data"))
	u, err := url.Parse(srv.url)
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(srv.dataDir, "ca.pem")
	tests := []struct {
		name     string
		alpn     string // -alpn's list; none when empty
		wantCR   bool
		wantALPN string // s_client's ALPN line
	}{
		{"no ALPN", "", false, "No ALPN negotiated"},
		{"http/1.1", "http/1.1", false, "No ALPN negotiated"},
		{"h2 and http/1.1", "h2,http/1.1", false, "No ALPN negotiated"},
		{"agent protocol", tunnelproto.AgentALPN + ",http/1.1", true, "ALPN protocol: http/1.1"},
	}
	for _, version := range []string{"-tls1_2", "-tls1_3"} {
		for _, tc := range tests {
			t.Run(version[1:]+"/"+tc.name, func(t *testing.T) {
				args := []string{"s_client", "-connect", u.Host, "-servername", "localhost", "-CAfile", ca,
					"-verify_return_error", "-msg", version}
				if tc.alpn != "" {
					args = append(args, "-alpn", tc.alpn)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				cmd := exec.CommandContext(ctx, openssl, args...)
				cmd.Stdin = strings.NewReader("") // EOF: s_client ends after the handshake
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("openssl %s: %v\n%s\n--- server output:\n%s", strings.Join(args, " "), err, out, srv.output())
				}
				s := string(out)
				if !strings.Contains(s, "Verify return code: 0 (ok)") {
					t.Fatalf("the handshake did not complete:\n%s", s)
				}
				if got := strings.Contains(s, "CertificateRequest"); got != tc.wantCR {
					t.Fatalf("CertificateRequest sent: %v, want %v\n%s", got, tc.wantCR, s)
				}
				if !strings.Contains(s, tc.wantALPN) {
					t.Fatalf("output lacks %q:\n%s", tc.wantALPN, s)
				}
			})
		}
	}
}

// cliVectorHost is the dnsName of the AWS CLI's own presigning tests.
const cliVectorHost = "eice-123.ec2-instance-connect-endpoint.us-west-2.amazonaws.com"

// TestAWSCRTPresignsAsTheCLI checks testdata/awscrt_open_tunnel.py's
// signing (awscrt's SigV4 signer, as the AWS CLI v2 calls it) against the
// AWS CLI's own test vector and docs/aws-compat.md §1.2's, URL for URL.
func TestAWSCRTPresignsAsTheCLI(t *testing.T) {
	needAWSCRT(t)
	base := "wss://" + cliVectorHost + "/openTunnel?instanceConnectEndpointId=eice-123&remotePort=22&privateIpAddress=10.0.0.0&maxTunnelDuration=1" +
		"&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=access_key%2F20200101%2Fus-west-2%2Fec2-instance-connect%2Faws4_request" +
		"&X-Amz-Date=20200101T010101Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host"
	tests := []struct {
		name, token, want string
	}{
		{"cli test_single_connection_mode", "", base + "&X-Amz-Signature=3a56740422a5b9aebd22d860b7a30c729e459a6f71a83bc0de3a2b44b7353f28"},
		{"session token", "session_token", base + "&X-Amz-Security-Token=session_token&X-Amz-Signature=7dce7aa3501e3f3e2b039fa9548431a6d4762a3a7cce4b913f1482c669be7f6d"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := runAWSCRT(t, map[string]any{
				"presignOnly": true, "date": "2020-01-01T01:01:01Z", "region": "us-west-2",
				"accessKeyId": "access_key", "secretAccessKey": "secret_key", "sessionToken": tc.token,
				"dnsName": cliVectorHost, "endpointId": "eice-123", "remotePort": "22", "privateIp": "10.0.0.0", "maxTunnelDuration": "1",
			})
			if res.URL != tc.want {
				t.Fatalf("url\n got %s\nwant %s", res.URL, tc.want)
			}
		})
	}
}

// awscrtResult is what testdata/awscrt_open_tunnel.py reports.
type awscrtResult struct {
	URL               string      `json:"url"`
	Status            int         `json:"status"`
	Headers           [][2]string `json:"headers"`
	HeadersPresent    bool        `json:"headersPresent"`
	Body              string      `json:"body"`
	Exception         string      `json:"exception"`
	ShutdownException string      `json:"shutdownException"`
	Echoed            string      `json:"echoed"`
	CloseCode         int         `json:"closeCode"`
	CloseReason       string      `json:"closeReason"`
}

func (r awscrtResult) header(name string) string {
	for _, h := range r.Headers {
		if strings.EqualFold(h[0], name) {
			return h[1]
		}
	}
	return ""
}

// runAWSCRT runs testdata/awscrt_open_tunnel.py with input.
func runAWSCRT(t *testing.T, input map[string]any) awscrtResult {
	t.Helper()
	in, err := json.Marshal(input)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, systemPython, filepath.Join("testdata", "awscrt_open_tunnel.py"))
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("awscrt_open_tunnel.py: %v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	var res awscrtResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("awscrt_open_tunnel.py output %q: %v\nstderr: %s", stdout.String(), err, stderr.String())
	}
	return res
}

// TestAWSCRTOpenTunnel opens tunnels through a running server as the AWS
// CLI v2 does: a URL presigned by awscrt's SigV4 signer as the CLI calls
// it, then awscrt's TLS (s2n-tls) and WebSocket handshake to /openTunnel
// with Host and SNI the endpoint's dnsName. The server advertises port 443
// so that dnsName is the bare host name the CLI expects; the script dials
// the server's real port (the CLI's only difference). Bytes go through the
// tunnel to a real echo server and back; refusals are read as the CLI reads
// them: the handshake's HTTP status, headers and JSON body.
func TestAWSCRTOpenTunnel(t *testing.T) {
	needAWSCRT(t)
	echo := tunneltest.Echo(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	closed := mustAtoi(t, strings.TrimPrefix(refused.Addr(t), "127.0.0.1:")) // a port that refuses connections
	writeServerConfig(t, dataDir, fmt.Sprintf("version: 1\nadvertise: localhost:443\ntunnel:\n  ports: [\"%d\", \"%d\"]\n", echo.Port, closed))
	srv := startServer(t, dataDir)
	var eps struct {
		InstanceConnectEndpoints []struct{ InstanceConnectEndpointId, DnsName string }
	}
	srv.mustJSON(t, &eps, "ec2", "describe-instance-connect-endpoints")
	if len(eps.InstanceConnectEndpoints) != 1 || eps.InstanceConnectEndpoints[0].DnsName != "localhost" {
		t.Fatalf("want the one local endpoint with dnsName localhost: %+v", eps)
	}
	ep := eps.InstanceConnectEndpoints[0]
	_, port, err := net.SplitHostPort(strings.TrimPrefix(srv.url, "https://"))
	if err != nil {
		t.Fatal(err)
	}
	akid, secret := adminKey(t, dataDir)
	region := configValue(t, filepath.Join(dataDir, "config"), "region")
	payload := "hello-tunnel\n" + strings.Repeat("0123456789abcdef", 10000) // three of the CLI's 65,000-byte frames

	tests := []struct {
		name       string
		endpointID string
		remotePort int
		order      string // "cli": the CLI 2.13's parameter order; "awscrt": Debian awscrt's
		status     int
		errorCode  string
		message    string // part of the refusal's Message
	}{
		{name: "echo", endpointID: ep.InstanceConnectEndpointId, remotePort: echo.Port, order: "cli", status: 101},
		{name: "echo, awscrt's parameter order", endpointID: ep.InstanceConnectEndpointId, remotePort: echo.Port, order: "awscrt", status: 101},
		{name: "port the server refuses", endpointID: ep.InstanceConnectEndpointId, remotePort: 8080, order: "cli",
			status: 400, errorCode: "InvalidParameter", message: "RemotePort"},
		{name: "unknown endpoint", endpointID: "eice-00000000000000000", remotePort: echo.Port, order: "cli",
			status: 404, errorCode: "InvalidInstanceConnectEndpointId.NotFound", message: "does not exist"},
		// The 101 does not wait for the agent's dial: a target that
		// refuses closes the WebSocket with 1011 and the reason, which
		// the CLI prints as "Websocket Closure Reason: …".
		{name: "target refuses", endpointID: ep.InstanceConnectEndpointId, remotePort: closed, order: "cli",
			status: 101, errorCode: "1011", message: "Connection refused by 127.0.0.1:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := runAWSCRT(t, map[string]any{
				"region": region, "accessKeyId": akid, "secretAccessKey": secret,
				"dnsName": ep.DnsName, "endpointId": tc.endpointID, "remotePort": fmt.Sprint(tc.remotePort), "privateIp": "127.0.0.1",
				"queryOrder": tc.order, "connectHost": "127.0.0.1", "connectPort": mustAtoi(t, port), "caFile": filepath.Join(dataDir, "ca.pem"),
				"payload": payload,
			})
			logs := func() string { return fmt.Sprintf("awscrt: %+v\n--- server output:\n%s", res, srv.output()) }
			wantPrefix := "wss://localhost/openTunnel?instanceConnectEndpointId=" + tc.endpointID + "&remotePort=" + fmt.Sprint(tc.remotePort) + "&privateIpAddress=127.0.0.1&X-Amz-Algorithm=AWS4-HMAC-SHA256&"
			if !strings.HasPrefix(res.URL, wantPrefix) || !strings.Contains(res.URL, "X-Amz-Expires=60&") {
				t.Fatalf("url %s is not the CLI's form (want prefix %s)", res.URL, wantPrefix)
			}
			// The AWS CLI's on_connection_setup iterates the response
			// headers: a TLS failure (no HTTP response) is its TypeError.
			if !res.HeadersPresent || res.header("x-amzn-RequestId") == "" {
				t.Fatalf("no HTTP response with x-amzn-RequestId to the handshake (the AWS CLI fails with a TypeError here)\n%s", logs())
			}
			if res.Status != tc.status {
				t.Fatalf("handshake status %d, want %d\n%s", res.Status, tc.status, logs())
			}
			if tc.status == 101 && tc.errorCode == "1011" {
				if res.Echoed != "" || res.CloseCode != 1011 || !strings.Contains(res.CloseReason, tc.message) {
					t.Fatalf("echoed %q, closed with %d %q; want no byte and a close 1011 with %q\n%s", res.Echoed, res.CloseCode, res.CloseReason, tc.message, logs())
				}
				return
			}
			if tc.status == 101 {
				if res.Exception != "" || res.ShutdownException != "" {
					t.Fatalf("tunnel failed\n%s", logs())
				}
				if res.Echoed != payload {
					t.Fatalf("echoed %d bytes, want the %d sent\n%s", len(res.Echoed), len(payload), logs())
				}
				return
			}
			if res.Exception == "" {
				t.Fatalf("a refused handshake gave awscrt no exception\n%s", logs())
			}
			// What the CLI prints: the JSON body of the refused handshake.
			var body map[string]string
			if err := json.Unmarshal([]byte(res.Body), &body); err != nil {
				t.Fatalf("refusal body %q: %v\n%s", res.Body, err, logs())
			}
			if len(body) != 2 || body["ErrorCode"] != tc.errorCode || !strings.Contains(body["Message"], tc.message) {
				t.Fatalf("refusal body %s, want ErrorCode %s and a Message with %q\n%s", res.Body, tc.errorCode, tc.message, logs())
			}
		})
	}
}

// adminKey reads the administrator's access key from the credentials file
// the server wrote.
func adminKey(t *testing.T, dataDir string) (akid, secret string) {
	t.Helper()
	path := filepath.Join(dataDir, "credentials")
	return configValue(t, path, "aws_access_key_id"), configValue(t, path, "aws_secret_access_key")
}

// configValue reads key from a shared config or credentials file the
// server wrote ("key = value" lines).
func configValue(t *testing.T, path, key string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), " = "); ok && k == key && v != "" {
			return v
		}
	}
	t.Fatalf("no %s in %s", key, path)
	return ""
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return n
}
