package cli_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/postern/postern/internal/cli"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// TestSkeletonGolden: --generate-cli-skeleton prints the operation's
// input skeleton exactly as the AWS CLI does (the golden files are
// `aws <service> <operation> --generate-cli-skeleton`'s output, the enums
// it picks at random set to the model's first value), as YAML for
// yaml-input, and the output shape's skeleton for output; it exits 0 with
// nothing configured, as it calls no service.
func TestSkeletonGolden(t *testing.T) {
	cliEnv(t, aws.Credentials{})
	checkSkeletons(t, []skeletonCase{
		{"iam-create-user.json", []string{"iam", "create-user", "--generate-cli-skeleton"}},
		{"iam-create-user.json", []string{"iam", "create-user", "--generate-cli-skeleton", "input"}},
		{"iam-create-user.json", []string{"iam", "create-user", "--generate-cli-skeleton=input", "--user-name", "ignored"}},
		{"ec2-describe-vpcs.json", []string{"ec2", "describe-vpcs", "--generate-cli-skeleton"}},
		{"ec2-create-instance-connect-endpoint.json", []string{"ec2", "create-instance-connect-endpoint", "--generate-cli-skeleton"}},
		{"ec2-instance-connect-send-ssh-public-key.json", []string{"ec2-instance-connect", "send-ssh-public-key", "--generate-cli-skeleton"}},
		{"ec2-describe-vpcs.yaml", []string{"ec2", "describe-vpcs", "--generate-cli-skeleton", "yaml-input"}},
		{"iam-create-user-output.json", []string{"iam", "create-user", "--generate-cli-skeleton", "output"}},
		// --output and --query do not change a skeleton.
		{"iam-create-user.json", []string{"--output", "text", "--query", "Path", "iam", "create-user", "--generate-cli-skeleton"}},
	})
}

// skeletonCase is a --generate-cli-skeleton command line and the golden
// file under testdata/skeleton it prints.
type skeletonCase struct {
	golden string
	args   []string
}

// checkSkeletons runs each case (the caller has configured nothing) and
// wants exit 0 and exactly its golden file on stdout.
func checkSkeletons(t *testing.T, tests []skeletonCase) {
	t.Helper()
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join("testdata", "skeleton", tc.golden))
			if err != nil {
				t.Fatal(err)
			}
			code, stdout, stderr := runCLI(tc.args...)
			if code != cli.ExitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if stdout != string(want) {
				t.Fatalf("printed\n%s\nwant (testdata/skeleton/%s)\n%s", stdout, tc.golden, want)
			}
		})
	}
}

