package cli

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestKebab(t *testing.T) {
	tests := map[string]string{
		"CreateUser":                       "create-user",
		"DescribeInstanceConnectEndpoints": "describe-instance-connect-endpoints",
		"GetCallerIdentity":                "get-caller-identity",
		"ListMFADevices":                   "list-mfa-devices",
		"SendSSHPublicKey":                 "send-ssh-public-key",
		"SSHPublicKey":                     "ssh-public-key",
		"InstanceOSUser":                   "instance-os-user",
		"Ipv6CidrBlock":                    "ipv6-cidr-block",
		"IpPermissions":                    "ip-permissions",
		"TagSpecifications":                "tag-specifications",
		"DryRun":                           "dry-run",
		"InstanceConnectEndpointIds":       "instance-connect-endpoint-ids",
		"VpcId":                            "vpc-id",
	}
	for in, want := range tests {
		if got := kebab(in); got != want {
			t.Errorf("kebab(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestShorthand(t *testing.T) {
	tests := []struct {
		in   string
		want map[string]any
		err  bool
	}{
		{"Key=a,Value=b", map[string]any{"Key": "a", "Value": "b"}, false},
		{"Name=vpc-id,Values=vpc-1,vpc-2", map[string]any{"Name": "vpc-id", "Values": []any{"vpc-1", "vpc-2"}}, false},
		{"Name=state,Values=create-complete", map[string]any{"Name": "state", "Values": "create-complete"}, false},
		{"IpProtocol=tcp,FromPort=22,ToPort=22,UserIdGroupPairs=[{GroupId=sg-1},{GroupId=sg-2}]", map[string]any{
			"IpProtocol": "tcp", "FromPort": "22", "ToPort": "22",
			"UserIdGroupPairs": []any{map[string]any{"GroupId": "sg-1"}, map[string]any{"GroupId": "sg-2"}}}, false},
		{"ResourceType=instance-connect-endpoint,Tags=[{Key=Name,Value=x}]", map[string]any{
			"ResourceType": "instance-connect-endpoint", "Tags": []any{map[string]any{"Key": "Name", "Value": "x"}}}, false},
		{`Key='a,b',Value="c=d"`, map[string]any{"Key": "a,b", "Value": "c=d"}, false},
		{"IpRanges=[{CidrIp=10.0.0.0/16,Description=x y}]", map[string]any{"IpRanges": []any{map[string]any{"CidrIp": "10.0.0.0/16", "Description": "x y"}}}, false},
		{"Values=[]", map[string]any{"Values": []any{}}, false},
		{"novalue", nil, true},
		{"Key=[a,b", nil, true},
		{"Key='open", nil, true},
		{"=x", nil, true},
	}
	for _, tc := range tests {
		got, err := ParseShorthand(tc.in)
		if tc.err {
			if err == nil {
				t.Errorf("%q: want an error, got %v", tc.in, got)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: got %#v, %v; want %#v", tc.in, got, err, tc.want)
		}
	}
}

func FuzzShorthand(f *testing.F) {
	for _, s := range []string{"Key=a,Value=b", "Name=x,Values=a,b", "A=[{B=c},{D=[e,f]}]", "K='q,r'", "[", "=", ",,,", "A={B=c}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseShorthand(s)
		if err == nil && m == nil {
			t.Fatalf("nil map without error for %q", s)
		}
		_, _ = parseShorthandList(s)
	})
}

// TestArgsToInput checks that flags become the SDK input the AWS CLI would send.
func TestArgsToInput(t *testing.T) {
	dir := t.TempDir()
	doc := filepath.Join(dir, "p.json")
	os.WriteFile(doc, []byte(`{"Version":"2012-10-17"}`), 0o600)
	tests := []struct {
		name string
		svc  string
		args []string
		want any
	}{
		{"iam file://", "iam", []string{"put-user-policy", "--user-name", "alice", "--policy-name", "p", "--policy-document", "file://" + doc},
			&iam.PutUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("p"), PolicyDocument: aws.String(`{"Version":"2012-10-17"}`)}},
		{"ec2 lists and filters", "ec2", []string{"describe-instance-connect-endpoints", "--instance-connect-endpoint-ids", "eice-1", "eice-2",
			"--filters", "Name=vpc-id,Values=vpc-1,vpc-2", "Name=state,Values=create-complete", "--max-results", "5", "--dry-run"},
			&ec2.DescribeInstanceConnectEndpointsInput{InstanceConnectEndpointIds: []string{"eice-1", "eice-2"}, MaxResults: aws.Int32(5), DryRun: aws.Bool(true),
				Filters: []ec2types.Filter{{Name: aws.String("vpc-id"), Values: []string{"vpc-1", "vpc-2"}}, {Name: aws.String("state"), Values: []string{"create-complete"}}}}},
		{"ec2 shorthand permissions", "ec2", []string{"authorize-security-group-egress", "--group-id", "sg-1", "--ip-permissions",
			"IpProtocol=tcp,FromPort=22,ToPort=22,UserIdGroupPairs=[{GroupId=sg-2}]"},
			&ec2.AuthorizeSecurityGroupEgressInput{GroupId: aws.String("sg-1"), IpPermissions: []ec2types.IpPermission{{IpProtocol: aws.String("tcp"),
				FromPort: aws.Int32(22), ToPort: aws.Int32(22), UserIdGroupPairs: []ec2types.UserIdGroupPair{{GroupId: aws.String("sg-2")}}}}}},
		{"ec2 JSON tags and no- flag", "ec2", []string{"create-instance-connect-endpoint", "--subnet-id", "subnet-1", "--security-group-ids", "sg-1", "sg-2",
			"--no-preserve-client-ip", "--tag-specifications", `[{"ResourceType":"instance-connect-endpoint","Tags":[{"Key":"Name","Value":"x"}]}]`},
			&ec2.CreateInstanceConnectEndpointInput{SubnetId: aws.String("subnet-1"), SecurityGroupIds: []string{"sg-1", "sg-2"}, PreserveClientIp: aws.Bool(false),
				TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeInstanceConnectEndpoint, Tags: []ec2types.Tag{{Key: aws.String("Name"), Value: aws.String("x")}}}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := &Env{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}, g: &globals{}}
			var svc service
			for _, s := range awsServices() {
				if s.name == tc.svc {
					svc = s
				}
			}
			root := serviceCommand(env, svc, "")
			args := expandListArgs(root, tc.args)
			cmd, rest, err := root.Find(args)
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.ParseFlags(rest); err != nil {
				t.Fatal(err)
			}
			var op operation
			for _, o := range operations(svc.client(aws.Config{}, "")) {
				if kebab(o.name) == cmd.Name() {
					op = o
				}
			}
			in := reflect.New(op.input)
			for _, f := range inputFields(op.input) {
				if cmd.Flags().Lookup(f.name) == nil {
					continue
				}
				if err := f.apply(cmd, in.Elem()); err != nil {
					t.Fatal(err)
				}
			}
			if !reflect.DeepEqual(in.Interface(), tc.want) {
				t.Fatalf("input\n got %#v\nwant %#v", in.Interface(), tc.want)
			}
		})
	}
}

