package cli

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/postern/postern/internal/cli/served"
)

// runMain runs the command line and returns its exit code and streams.
func runMain(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(context.Background(), args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

// TestMistypedCommand: a word that is no command of a service is an
// error with suggestions and exit 252 (the AWS CLI's invalid choice), as a
// mistyped service is; nothing is printed on stdout (formerly the service's
// whole help, exit 0). An AWS operation Postern does not serve is refused
// as such.
func TestMistypedCommand(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		stderr  []string // all must appear
		without []string // none may appear
	}{
		{"operation", []string{"ec2", "describe-instance"},
			[]string{`unknown command "describe-instance" for "postern ec2"`, "Did you mean this?", "\tdescribe-instances\n"}, nil},
		{"operation with its options", []string{"ec2", "describe-instance", "--instance-ids", "i-1"},
			[]string{`unknown command "describe-instance" for "postern ec2"`, "\tdescribe-instances\n"}, nil},
		{"iam operation", []string{"iam", "list-user"},
			[]string{`unknown command "list-user" for "postern iam"`, "\tlist-users\n"}, nil},
		{"global option first", []string{"--region", "us-east-1", "sts", "get-caller-identiy"},
			[]string{`for "postern sts"`, "\tget-caller-identity\n"}, nil},
		{"nothing like it", []string{"ec2", "frobnicate"},
			[]string{`unknown command "frobnicate" for "postern ec2"`}, []string{"Did you mean"}},
		{"not served", []string{"ec2", "describe-regions"},
			[]string{`"describe-regions" is an AWS ec2 operation that Postern does not serve`, "postern ec2 help"}, nil},
		{"not served, iam", []string{"iam", "list-saml-providers"},
			[]string{`"list-saml-providers" is an AWS iam operation that Postern does not serve`}, nil},
		{"not served, with its options", []string{"ec2", "describe-regions", "--region-names", "eu-west-1"},
			[]string{`"describe-regions" is an AWS ec2 operation that Postern does not serve`}, nil},
		{"unknown option of a service", []string{"ec2", "--bogus"},
			[]string{"Unknown options: --bogus"}, nil},
		{"service", []string{"ec3"},
			[]string{`unknown command "ec3" for "postern"`, "\tec2\n"}, nil},
		// Formerly the group's help and exit 0.
		{"waiter", []string{"ec2", "wait", "instance-connect-endpoint-avail"},
			[]string{`unknown command "instance-connect-endpoint-avail" for "postern ec2 wait"`, "\tinstance-connect-endpoint-available\n"}, nil},
		{"postern's own group", []string{"tunnels", "lst"},
			[]string{`unknown command "lst" for "postern tunnels"`, "\tlist\n"}, nil},
		// `postern help TOPIC` (formerly "Unknown help topic", exit 0).
		{"help, service", []string{"help", "ec3"},
			[]string{`unknown command "ec3" for "postern"`, "\tec2\n"}, nil},
		{"help, operation", []string{"help", "ec2", "describe-instance"},
			[]string{`unknown command "describe-instance" for "postern ec2"`, "\tdescribe-instances\n"}, nil},
		{"help, nothing like it", []string{"help", "frobnicate"},
			[]string{`unknown command "frobnicate" for "postern"`}, []string{"Did you mean"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runMain(t, tt.args...)
			if code != ExitUsage {
				t.Errorf("exit %d, want %d", code, ExitUsage)
			}
			if stdout != "" {
				t.Errorf("stdout not empty: %.200q", stdout)
			}
			for _, s := range tt.stderr {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr)
				}
			}
			for _, s := range tt.without {
				if strings.Contains(stderr, s) {
					t.Errorf("stderr has %q:\n%s", s, stderr)
				}
			}
		})
	}
}

