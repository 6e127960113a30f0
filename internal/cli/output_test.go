package cli

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
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

var updateFormats = flag.Bool("update-formats", false, "rewrite testdata/formats/*.response.json and cases.tsv (then run testdata/formats/gen.py)")

// formatCases are SDK responses (and a query) printed in every format.
func formatCases() []struct {
	name, title, query string
	out                any
} {
	created := time.Date(2026, 11, 22, 11, 46, 33, 0, time.UTC)
	later := time.Date(2026, 11, 22, 11, 47, 1, 250000000, time.UTC)
	users := &iam.ListUsersOutput{IsTruncated: false, Users: []iamtypes.User{
		{UserName: aws.String("admin"), UserId: aws.String("AIDAADMIN"), Path: aws.String("/"), Arn: aws.String("arn:aws:iam::123456789012:user/admin"), CreateDate: &created},
		{UserName: aws.String("alice"), UserId: aws.String("AIDAALICE"), Path: aws.String("/staff/"), Arn: aws.String("arn:aws:iam::123456789012:user/staff/alice"), CreateDate: &later,
			Tags: []iamtypes.Tag{{Key: aws.String("team"), Value: aws.String("ops: on call")}, {Key: aws.String("since"), Value: aws.String("2026")}}},
	}}
	endpoints := &ec2.DescribeInstanceConnectEndpointsOutput{InstanceConnectEndpoints: []ec2types.Ec2InstanceConnectEndpoint{{
		InstanceConnectEndpointId: aws.String("eice-0123456789abcdef0"), State: ec2types.Ec2InstanceConnectEndpointStateCreateComplete,
		StateMessage: aws.String(""), DnsName: aws.String("localhost:8443"), PreserveClientIp: aws.Bool(false), SecurityGroupIds: []string{"sg-1", "sg-2"},
		NetworkInterfaceIds: []string{"eni-0e207ea1268a4ff50"}, SubnetId: aws.String("subnet-1"), VpcId: aws.String("vpc-1"),
		Tags: []ec2types.Tag{{Key: aws.String("Name"), Value: aws.String("a \"quoted\" & <tag> that is long enough to be folded by the yaml dumper at eighty columns")}}, CreatedAt: &created,
		IpAddressType: ec2types.IpAddressTypeIpv4}}}
	groups := &ec2.DescribeSecurityGroupsOutput{SecurityGroups: []ec2types.SecurityGroup{{
		GroupId: aws.String("sg-1"), GroupName: aws.String("default"), Description: aws.String("default VPC security group"), VpcId: aws.String("vpc-1"), OwnerId: aws.String("123456789012"),
		IpPermissions: []ec2types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22),
			IpRanges:         []ec2types.IpRange{{CidrIp: aws.String("0.0.0.0/0"), Description: aws.String("ssh")}},
			UserIdGroupPairs: []ec2types.UserIdGroupPair{{GroupId: aws.String("sg-2"), UserId: aws.String("123456789012")}}}},
		IpPermissionsEgress: []ec2types.IpPermission{{IpProtocol: aws.String("-1"), IpRanges: []ec2types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}},
	}}}
	return []struct {
		name, title, query string
		out                any
	}{
		{"list-users", "ListUsers", "", users},
		{"list-users-query-hash", "ListUsers", "Users[].{Name: UserName, Id: UserId, Made: CreateDate}", users},
		{"list-users-query-names", "ListUsers", "Users[].UserName", users},
		{"list-users-query-scalar", "ListUsers", "Users[1].Tags[0].Value", users},
		{"list-users-query-count", "ListUsers", "length(Users)", users},
		{"list-users-query-filter", "ListUsers", "Users[?Path=='/staff/'] | [0]", users},
		{"get-caller-identity", "GetCallerIdentity", "", &sts.GetCallerIdentityOutput{Account: aws.String("123456789012"), Arn: aws.String("arn:aws:iam::123456789012:user/admin"), UserId: aws.String("AIDAADMIN")}},
		{"describe-endpoints", "DescribeInstanceConnectEndpoints", "", endpoints},
		{"describe-security-groups", "DescribeSecurityGroups", "", groups},
		{"describe-security-groups-query-list", "DescribeSecurityGroups", "SecurityGroups[].[GroupId, GroupName, IpPermissions[].FromPort]", groups},
	}
}

// TestOutputFormats prints SDK responses in every --output format, with
// and without --query, and compares them with golden files laid out by
// the AWS CLI's own formatters (testdata/formats/gen.py says how).
func TestOutputFormats(t *testing.T) {
	dir := filepath.Join("testdata", "formats")
	var tsv strings.Builder
	for _, tc := range formatCases() {
		tsv.WriteString(tc.name + "\t" + tc.title + "\t" + tc.query + "\n")
		if *updateFormats {
			var b bytes.Buffer
			if err := printResult(&b, &globals{output: "json", color: "off"}, tc.title, tc.out); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, tc.name+".response.json"), b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		for _, format := range outputFormats {
			t.Run(tc.name+"/"+format, func(t *testing.T) {
				g := &globals{output: format, color: "off"}
				if tc.query != "" {
					q, err := compileQuery(tc.query)
					if err != nil {
						t.Fatal(err)
					}
					g.query = q
				}
				var b bytes.Buffer
				if err := printResult(&b, g, tc.title, tc.out); err != nil {
					t.Fatal(err)
				}
				want, err := os.ReadFile(filepath.Join(dir, tc.name+"."+format))
				if err != nil {
					t.Fatalf("%v (see testdata/formats/gen.py)", err)
				}
				if b.String() != string(want) {
					t.Errorf("--output %s --query %q:\n%s\nwant (the AWS CLI's layout)\n%s", format, tc.query, b.String(), want)
				}
			})
		}
	}
	if *updateFormats {
		if err := os.WriteFile(filepath.Join(dir, "cases.tsv"), []byte(tsv.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestOutputFormatChoice: --output, else AWS_DEFAULT_OUTPUT, else the
// profile's output (as `postern configure` writes it), else json.
func TestOutputFormatChoice(t *testing.T) {
	tests := []struct {
		name, flag, env, profile, want string
		err                            bool
	}{
		{"default", "", "", "", "json", false},
		{"profile", "", "", "table", "table", false},
		{"env over profile", "", "text", "table", "text", false},
		{"flag over all", "yaml", "text", "table", "yaml", false},
		{"bad env", "", "xml", "", "", true},
		{"bad profile", "", "", "html", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := filepath.Join(t.TempDir(), "config")
			body := "[profile p]\nregion = us-east-1\n"
			if tc.profile != "" {
				body += "output = " + tc.profile + "\n"
			}
			if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			t.Setenv("AWS_CONFIG_FILE", cfg)
			t.Setenv("AWS_DEFAULT_OUTPUT", tc.env)
			t.Setenv("AWS_PROFILE", "")
			g := &globals{output: tc.flag, profile: "p"}
			got, err := g.outputFormat()
			if tc.err {
				if err == nil {
					t.Fatalf("got %q; want an error", got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