// TestSkeletonErrors: a bad --generate-cli-skeleton value, a document
// that is not an object or not JSON, and members the operation does not
// have are usage errors (exit 252), worded as the AWS CLI's, before any
// call (nothing is configured).
func TestSkeletonErrors(t *testing.T) {
	cliEnv(t, aws.Credentials{})
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"bad choice", []string{"iam", "create-user", "--generate-cli-skeleton=bogus"},
			"argument --generate-cli-skeleton: Invalid choice, valid choices are:"},
		{"not JSON", []string{"iam", "create-user", "--cli-input-json", "{"}, "argument --cli-input-json: Invalid JSON received"},
		{"not an object", []string{"iam", "create-user", "--cli-input-json", "[1]"}, "must be a JSON or YAML object (a mapping of parameter names to values), not a list"},
		{"wrong type, echoed cut short", []string{"iam", "create-user", "--cli-input-json", `{"UserName":"a","Tags":[` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `]}`},
			"Invalid type for parameter Tags[0], value: [[[["},
		{"wrong scalar type", []string{"iam", "create-user", "--cli-input-json", `{"UserName":{"a":1}}`},
			`Invalid type for parameter UserName, value: {"a":1}, type: structure, valid types: string`},
		{"integer too large", []string{"ec2", "describe-vpcs", "--cli-input-json", `{"MaxResults":99999999999999999999999}`}, "MaxResults: \"100000000000000000000000\" is not an integer"},
		{"yaml key twice", []string{"ec2", "describe-vpcs", "--cli-input-yaml", "MaxResults: 5\nMaxResults: 6\n"}, `mapping key "MaxResults" already defined`},
		{"yaml alias bomb", []string{"ec2", "describe-vpcs", "--cli-input-yaml", yamlBomb}, "argument --cli-input-yaml: Invalid YAML received"},
		{"missing file", []string{"iam", "create-user", "--cli-input-json", "file:///nonexistent/in.json"}, "Unable to load paramfile file:///nonexistent/in.json"},
		{"endless file", []string{"iam", "create-user", "--cli-input-json", "file:///dev/zero"}, "Unable to load paramfile file:///dev/zero: the file is larger than 16 MiB"},
		{"unknown key", []string{"iam", "create-user", "--cli-input-json", `{"UserName":"a","Bogus":1}`},
			"Parameter validation failed:\nUnknown parameter in input: \"Bogus\", must be one of: Path, UserName, PermissionsBoundary, Tags\n"},
		{"unknown keys nested", []string{"iam", "create-user", "--cli-input-json", `{"UserName":"a","Bogus":1,"Tags":[{"Key":"k","Value":"v","Z":1}]}`},
			"Parameter validation failed:\nUnknown parameter in input: \"Bogus\", must be one of: Path, UserName, PermissionsBoundary, Tags\n" +
				"Unknown parameter in Tags[0]: \"Z\", must be one of: Key, Value\n"},
		{"member names are case-sensitive", []string{"ec2", "describe-vpcs", "--cli-input-yaml", "filters: []"},
			"Unknown parameter in input: \"filters\", must be one of: Filters, VpcIds, NextToken, MaxResults, DryRun\n"},
		{"unknown key in yaml", []string{"ec2-instance-connect", "send-ssh-public-key", "--cli-input-yaml", "InstanceId: i-1\nUser: ec2-user\n"},
			"Unknown parameter in input: \"User\", must be one of: InstanceId, InstanceOSUser, SSHPublicKey, AvailabilityZone\n"},
		{"json and yaml", []string{"iam", "create-user", "--cli-input-json", "{}", "--cli-input-yaml", "{}"}, "not allowed with argument --cli-input-json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb strings.Builder
			code := cli.Main(context.Background(), tc.args, strings.NewReader(""), &out, &errb)
			if code != cli.ExitUsage || !strings.Contains(errb.String(), tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit %d with %q", code, errb.String(), cli.ExitUsage, tc.want)
			}
			if out.Len() != 0 {
				t.Fatalf("printed %q", out.String())
			}
			if errb.Len() > 2048 { // a refused value is echoed cut short
				t.Fatalf("stderr is %d bytes", errb.Len())
			}
		})
	}
}

// yamlBomb is a "billion laughs" document: nine levels of nine aliases.
var yamlBomb = func() string {
	s := `a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]` + "\n"
	for c := 'b'; c <= 'i'; c++ {
		p := string(c - 1)
		s += string(c) + ": &" + string(c) + " [" + strings.TrimSuffix(strings.Repeat("*"+p+",", 9), ",") + "]\n"
	}
	return s
}()