// TestMissingCommand: a command that only groups others, called alone, is
// a usage error worded as the AWS CLI's (`aws`, `aws ec2`: its usage and
// "the following arguments are required"; `aws ec2 wait`: "too few
// arguments"), exit 252, nothing on stdout (formerly help, exit 0).
func TestMissingCommand(t *testing.T) {
	const blurb = "usage: postern [options] <command> <subcommand> [<subcommand> ...] [parameters]\n" +
		"To see help text, you can run:\n\n" +
		"  postern help\n  postern <command> help\n  postern <command> <subcommand> help\n"
	tests := []struct {
		args   []string
		stderr string
	}{
		{nil, blurb + "postern: error: the following arguments are required: command\n"},
		{[]string{"--region", "us-east-1"}, blurb + "postern: error: the following arguments are required: command\n"},
		{[]string{"ec2"}, blurb + "postern: error: the following arguments are required: operation\n"},
		{[]string{"--output", "text", "iam"}, blurb + "postern: error: the following arguments are required: operation\n"},
		{[]string{"ec2-instance-connect", "--region", "us-east-1"}, blurb + "postern: error: the following arguments are required: operation\n"},
		{[]string{"ec2", "wait"}, "\nusage: postern [options] ec2 wait <subcommand> [parameters]\npostern: error: too few arguments\n"},
		{[]string{"tunnels"}, "\nusage: postern [options] tunnels <subcommand> [parameters]\npostern: error: too few arguments\n"},
		{[]string{"instance"}, "\nusage: postern [options] instance <subcommand> [parameters]\npostern: error: too few arguments\n"},
		{[]string{"completion"}, "\nusage: postern [options] completion <subcommand> [parameters]\npostern: error: too few arguments\n"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := runMain(t, tt.args...)
			if code != ExitUsage || stdout != "" || stderr != tt.stderr {
				t.Errorf("exit %d, stdout %.200q, stderr\n%q\nwant exit %d, no stdout, stderr\n%q", code, stdout, stderr, ExitUsage, tt.stderr)
			}
		})
	}
	// `postern X help` is still the help.
	for _, args := range [][]string{{"ec2", "wait", "help"}, {"tunnels", "help"}, {"help", "tunnels"}, {"tunnels", "--help"}} {
		code, stdout, stderr := runMain(t, args...)
		if code != ExitOK || !strings.Contains(stdout, "Available Commands:") {
			t.Errorf("%v: exit %d, stdout %.300q, stderr %q; want the help", args, code, stdout, stderr)
		}
	}
	// Postern's own commands take the word help as the operations do
	// (`aws ec2 describe-vpcs help`; formerly "unknown command").
	for _, args := range [][]string{{"ec2", "register-instance", "help"}, {"tunnels", "list", "help"},
		{"ec2", "wait", "instance-connect-endpoint-available", "help"}, {"ec2-instance-connect", "open-tunnel", "help"}, {"version", "help"}} {
		code, stdout, stderr := runMain(t, args...)
		path := "postern " + strings.Join(args[:len(args)-1], " ")
		if code != ExitOK || !strings.Contains(stdout, path+" [flags]") && !strings.Contains(stdout, "SYNOPSIS\n  "+path+"\n") {
			t.Errorf("%v: exit %d, stdout %.300q, stderr %q; want the help", args, code, stdout, stderr)
		}
	}
}

// TestServiceListsServedOperations: `postern ec2 help` and `postern ec2
// --help` list what the server serves, with descriptions, and not the AWS
// operations it does not.
func TestServiceListsServedOperations(t *testing.T) {
	for _, args := range [][]string{{"help", "ec2"}, {"ec2", "help"}, {"ec2", "--help"}} {
		code, stdout, stderr := runMain(t, args...)
		if code != ExitOK {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		for _, want := range []string{"describe-instance-connect-endpoints", "Describes your VPCs.", "create-endpoint-join-token"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("%v: help lacks %q", args, want)
			}
		}
		for _, absent := range []string{"describe-regions", "run-instances", "describe-images"} {
			if regexp.MustCompile(`(?m)^  ` + absent + ` `).MatchString(stdout) {
				t.Errorf("%v: help offers %q, which Postern does not serve", args, absent)
			}
		}
	}
}

// TestOperationHelp: an operation's help has its description, and each
// option's type, description and shorthand syntax (formerly only a type:
// `--max-results string  int32`).
func TestOperationHelp(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"ec2", "describe-vpcs", "--help"}, []string{
			"DESCRIPTION\n  Describes your VPCs.",
			"  --max-results (integer)\n      The maximum number of items to return for this request.",
			"  --filters (list)\n      The filters.",
			"Shorthand Syntax:\n\n          Name=string,Values=string,string ...",
			"  --vpc-ids (list)\n      The IDs of the VPCs.",
			"[--dry-run | --no-dry-run]",
			"GLOBAL OPTIONS",
		}},
		{[]string{"ec2", "describe-vpcs", "help"}, []string{"DESCRIPTION\n  Describes your VPCs."}},
		{[]string{"help", "ec2", "describe-vpcs"}, []string{"DESCRIPTION\n  Describes your VPCs."}},
		{[]string{"ec2", "create-instance-connect-endpoint", "--help"}, []string{
			"Creates an EC2 Instance Connect Endpoint.",
			"  --subnet-id (string)\n      The ID of the subnet in which to create the EC2 Instance Connect",
			"  --tag-specifications (list)",
			"ResourceType=string,Tags=[{Key=string,Value=string},{Key=string,Value=string}] ...",
		}},
		{[]string{"iam", "create-user", "--help"}, []string{
			"Creates a new IAM user for your Amazon Web Services account.",
			"  --user-name (string)\n      The name of the user to create.",
			"Key=string,Value=string ...",
		}},
		{[]string{"sts", "get-caller-identity", "--help"}, []string{"Returns details about the IAM user or role"}},
		{[]string{"cloudtrail", "lookup-events", "--help"}, []string{"Looks up management events", "  --lookup-attributes (list)"}},
		{[]string{"ec2-instance-connect", "send-ssh-public-key", "--help"}, []string{"Pushes an SSH public key", "  --instance-os-user (string)"}},
		// Postern's own API commands and the waiters: the same layout
		// (formerly cobra's flag list).
		{[]string{"ec2", "register-instance", "help"}, []string{
			"DESCRIPTION\n  Register an existing server as an instance",
			"  --subnet-id (string)\n      the subnet the server is in (required)",
			"  --tag-specifications (list)",
			"ResourceType=string,Tags=[{Key=string,Value=string},{Key=string,Value=string}] ...",
			"  --cli-input-json (string)",
		}},
		{[]string{"tunnels", "list", "--help"}, []string{"SYNOPSIS\n  postern tunnels list\n", "  --instance-connect-endpoint-id (string)\n      only this endpoint's tunnels"}},
		{[]string{"ec2", "wait", "instance-connect-endpoint-available", "help"}, []string{
			"[--dry-run | --no-dry-run]",
			"  --filters (list)\n      One or more filters.",
			"  --delay (seconds)",
			"Name=string,Values=string,string ...",
		}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := runMain(t, tt.args...)
			if code != ExitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stdout, w) {
					t.Errorf("help lacks %q:\n%s", w, stdout)
				}
			}
			if strings.Contains(stdout, "int32") {
				t.Errorf("help names a Go type (int32):\n%s", stdout)
			}
		})
	}
}