// TestOutputGolden prints real SDK outputs as the AWS CLI does.
func TestOutputGolden(t *testing.T) {
	created := time.Date(2026, 11, 22, 11, 46, 33, 0, time.UTC)
	tests := map[string]any{
		"create-user": &iam.CreateUserOutput{User: &iamtypes.User{UserName: aws.String("alice"), UserId: aws.String("AIDAEXAMPLE"), Path: aws.String("/"),
			Arn: aws.String("arn:aws:iam::123456789012:user/alice"), CreateDate: &created}},
		"get-caller-identity": &sts.GetCallerIdentityOutput{Account: aws.String("123456789012"), Arn: aws.String("arn:aws:iam::123456789012:user/admin"), UserId: aws.String("AIDAADMIN")},
		"describe-endpoints": &ec2.DescribeInstanceConnectEndpointsOutput{InstanceConnectEndpoints: []ec2types.Ec2InstanceConnectEndpoint{{
			InstanceConnectEndpointId: aws.String("eice-0123456789abcdef0"), State: ec2types.Ec2InstanceConnectEndpointStateCreateComplete,
			DnsName: aws.String("localhost"), PreserveClientIp: aws.Bool(false), SecurityGroupIds: []string{"sg-1"},
			Tags: []ec2types.Tag{{Key: aws.String("Name"), Value: aws.String("a \"quoted\" & <tag>")}}, CreatedAt: &created,
			IpAddressType: ec2types.IpAddressTypeIpv4}}},
		"delete-user": &iam.DeleteUserOutput{},
	}
	for name, out := range tests {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			service := path.Base(reflect.TypeOf(out).Elem().PkgPath()) // iam, sts, ec2
			if err := printOutput(&b, "json", service, reflect.ValueOf(out)); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", name+".json")
			if *update {
				os.MkdirAll("testdata", 0o755)
				os.WriteFile(golden, b.Bytes(), 0o644)
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if b.String() != string(want) {
				t.Fatalf("output\n%s\nwant\n%s", b.String(), want)
			}
		})
	}
}

