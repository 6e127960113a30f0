package cli_test

import (
	"context"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/cli"
	"github.com/postern/postern/internal/server/config"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// TestOutputEveryCommand: --output and --query apply to Postern's own
// commands as to the SDK's operations, bad options are usage errors, times
// are ISO 8601 and unset members are left out.
func TestOutputEveryCommand(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{Config: func(c *config.Server) { c.Tunnel.Ports = []string{"*"} }})
	_, subnet, _, _ := e.Network("10.43.0.0/16", "10.43.1.0/24")
	cliEnv(t, e.Admin)
	global := []string{"--region", e.Region, "--endpoint-url", e.URL, "--ca-bundle", filepath.Join(e.Dir, "ca.pem")}

	// An open tunnel, for `tunnels list`.
	echo := tunneltest.Echo(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tun, err := e.Dialer(e.Admin).Dial(ctx, e.Local(echo.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Close()

	iso := `\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00`
	tests := []struct {
		name string
		args []string
		code int
		// want and wantNot are regular expressions on stdout (or on
		// stderr when code is not 0).
		want, wantNot []string
	}{
		{"agents table", []string{"--output", "table", "ec2", "describe-endpoint-agents"}, 0,
			[]string{`(?m)^-+\n\|\s+DescribeEndpointAgents\s+\|\n\+-+\+\n\|\|\s+EndpointAgents\s+\|\|$`, `\|\|  AgentId\s+\|  eni-`}, []string{`[{}"]`}},
		{"agents text", []string{"--output", "text", "ec2", "describe-endpoint-agents"}, 0,
			[]string{`(?m)^ENDPOINTAGENTS\t`, `\t` + iso + `\t`, `\tTrue\t`}, []string{`[{}"]`}},
		{"agents yaml", []string{"--output", "yaml", "ec2", "describe-endpoint-agents"}, 0,
			[]string{`(?m)^EndpointAgents:\n- Address: \S+\n  AgentId: eni-`, `(?m)^  CreatedAt: '` + iso + `'$`}, []string{`[{}"]`}},
		{"agents yaml-stream", []string{"--output", "yaml-stream", "ec2", "describe-endpoint-agents"}, 0,
			[]string{`(?m)^- EndpointAgents:\n  - Address: \S+\n    AgentId: eni-`}, nil},
		{"agents query", []string{"--query", "EndpointAgents[0].AgentId", "--output", "text", "ec2", "describe-endpoint-agents"}, 0,
			[]string{`^eni-[0-9a-f]+\n$`}, nil},
		{"agents json times", []string{"ec2", "describe-endpoint-agents"}, 0,
			[]string{`"CreatedAt": "` + iso + `"`}, []string{`\d\dZ"`}},
		{"tunnels list text", []string{"--output", "text", "tunnels", "list"}, 0,
			[]string{`(?m)^TUNNELS\t.*tnl-`}, []string{`[{}"]`}},
		{"tunnels list ISO times", []string{"tunnels", "list"}, 0,
			[]string{`"StartedAt": "` + iso + `"`}, []string{`"StartedAt": \d`}},
		{"tunnels list query", []string{"--query", "Tunnels[].TunnelId", "--output", "text", "tunnels", "list"}, 0,
			[]string{`^tnl-[0-9a-z]+\n$`}, nil},
		{"join token table", []string{"--output", "table", "ec2", "create-endpoint-join-token", "--instance-connect-endpoint-id", e.Server.Local.EndpointID}, 0,
			[]string{`\|\s+CreateEndpointJoinToken\s+\|`, `\|  ExpiresAt\s+\|  ` + iso}, nil},
		{"register-instance: no empty enums", []string{"ec2", "register-instance", "--subnet-id", subnet, "--private-ip-address", "10.43.1.5"}, 0,
			[]string{`"InstanceId": "i-`}, []string{`"(Architecture|Hypervisor|RootDeviceType|VirtualizationType|InstanceType|Platform|BootMode|CurrentInstanceBootMode|InstanceLifecycle)": ""`}},
		// An SDK operation's members come in the AWS model's order (as
		// botocore parses them), not the Go struct's (alphabetical).
		{"api json in model order", []string{"ec2", "describe-instance-connect-endpoints"}, 0,
			[]string{`^\{\n    "InstanceConnectEndpoints": \[\n        \{\n            "OwnerId": "\d{12}",\n            "InstanceConnectEndpointId": "eice-[0-9a-f]+",\n            "InstanceConnectEndpointArn": "arn:[^"]+",\n            "State": "[a-z-]+",\n`,
				`(?s)"DnsName": .*"NetworkInterfaceIds": .*"VpcId": .*"AvailabilityZone": .*"CreatedAt": .*"SubnetId": .*"PreserveClientIp": .*"SecurityGroupIds": .*"AvailabilityZoneId": `}, nil},
		// YAML sorts each mapping's keys, as the AWS CLI v2's ruamel.yaml.
		{"api yaml keys sorted", []string{"--output", "yaml", "ec2", "describe-instance-connect-endpoints"}, 0,
			[]string{`^InstanceConnectEndpoints:\n- AvailabilityZone: \S+\n  AvailabilityZoneId: \S+\n  CreatedAt: '[^']+'\n  DnsName: \S+\n`}, nil},
		{"api yaml-stream keys sorted", []string{"--output", "yaml-stream", "ec2", "describe-instance-connect-endpoints"}, 0,
			[]string{`^- InstanceConnectEndpoints:\n  - AvailabilityZone: \S+\n    AvailabilityZoneId: `}, nil},
		{"api table", []string{"--output", "table", "sts", "get-caller-identity"}, 0,
			[]string{`\|\s+GetCallerIdentity\s+\|`, `\|  Account\s*\|  \d{12}\s+\|`}, nil},
		{"api yaml with query", []string{"--output", "yaml", "--query", "{Who: Arn, Acct: Account}", "sts", "get-caller-identity"}, 0,
			[]string{`^Acct: '\d{12}'\nWho: arn:aws:iam::\d{12}:user/\S+\n$`}, nil},
		{"bad output", []string{"--output", "xml", "sts", "get-caller-identity"}, cli.ExitUsage,
			[]string{`--output.*Invalid choice, valid choices are: json \| text \| table \| yaml \| yaml-stream`}, nil},
		{"bad query", []string{"--query", "Users[", "iam", "list-users"}, cli.ExitUsage,
			[]string{`Bad value for --query`}, nil},
		{"bad color", []string{"--color", "blue", "sts", "get-caller-identity"}, cli.ExitUsage,
			[]string{`--color.*Invalid choice`}, nil},
		{"pager, colour and timeouts accepted", []string{"--no-cli-pager", "--color", "off", "--cli-read-timeout", "30", "--cli-connect-timeout", "5", "--output", "text", "sts", "get-caller-identity"}, 0,
			[]string{`^\d{12}\t`}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb strings.Builder
			code := cli.Main(context.Background(), append(append([]string{}, global...), tc.args...), strings.NewReader(""), &out, &errb)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stdout:\n%s\nstderr:\n%s", code, tc.code, out.String(), errb.String())
			}
			text := out.String()
			if tc.code != 0 {
				text = errb.String()
			}
			for _, w := range tc.want {
				if !regexp.MustCompile(w).MatchString(text) {
					t.Errorf("want %s in\n%s", w, text)
				}
			}
			for _, w := range tc.wantNot {
				if regexp.MustCompile(w).MatchString(text) {
					t.Errorf("want no %s in\n%s", w, text)
				}
			}
		})
	}
}

// TestCLIReadTimeout: --cli-read-timeout bounds the wait for an answer
// from a server that accepts and never answers.
func TestCLIReadTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { <-done; c.Close() }()
		}
	}()
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_MAX_ATTEMPTS", "1")
	// The context is a hang guard, later than the default read timeout
	// (60 s) that an ignored --cli-read-timeout would fall back to.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	var out, errb strings.Builder
	code := cli.Main(ctx, []string{"--region", "us-east-1", "--endpoint-url", "http://" + ln.Addr().String(), "--cli-read-timeout", "1", "sts", "get-caller-identity"},
		strings.NewReader(""), &out, &errb)
	if code == cli.ExitOK || code == cli.ExitUsage {
		t.Fatalf("exit %d from a server that never answers: %s%s", code, out.String(), errb.String())
	}
	// 30 s: far above the 1 s asked for (a loaded machine, -race) and
	// well under the 60 s default it would otherwise wait.
	if d := time.Since(start); d > 30*time.Second {
		t.Fatalf("gave up after %v with --cli-read-timeout 1 (stderr %q)", d, errb.String())
	}
}