// TestCLIInput: --cli-input-json and --cli-input-yaml (inline or
// file://) fill the operation's input sent to a real server; options on
// the command line override the document's members.
func TestCLIInput(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{})
	cliEnv(t, aws.Credentials{})
	t.Setenv("AWS_ACCESS_KEY_ID", e.Admin.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", e.Admin.SecretAccessKey)
	global := []string{"--region", e.Region, "--endpoint-url", e.URL, "--ca-bundle", filepath.Join(e.Dir, "ca.pem")}
	run := func(args ...string) map[string]any {
		t.Helper()
		var out, errb strings.Builder
		if code := cli.Main(context.Background(), append(append([]string{}, global...), args...), strings.NewReader(""), &out, &errb); code != cli.ExitOK {
			t.Fatalf("%v: exit %d: %s", args, code, errb.String())
		}
		var v map[string]any
		if out.Len() > 0 {
			if err := json.Unmarshal([]byte(out.String()), &v); err != nil {
				t.Fatalf("%v printed %q: %v", args, out.String(), err)
			}
		}
		return v
	}
	file := filepath.Join(t.TempDir(), "in.json")
	if err := os.WriteFile(file, []byte(`{"UserName": "from-file", "Path": "/file/", "Tags": [{"Key": "team", "Value": "a"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	yamlFile := filepath.Join(t.TempDir(), "in.yaml")
	if err := os.WriteFile(yamlFile, []byte("UserName: from-yaml-file\nPath: /yamlfile/\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	users := []struct {
		name       string
		args       []string
		user, path string
		tags       int
	}{
		{"json inline", []string{"--cli-input-json", `{"UserName":"inline","Path":"/doc/","Tags":[{"Key":"k","Value":"v"},{"Key":"k2","Value":"v2"}]}`}, "inline", "/doc/", 2},
		{"json file", []string{"--cli-input-json", "file://" + file}, "from-file", "/file/", 1},
		{"yaml inline", []string{"--cli-input-yaml", "UserName: yaml\nPath: /y/\nTags:\n- Key: k\n  Value: v\n"}, "yaml", "/y/", 1},
		{"yaml file", []string{"--cli-input-yaml", "file://" + yamlFile}, "from-yaml-file", "/yamlfile/", 0},
		{"flags override", []string{"--cli-input-json", `{"UserName":"doc-name","Path":"/doc/","Tags":[{"Key":"k","Value":"v"}]}`,
			"--user-name", "flag-name", "--tags", "Key=a,Value=1", "Key=b,Value=2", "Key=c,Value=3"}, "flag-name", "/doc/", 3},
		{"yaml scalars", []string{"--cli-input-yaml", "UserName: '2024-01-02'\nPath: /y2/\nTags:\n- Key: n\n  Value: '12'\n"}, "2024-01-02", "/y2/", 1},
		{"flag before document", []string{"--path", "/flag/", "--cli-input-json", `{"UserName":"flag-path","Path":"/doc/"}`}, "flag-path", "/flag/", 0},
	}
	for _, tc := range users {
		t.Run(tc.name, func(t *testing.T) {
			created := run(append([]string{"iam", "create-user"}, tc.args...)...)
			got := run("iam", "get-user", "--user-name", tc.user)
			u, _ := got["User"].(map[string]any)
			tags, _ := u["Tags"].([]any)
			if u["UserName"] != tc.user || u["Path"] != tc.path || len(tags) != tc.tags {
				t.Fatalf("create-user printed %v; get-user %v; want user %q, path %q, %d tags", created, got, tc.user, tc.path, tc.tags)
			}
		})
	}

	// An unquoted YAML timestamp is a timestamp: the events of a window
	// that ended before the server started are none.
	events := run("cloudtrail", "lookup-events", "--cli-input-yaml", "StartTime: 2001-01-01T00:00:00Z\nEndTime: 2001-01-02T00:00:00Z\n")
	if list, _ := events["Events"].([]any); len(list) != 0 {
		t.Fatalf("lookup-events in 2001 found %v", events)
	}

	// EC2: a list of structures (Filters) and a subnet's endpoint.
	vpc := run("ec2", "create-vpc", "--cidr-block", "10.77.0.0/16")["Vpc"].(map[string]any)["VpcId"].(string)
	run("ec2", "create-vpc", "--cidr-block", "10.78.0.0/16")
	vpcs := run("ec2", "describe-vpcs", "--cli-input-json", `{"Filters":[{"Name":"cidr","Values":["10.77.0.0/16"]}]}`)["Vpcs"].([]any)
	if len(vpcs) != 1 || vpcs[0].(map[string]any)["VpcId"] != vpc {
		t.Fatalf("describe-vpcs with a cidr filter from --cli-input-json found %v, want %s alone", vpcs, vpc)
	}
	// --filters overrides the document's Filters.
	vpcs = run("ec2", "describe-vpcs", "--cli-input-json", `{"Filters":[{"Name":"cidr","Values":["10.77.0.0/16"]}]}`,
		"--filters", "Name=cidr,Values=10.78.0.0/16")["Vpcs"].([]any)
	if len(vpcs) != 1 || vpcs[0].(map[string]any)["VpcId"] == vpc {
		t.Fatalf("describe-vpcs with --filters over the document's found %v, want the other VPC", vpcs)
	}
	subnet := run("ec2", "create-subnet", "--vpc-id", vpc, "--cidr-block", "10.77.1.0/24")["Subnet"].(map[string]any)["SubnetId"].(string)
	ep := run("ec2", "create-instance-connect-endpoint", "--cli-input-json",
		`{"SubnetId":"`+subnet+`","PreserveClientIp":false,"TagSpecifications":[{"ResourceType":"instance-connect-endpoint","Tags":[{"Key":"Name","Value":"from-json"}]}]}`)
	iceps := ep["InstanceConnectEndpoint"].(map[string]any)
	if iceps["SubnetId"] != subnet || !strings.Contains(mustJSON(t, iceps["Tags"]), "from-json") {
		t.Fatalf("create-instance-connect-endpoint from --cli-input-json printed %v", ep)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