// TestServedOperationsDocumented: docs.json (go generate) describes every
// served SDK operation, and every offered command has a description.
func TestServedOperationsDocumented(t *testing.T) {
	root := fullTree(t)
	for _, svc := range awsServices() {
		sdk := map[string]bool{}
		for _, op := range operations(svc.client(zeroConfig, "")) {
			sdk[op.name] = true
		}
		for _, action := range served.Operations[svc.name] {
			if !sdk[action] {
				continue // Postern's own: a hand-written command
			}
			d := operationDoc(svc.name, action)
			if d.Doc == "" {
				t.Errorf("%s %s: no description in docs.json (run go generate ./internal/cli/)", svc.name, action)
			}
			if len(d.Params) == 0 {
				if in := inputFields(opInput(t, svc, action)); len(in) > 0 {
					t.Errorf("%s %s: no parameter descriptions in docs.json", svc.name, action)
				}
			}
		}
		cmd, _, _ := root.Find([]string{svc.name})
		for _, c := range cmd.Commands() {
			if c.Short == "" || strings.HasSuffix(c.Short, "("+svc.name+")") {
				t.Errorf("%s %s: no description (%q)", svc.name, c.Name(), c.Short)
			}
		}
	}
}

// TestVersion: `postern --version` and `postern version` print as `aws
// --version` does: postern/VERSION Go/x.y.z os/arch, and the client
// build (-tags postern_client) says so after it: build/client.
func TestVersion(t *testing.T) {
	build := ""
	if ClientBuild {
		build = " build/client"
	}
	re := regexp.MustCompile(`^postern/` + regexp.QuoteMeta(Version) + ` Go/\d+\.\d+(\.\d+)?\S* [a-z0-9]+/[a-z0-9]+` + regexp.QuoteMeta(build) + `\n$`)
	for _, args := range [][]string{
		{"--version"}, {"version"}, {"--region", "us-east-1", "--version"},
		// As `aws ec2 --version`: a global option, after any command.
		{"ec2", "--version"}, {"ec2", "describe-vpcs", "--version"}, {"iam", "--version"},
		{"tunnels", "list", "--version"}, {"ec2", "wait", "--version"}, {"configure", "--version"},
		{"ec2-instance-connect", "open-tunnel", "--instance-id", "i-0123456789abcdef0", "--version"},
		// Before a missing required option or options that exclude each
		// other, as cobra's own --version answered (versionFirst).
		{"instance", "init", "--version"}, {"login", "--configure", "--credential-process", "x", "--version"},
	} {
		code, stdout, stderr := runMain(t, args...)
		if code != ExitOK || !re.MatchString(stdout) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %s", args, code, stdout, stderr, re)
		}
	}
}

// TestUserAgentHasVersion: API requests carry postern/VERSION in their
// User-Agent (formerly only the SDK's aws-sdk-go-v2/…).
func TestUserAgentHasVersion(t *testing.T) {
	var mu sync.Mutex
	var agents []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		agents = append(agents, r.Header.Get("User-Agent"))
		mu.Unlock()
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(`<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>no</Message></Error><RequestId>1</RequestId></ErrorResponse>`))
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE12")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secretsecretsecretsecretsecretsecret1234")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	code, _, stderr := runMain(t, "--endpoint-url", srv.URL, "--region", "us-east-1", "sts", "get-caller-identity")
	if code != ExitServiceFail {
		t.Fatalf("exit %d, want %d: %s", code, ExitServiceFail, stderr)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(agents) == 0 {
		t.Fatal("no request reached the server")
	}
	for _, ua := range agents {
		t.Logf("User-Agent: %s", ua)
		if !strings.Contains(ua, "postern/"+Version) {
			t.Errorf("User-Agent %q lacks postern/%s", ua, Version)
		}
	}
}

var zeroConfig = aws.Config{}

// opInput is the input structure type of svc's SDK operation action.
func opInput(t *testing.T, svc service, action string) reflect.Type {
	t.Helper()
	for _, op := range operations(svc.client(zeroConfig, "")) {
		if op.name == action {
			return op.input
		}
	}
	t.Fatalf("%s: no SDK operation %s", svc.name, action)
	return nil
}
