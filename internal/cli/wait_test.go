package cli_test

import (
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/agent"
	"github.com/postern/postern/internal/cli"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// TestEndpointWaiters: `postern ec2 wait instance-connect-endpoint-available`
// and `…-deleted` against a real server: they poll until the endpoint's
// state matches (an agent joining makes it available), stop at a terminal
// state, and exit 255 with the AWS CLI's wording when they fail or run out
// of attempts.
func TestEndpointWaiters(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{})
	_, _, endpoint, _ := e.Network("10.42.0.0/16", "10.42.1.0/24")
	cliEnv(t, e.Admin)
	global := []string{"--region", e.Region, "--endpoint-url", e.URL, "--ca-bundle", e.Dir + "/ca.pem", "ec2", "wait"}
	wait := func(args ...string) (int, string) {
		code, _, stderr := runCLI(append(append([]string{}, global...), args...)...)
		return code, stderr
	}

	// No agent yet: the endpoint stays create-in-progress.
	code, stderr := wait("instance-connect-endpoint-available", "--instance-connect-endpoint-ids", endpoint, "--max-attempts", "2", "--delay", "1ms")
	if code != cli.ExitOther || strings.TrimSpace(stderr) != "Waiter InstanceConnectEndpointAvailable failed: Max attempts exceeded" {
		t.Fatalf("before an agent: exit %d, stderr %q", code, stderr)
	}

	// The waiter polls while the agent joins. Its attempts (20 ms apart,
	// at least 200 s in all) are a guard, not a measure: 1,000 of them
	// (20 s) could run out on a starved CI machine before the agent joined.
	done := make(chan int, 1)
	go func() {
		code, _ := wait("instance-connect-endpoint-available", "--instance-connect-endpoint-ids", endpoint, "--delay", "20ms", "--max-attempts", "10000")
		done <- code
	}()
	e.StartAgent(endpoint, agent.Config{AllowLoopback: true, DrainTimeout: 100 * time.Millisecond})
	if code := <-done; code != 0 {
		t.Fatalf("after the agent joined: exit %d", code)
	}

	if code, _, stderr := runCLI("--region", e.Region, "--endpoint-url", e.URL, "--ca-bundle", e.Dir+"/ca.pem",
		"ec2", "delete-instance-connect-endpoint", "--instance-connect-endpoint-id", endpoint); code != 0 {
		t.Fatalf("delete: exit %d: %s", code, stderr)
	}
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string // contained
	}{
		{"deleted", []string{"instance-connect-endpoint-deleted", "--instance-connect-endpoint-ids", endpoint, "--delay", "20ms", "--max-attempts", "10000"}, 0, ""},
		{"deleted, unknown id", []string{"instance-connect-endpoint-deleted", "--instance-connect-endpoint-ids", "eice-0123456789abcdef0", "--max-attempts", "1"}, 0, ""},
		{"available, but deleted", []string{"instance-connect-endpoint-available", "--instance-connect-endpoint-ids", endpoint, "--max-attempts", "3", "--delay", "1ms"}, cli.ExitOther,
			"Waiter InstanceConnectEndpointAvailable failed: Waiter encountered a terminal failure state: For expression \"InstanceConnectEndpoints[].State\" we matched expected path: \"delete-"},
		{"available, unknown id", []string{"instance-connect-endpoint-available", "--instance-connect-endpoint-ids", "eice-0123456789abcdef0", "--max-attempts", "3", "--delay", "1ms"}, cli.ExitOther,
			"Waiter InstanceConnectEndpointAvailable failed: An error occurred (InvalidInstanceConnectEndpointId.NotFound) when calling the DescribeInstanceConnectEndpoints operation"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stderr := wait(tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.stderr) {
				t.Fatalf("exit %d, stderr %q; want exit %d, stderr containing %q", code, stderr, tc.code, tc.stderr)
			}
		})
	}
}
