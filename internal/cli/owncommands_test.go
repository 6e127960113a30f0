package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/postern/postern/internal/cli"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// TestOwnCommandsSkeletons: Postern's own commands that each send one API
// operation (register-instance, the endpoint-agent actions, tunnels list
// and terminate) and the waiters take --generate-cli-skeleton as the
// reflected operations do (formerly an unknown flag): the input's members
// as the API names them, in its order, as JSON or YAML, and the output's;
// nothing is configured, as nothing is called. A waiter's input is its
// operation's (DescribeInstanceConnectEndpoints).
func TestOwnCommandsSkeletons(t *testing.T) {
	cliEnv(t, aws.Credentials{})
	checkSkeletons(t, []skeletonCase{
		{"ec2-register-instance.json", []string{"ec2", "register-instance", "--generate-cli-skeleton"}},
		{"ec2-deregister-instance.json", []string{"ec2", "deregister-instance", "--generate-cli-skeleton", "input"}},
		{"ec2-create-endpoint-join-token.json", []string{"ec2", "create-endpoint-join-token", "--generate-cli-skeleton"}},
		{"ec2-create-endpoint-join-token-output.json", []string{"ec2", "create-endpoint-join-token", "--generate-cli-skeleton", "output"}},
		{"ec2-describe-endpoint-agents.json", []string{"ec2", "describe-endpoint-agents", "--generate-cli-skeleton"}},
		{"ec2-describe-endpoint-agents-output.json", []string{"ec2", "describe-endpoint-agents", "--generate-cli-skeleton=output"}},
		{"ec2-revoke-endpoint-agent.yaml", []string{"ec2", "revoke-endpoint-agent", "--generate-cli-skeleton", "yaml-input"}},
		{"tunnels-list.json", []string{"tunnels", "list", "--generate-cli-skeleton"}},
		{"tunnels-list-output.json", []string{"--output", "text", "tunnels", "list", "--generate-cli-skeleton", "output"}},
		{"tunnels-terminate.json", []string{"tunnels", "terminate", "--generate-cli-skeleton"}},
		{"tunnels-terminate-output.json", []string{"tunnels", "terminate", "--generate-cli-skeleton", "output"}},
		{"ec2-wait-instance-connect-endpoint-available.json", []string{"ec2", "wait", "instance-connect-endpoint-available", "--generate-cli-skeleton"}},
		{"ec2-wait-instance-connect-endpoint-available.json", []string{"ec2", "describe-instance-connect-endpoints", "--generate-cli-skeleton"}},
	})
}

// TestOwnCommandsInputErrors: the input document is checked as the
// reflected operations' are (unknown members named with the ones the
// operation has, wrong types), and the required options may come from the
// document, else are named as the AWS CLI names missing arguments — all
// before any call (nothing is configured): exit 252.
func TestOwnCommandsInputErrors(t *testing.T) {
	cliEnv(t, aws.Credentials{})
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown member", []string{"ec2", "revoke-endpoint-agent", "--cli-input-json", `{"AgentID":"eni-1"}`},
			"\nParameter validation failed:\nUnknown parameter in input: \"AgentID\", must be one of: AgentId\n"},
		{"unknown nested member", []string{"ec2", "register-instance", "--cli-input-yaml", "SubnetId: subnet-1\nTagSpecifications:\n- ResourceType: instance\n  Tags:\n  - Key: k\n    Val: v\n"},
			"Unknown parameter in TagSpecifications[0].Tags[0]: \"Val\", must be one of: Key, Value\n"},
		{"wrong type", []string{"ec2", "create-endpoint-join-token", "--cli-input-json", `{"InstanceConnectEndpointId":"eice-1","ExpiresInSeconds":"soon"}`},
			"ExpiresInSeconds"},
		{"required, missing", []string{"ec2", "create-endpoint-join-token"},
			"postern: error: the following arguments are required: --instance-connect-endpoint-id\n"},
		{"required, missing from the document too", []string{"tunnels", "terminate", "--cli-input-json", `{}`},
			"postern: error: the following arguments are required: --tunnel-id\n"},
		{"required, several", []string{"ec2", "deregister-instance", "--cli-input-yaml", "{}"},
			"postern: error: the following arguments are required: --instance-id\n"},
		{"waiter, unknown member", []string{"ec2", "wait", "instance-connect-endpoint-deleted", "--cli-input-json", `{"Ids":["eice-1"]}`},
			"Unknown parameter in input: \"Ids\", must be one of: DryRun, MaxResults, NextToken, Filters, InstanceConnectEndpointIds\n"},
		{"waiter, delay", []string{"ec2", "wait", "instance-connect-endpoint-deleted", "--delay", "soon"},
			`argument --delay: "soon" is neither whole seconds nor a duration such as 500ms`},
		{"waiter, delay overflows", []string{"ec2", "wait", "instance-connect-endpoint-deleted", "--delay", "9223372036854775807"},
			"argument --delay: 9223372036854775807 seconds is longer than a waiter can wait (at most 9223372036)"},
		{"waiter, delay 1e11 s overflows", []string{"ec2", "wait", "instance-connect-endpoint-deleted", "--delay", "100000000000"},
			"argument --delay: 100000000000 seconds is longer than a waiter can wait"},
		{"waiter, no attempts", []string{"ec2", "wait", "instance-connect-endpoint-deleted", "--max-attempts", "0"},
			"--max-attempts must be at least 1"},
		{"json and yaml", []string{"tunnels", "list", "--cli-input-json", "{}", "--cli-input-yaml", "{}"}, "not allowed with argument --cli-input-json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(tc.args...)
			if code != cli.ExitUsage || !strings.Contains(stderr, tc.want) || stdout != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d, no stdout, stderr with %q", code, stdout, stderr, cli.ExitUsage, tc.want)
			}
		})
	}
}