// TestOptionErrors: an option the parser refuses is worded as the AWS
// CLI's argument parser words it (formerly cobra's "unknown flag: --x",
// "flag needs an argument", `invalid argument "x" for "--output" flag`),
// one line, exit 252, before any call.
func TestOptionErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"sts", "get-caller-identity", "--bogus"}, "postern: error: Unknown options: --bogus\n"},
		{[]string{"ec2", "describe-vpcs", "-x"}, "postern: error: Unknown options: -x\n"},
		{[]string{"--bogus", "sts", "get-caller-identity"}, "postern: error: Unknown options: --bogus\n"},
		{[]string{"iam", "get-user", "--user-name"}, "postern: error: argument --user-name: expected one argument\n"},
		{[]string{"--output", "xml", "sts", "get-caller-identity"}, "postern: error: argument --output: Invalid choice, valid choices are: json | text | table | yaml | yaml-stream\n"},
		{[]string{"--color", "blue", "sts", "get-caller-identity"}, "postern: error: argument --color: Invalid choice, valid choices are: on | off | auto\n"},
		{[]string{"cloudtrail", "lookup-events", "--max-items", "abc"}, "postern: error: argument --max-items: invalid int value: 'abc'\n"},
		{[]string{"ec2", "describe-vpcs", "--dry-run=maybe"}, "postern: error: argument --dry-run: ignored explicit argument 'maybe'\n"},
		{[]string{"--query", "[", "sts", "get-caller-identity"}, "postern: error: Bad value for --query [: SyntaxError: Incomplete expression\n"},
		{[]string{"configure", "get"}, "postern: error: the following arguments are required: varname\n"},
		{[]string{"configure", "set", "region"}, "postern: error: the following arguments are required: value\n"},
		{[]string{"configure", "get", "region", "extra"}, "postern: error: Unknown options: extra\n"},
		{[]string{"ec2", "wait", "instance-connect-endpoint-deleted", "--delay", "soon"}, "postern: error: argument --delay: \"soon\" is neither whole seconds nor a duration such as 500ms\n"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, stdout, stderr := runMain(t, tc.args...)
			if code != ExitUsage || stdout != "" || stderr != tc.want {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, stderr %q", code, stdout, stderr, ExitUsage, tc.want)
			}
		})
	}
}

func TestMainErrors(t *testing.T) {
	tests := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"iam", "create-user", "--bogus"}, ExitUsage, "postern: error: Unknown options: --bogus\n"},
		{[]string{"nosuch"}, ExitUsage, "unknown command"},
		{[]string{"ec2", "describe-instance-connect-endpoints", "--filters", "Name=[x"}, ExitUsage, "invalid shorthand"},
		{[]string{"ec2", "describe-instance-connect-endpoints", "--max-results", "many"}, ExitUsage, "not an integer"},
		{[]string{"iam", "put-user-policy", "--policy-document", "file:///does/not/exist"}, ExitUsage, "Unable to load paramfile"},
	}
	for _, tc := range tests {
		var out, errb bytes.Buffer
		code := Main(context.Background(), tc.args, strings.NewReader(""), &out, &errb)
		if code != tc.code || !strings.Contains(errb.String(), tc.msg) {
			t.Errorf("%v: exit %d stderr %q; want %d and %q", tc.args, code, errb.String(), tc.code, tc.msg)
		}
		if strings.Contains(errb.String(), "goroutine") {
			t.Errorf("%v: stack trace on stderr", tc.args)
		}
	}
}