// TestOwnCommandsCLIInput: --cli-input-json and --cli-input-yaml fill
// Postern's own commands' requests to a real server as their options do;
// an option on the command line overrides the document's member; a
// waiter reads its operation's input and --delay in whole seconds.
func TestOwnCommandsCLIInput(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{})
	_, subnet, endpoint, _ := e.Network("10.42.0.0/16", "10.42.1.0/24")
	cliEnv(t, e.Admin)
	global := []string{"--region", e.Region, "--endpoint-url", e.URL, "--ca-bundle", filepath.Join(e.Dir, "ca.pem")}
	run := func(args ...string) any {
		t.Helper()
		code, stdout, stderr := runCLI(append(append([]string{}, global...), args...)...)
		if code != cli.ExitOK {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		var v any
		if stdout != "" {
			if err := json.Unmarshal([]byte(stdout), &v); err != nil {
				t.Fatalf("%v printed %q: %v", args, stdout, err)
			}
		}
		return v
	}
	doc := filepath.Join(t.TempDir(), "register.yaml")
	if err := os.WriteFile(doc, []byte("SubnetId: "+subnet+"\nPrivateIpAddress: 10.42.1.20\n"+
		"TagSpecifications:\n- ResourceType: instance\n  Tags:\n  - Key: Name\n    Value: from-yaml\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		args  []string
		query string
		want  string // the query's result, as JSON
	}{
		{"register-instance, yaml file", []string{"ec2", "register-instance", "--cli-input-yaml", "file://" + doc},
			"Instances[0].[SubnetId,PrivateIpAddress,Tags[0].Value]", `["` + subnet + `","10.42.1.20","from-yaml"]`},
		{"register-instance, an option overrides", []string{"ec2", "register-instance", "--cli-input-yaml", "file://" + doc, "--private-ip-address", "10.42.1.21"},
			"Instances[0].[PrivateIpAddress,Tags[0].Value]", `["10.42.1.21","from-yaml"]`},
		{"register-instance, json with a list", []string{"ec2", "register-instance", "--cli-input-json",
			`{"SubnetId":"` + subnet + `","PrivateIpAddress":"10.42.1.22","TagSpecifications":[{"ResourceType":"instance","Tags":[{"Key":"a","Value":"1"},{"Key":"b","Value":"2"}]}]}`},
			"Instances[0].[PrivateIpAddress,length(Tags)]", `["10.42.1.22",2]`},
		{"create-endpoint-join-token", []string{"ec2", "create-endpoint-join-token", "--cli-input-json", `{"InstanceConnectEndpointId":"` + endpoint + `","ExpiresInSeconds":120}`},
			"[InstanceConnectEndpointId,starts_with(JoinToken,'PJT1.')]", `["` + endpoint + `",true]`},
		{"describe-endpoint-agents", []string{"ec2", "describe-endpoint-agents", "--cli-input-yaml", "InstanceConnectEndpointId: " + endpoint},
			"EndpointAgents", `[]`},
		{"tunnels list", []string{"tunnels", "list", "--cli-input-json", `{"InstanceConnectEndpointId":"` + endpoint + `"}`},
			"Tunnels", `[]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := run(append(tc.args, "--query", tc.query)...)
			b, _ := json.Marshal(got)
			if string(b) != tc.want {
				t.Fatalf("%s: %s, want %s", tc.query, b, tc.want)
			}
		})
	}

	// deregister-instance from a document: the instance is gone after.
	id, _ := run("ec2", "register-instance", "--subnet-id", subnet, "--private-ip-address", "10.42.1.30", "--query", "Instances[0].InstanceId").(string)
	run("ec2", "deregister-instance", "--cli-input-json", `{"InstanceId":"`+id+`"}`)
	if got := run("ec2", "describe-instances", "--query", "Reservations[].Instances[?InstanceId=='"+id+"'][]"); got == nil || len(got.([]any)) != 0 {
		t.Fatalf("after deregister-instance from a document, describe-instances still has %s: %v", id, got)
	}

	// A waiter: the endpoint ids from the document (the embedded agent's
	// endpoint is available), --delay in whole seconds (the AWS waiters'
	// unit; formerly only a Go duration was taken).
	local := e.Server.Local.EndpointID
	if code, _, stderr := runCLI(append(append([]string{}, global...), "ec2", "wait", "instance-connect-endpoint-available",
		"--cli-input-json", `{"InstanceConnectEndpointIds":["`+local+`"]}`, "--delay", "1", "--max-attempts", "1")...); code != cli.ExitOK {
		t.Fatalf("wait, ids from the document: exit %d: %s", code, stderr)
	}
	// The document names an endpoint that has no agent; the option
	// overrides it with the available one.
	if code, _, stderr := runCLI(append(append([]string{}, global...), "ec2", "wait", "instance-connect-endpoint-available",
		"--cli-input-json", `{"InstanceConnectEndpointIds":["`+endpoint+`"]}`, "--instance-connect-endpoint-ids", local, "--max-attempts", "1")...); code != cli.ExitOK {
		t.Fatalf("wait, the option overriding the document: exit %d: %s", code, stderr)
	}
	if code, _, stderr := runCLI(append(append([]string{}, global...), "ec2", "wait", "instance-connect-endpoint-available",
		"--cli-input-json", `{"InstanceConnectEndpointIds":["`+endpoint+`"]}`, "--max-attempts", "1")...); code != cli.ExitOther ||
		strings.TrimSpace(stderr) != "Waiter InstanceConnectEndpointAvailable failed: Max attempts exceeded" {
		t.Fatalf("wait for an endpoint with no agent: exit %d: %s", code, stderr)
	}
}

// TestPagedTextLikeAWSCLI: a listing merged across pages prints as text
// as the AWS CLI's text formatter prints it: page by page, with --query
// applied to each page, and the resume token last, as a NEXTTOKEN line
// (the query applied to {"NextToken": {"NextToken": …}} too: None when it
// selects nothing) — formerly the token came first, as a bare value, and
// the query saw the merged listing. JSON keeps NextToken as a member.
func TestPagedTextLikeAWSCLI(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{})
	cliEnv(t, e.Admin)
	global := []string{"--region", e.Region, "--endpoint-url", e.URL, "--ca-bundle", filepath.Join(e.Dir, "ca.pem"), "iam", "list-users"}
	run := func(args ...string) string {
		t.Helper()
		code, stdout, stderr := runCLI(append(append([]string{}, global...), args...)...)
		if code != cli.ExitOK {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		return stdout
	}
	for _, u := range []string{"pg-a", "pg-b", "pg-c", "pg-d", "pg-e"} {
		if code, _, stderr := runCLI("--region", e.Region, "--endpoint-url", e.URL, "--ca-bundle", filepath.Join(e.Dir, "ca.pem"),
			"iam", "create-user", "--user-name", u); code != cli.ExitOK {
			t.Fatalf("create-user %s: exit %d: %s", u, code, stderr)
		}
	}
	var names []string
	if err := json.Unmarshal([]byte(run("--query", "Users[].UserName")), &names); err != nil || len(names) != 6 {
		t.Fatalf("users: %v (%v), want admin and 5", names, err)
	}
	var cut struct{ NextToken string }
	if err := json.Unmarshal([]byte(run("--max-items", "3")), &cut); err != nil || cut.NextToken == "" {
		t.Fatalf("--max-items 3 --output json: no NextToken (%v)", err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"the query sees no token", []string{"--max-items", "3", "--query", "Users[].[UserName]"},
			names[0] + "\n" + names[1] + "\n" + names[2] + "\nNone\n"},
		{"query per page", []string{"--page-size", "2", "--max-items", "3", "--query", "Users[0].UserName"},
			names[0] + "\n" + names[2] + "\nNone\n"},
		{"query per page, not cut", []string{"--page-size", "4", "--query", "Users[0].UserName"},
			names[0] + "\n" + names[4] + "\n"},
		{"the token's query", []string{"--max-items", "3", "--query", "NextToken"},
			"None\n" + cut.NextToken + "\n"},
		{"one page", []string{"--query", "length(Users)"}, "6\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := run(append(tc.args, "--output", "text")...); got != tc.want {
				t.Fatalf("printed\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
	// Without a query: the users' lines, then the token's.
	lines := strings.Split(strings.TrimSuffix(run("--max-items", "3", "--output", "text"), "\n"), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "USERS\t") || !strings.HasPrefix(lines[2], "USERS\t") || lines[3] != "NEXTTOKEN\t"+cut.NextToken {
		t.Fatalf("--max-items 3 --output text printed\n%s\nwant 3 USERS lines, then NEXTTOKEN\t%s", strings.Join(lines, "\n"), cut.NextToken)
	}
	// As JSON, the query sees the merged listing, NextToken a member.
	var both []string
	if err := json.Unmarshal([]byte(run("--page-size", "2", "--max-items", "3", "--query", "[Users[0].UserName, NextToken]", "--output", "json")), &both); err != nil ||
		len(both) != 2 || both[0] != names[0] || both[1] == "" {
		t.Fatalf("json: %v (%v), want [%s, a token]", both, err, names[0])
	}
}
