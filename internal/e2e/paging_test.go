package e2e

import (
	"encoding/base64"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/postern/postern/internal/testutil/awscli"
)

// TestCLIPaging: the postern CLI follows NextToken/Marker as the AWS CLI
// does, merging pages, and --max-items cuts the listing.
func TestCLIPaging(t *testing.T) {
	srv := startBareServer(t, filepath.Join(t.TempDir(), "data"))
	run := func(args ...string) string {
		t.Helper()
		out, errOut, code := srv.cli(t, nil, args...)
		if code != 0 {
			t.Fatalf("postern %v: exit %d %s", args, code, errOut)
		}
		return out
	}
	for _, u := range []string{"u1", "u2", "u3"} {
		run("iam", "create-user", "--user-name", u)
	}
	var users struct{ Users []struct{ UserName string } }
	if err := json.Unmarshal([]byte(run("iam", "list-users", "--page-size", "1")), &users); err != nil {
		t.Fatal(err)
	}
	if len(users.Users) != 4 {
		t.Fatalf("list-users --page-size 1 merged %d users, want 4", len(users.Users))
	}
	out := run("iam", "list-users", "--max-items", "2")
	if strings.Count(out, `"UserName"`) != 2 {
		t.Fatalf("--max-items 2:\n%s", out)
	}
	for i, cidr := range []string{"10.1.0.0/16", "10.2.0.0/16", "10.3.0.0/16"} {
		var vpc struct{ Vpc struct{ VpcId string } }
		json.Unmarshal([]byte(run("ec2", "create-vpc", "--cidr-block", cidr)), &vpc)
		var sn struct{ Subnet struct{ SubnetId string } }
		json.Unmarshal([]byte(run("ec2", "create-subnet", "--vpc-id", vpc.Vpc.VpcId, "--cidr-block", strings.Replace(cidr, "0.0/16", "1.0/24", 1))), &sn)
		run("ec2", "create-instance-connect-endpoint", "--subnet-id", sn.Subnet.SubnetId,
			"--tag-specifications", "ResourceType=instance-connect-endpoint,Tags=[{Key=Name,Value=e"+string(rune('0'+i))+"}]")
	}
	var eps struct {
		InstanceConnectEndpoints []struct{ InstanceConnectEndpointId string }
		NextToken                string
	}
	if err := json.Unmarshal([]byte(run("ec2", "describe-instance-connect-endpoints", "--page-size", "1")), &eps); err != nil {
		t.Fatal(err)
	}
	if len(eps.InstanceConnectEndpoints) != 3 || eps.NextToken != "" {
		t.Fatalf("describe with --page-size 1: %+v", eps)
	}
	one := run("ec2", "describe-instance-connect-endpoints", "--max-results", "1", "--no-paginate")
	if strings.Count(one, "InstanceConnectEndpointId") != 1 || !strings.Contains(one, `"NextToken"`) {
		t.Fatalf("--no-paginate:\n%s", one)
	}
	tagged := run("ec2", "describe-instance-connect-endpoints", "--filters", "Name=tag:Name,Values=e1,e2")
	if strings.Count(tagged, "InstanceConnectEndpointId") != 2 {
		t.Fatalf("tag filter:\n%s", tagged)
	}
}

// listing is one paginated operation as the paging tests drive it: the
// command, the output's result key and the member that names an item.
type listing struct {
	name      string
	args      []string
	resultKey string
	idKey     string
	limitFlag string // the service's own page size flag, "" if shadowed (IAM's MaxItems)
	inToken   string // the paginator's input token, inside the CLI's token
}

// pagedOutput is a parsed paginated output: the items' ids and the
// top-level NextToken, if any.
type pagedOutput struct {
	ids     []string
	token   string
	members []string
}

func parsePaged(t *testing.T, l listing, out string) pagedOutput {
	t.Helper()
	var top map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &top); err != nil {
		t.Fatalf("%s: output is not JSON: %v\n%s", l.name, err, out)
	}
	var p pagedOutput
	for k := range top {
		p.members = append(p.members, k)
	}
	var items []map[string]any
	if raw, ok := top[l.resultKey]; ok {
		if err := json.Unmarshal(raw, &items); err != nil {
			t.Fatalf("%s: %s: %v", l.name, l.resultKey, err)
		}
	}
	for _, it := range items {
		id, _ := it[l.idKey].(string)
		p.ids = append(p.ids, id)
	}
	if raw, ok := top["NextToken"]; ok {
		json.Unmarshal(raw, &p.token)
	}
	return p
}

// TestCLIPagingLikeAWSCLI: --max-items, --starting-token, --page-size and
// --no-paginate behave as the AWS CLI's (botocore's) paginator: a
// truncated listing ends with a top-level NextToken in botocore's format
// (base64 of {"<input token>": ..., "boto_truncate_amount": n}) that
// continues exactly where it stopped, also in the middle of a page; the
// service's own page-size or token parameter turns paging off. When the
// AWS CLI is installed, its tokens for the same server are compared byte
// for byte.
func TestCLIPagingLikeAWSCLI(t *testing.T) {
	srv := startBareServer(t, filepath.Join(t.TempDir(), "data"))
	cli := func(args ...string) (string, string, int) {
		t.Helper()
		return srv.cli(t, nil, args...)
	}
	run := func(args ...string) string {
		t.Helper()
		out, errOut, code := cli(args...)
		if code != 0 {
			t.Fatalf("postern %v: exit %d %s", args, code, errOut)
		}
		return out
	}
	for _, u := range []string{"u1", "u2", "u3", "u4"} {
		run("iam", "create-user", "--user-name", u)
	}
	for i := 0; i < 4; i++ {
		cidr := "10." + string(rune('1'+i)) + ".0.0/16"
		var vpc struct{ Vpc struct{ VpcId string } }
		json.Unmarshal([]byte(run("ec2", "create-vpc", "--cidr-block", cidr)), &vpc)
		var sn struct{ Subnet struct{ SubnetId string } }
		json.Unmarshal([]byte(run("ec2", "create-subnet", "--vpc-id", vpc.Vpc.VpcId, "--cidr-block", strings.Replace(cidr, "0.0/16", "1.0/24", 1))), &sn)
		run("ec2", "create-instance-connect-endpoint", "--subnet-id", sn.Subnet.SubnetId)
	}
	// The AWS CLI (Debian's, see awscli.Find), when installed, and the
	// listing its model may lack (Debian 12's has no EC2 Instance Connect
	// Endpoint operations; IAM's and CloudTrail's are years older).
	var awsBin string
	var awsEndpoint []string
	awsLacks := map[string]bool{}
	if bin, err := awscli.Lookup(); err == nil {
		if aws, err := awscli.At(bin, cleanEnv()); err != nil {
			t.Errorf("the AWS CLI: %v", err)
		} else {
			awsBin, awsEndpoint = aws.Path, aws.EndpointArgs(t, srv.url)
			if !aws.HasOperation(t, "ec2", "describe-instance-connect-endpoints") {
				awsLacks["ec2 describe-instance-connect-endpoints"] = true
				t.Logf("aws-cli/%s has no `aws ec2 describe-instance-connect-endpoints`: that listing is not compared with it", aws.Version)
			}
		}
	}
	awsRun := func(args ...string) (string, bool) {
		if awsBin == "" || awsLacks[args[0]+" "+args[1]] {
			return "", false
		}
		cmd := exec.Command(awsBin, append(append([]string{}, awsEndpoint...), args...)...)
		cmd.Env = append(cleanEnv(), srv.env()...)
		out, err := cmd.Output()
		if err != nil {
			// The AWS CLI is installed: its refusing Postern's answer is
			// a failure, not a comparison to leave out.
			t.Errorf("aws %v: %v", args, err)
			return "", false
		}
		return string(out), true
	}
	listings := []listing{
		{name: "iam", args: []string{"iam", "list-users"}, resultKey: "Users", idKey: "UserName", inToken: "Marker"},
		{name: "ec2", args: []string{"ec2", "describe-instance-connect-endpoints"}, resultKey: "InstanceConnectEndpoints", idKey: "InstanceConnectEndpointId", limitFlag: "--max-results", inToken: "NextToken"},
		{name: "cloudtrail", args: []string{"cloudtrail", "lookup-events", "--lookup-attributes", "AttributeKey=EventName,AttributeValue=CreateUser"}, resultKey: "Events", idKey: "EventId", limitFlag: "--max-results", inToken: "NextToken"},
	}
	for _, l := range listings {
		t.Run(l.name, func(t *testing.T) {
			list := func(extra ...string) pagedOutput {
				t.Helper()
				return parsePaged(t, l, run(append(append([]string{}, l.args...), extra...)...))
			}
			all := list()
			if len(all.ids) < 4 || all.token != "" {
				t.Fatalf("full listing: %+v", all)
			}
			for _, m := range all.members {
				if m != l.resultKey {
					t.Errorf("full listing prints %q; the AWS CLI prints only %s (and NextToken)", m, l.resultKey)
				}
			}
			if got := list("--page-size", "1"); strings.Join(got.ids, ",") != strings.Join(all.ids, ",") || got.token != "" {
				t.Errorf("--page-size 1: %v token %q, want %v", got.ids, got.token, all.ids)
			}
			// Walk the listing in pieces of 3 items over pages of 2: every
			// other token is in the middle of a page.
			cases := []struct{ maxItems, pageSize string }{{"3", "2"}, {"2", "2"}, {"1", ""}, {"3", ""}}
			for _, c := range cases {
				var walked []string
				tok := ""
				for step := 0; step <= len(all.ids); step++ {
					args := []string{"--max-items", c.maxItems}
					if c.pageSize != "" {
						args = append(args, "--page-size", c.pageSize)
					}
					if tok != "" {
						args = append(args, "--starting-token", tok)
					}
					got := list(args...)
					walked = append(walked, got.ids...)
					if got.token == "" {
						break
					}
					raw, err := base64.StdEncoding.DecodeString(got.token)
					if err != nil || !strings.HasPrefix(string(raw), `{"`+l.inToken+`": `) {
						t.Fatalf("max-items %s page-size %s: NextToken %q is not botocore's format (%s)", c.maxItems, c.pageSize, got.token, raw)
					}
					if step == 0 {
						if out, ok := awsRun(append(append([]string{}, l.args...), append(args, "--output", "json")...)...); ok {
							if want := parsePaged(t, l, out); want.token != got.token || strings.Join(want.ids, ",") != strings.Join(got.ids, ",") {
								t.Errorf("max-items %s page-size %s: %v NextToken %q (%s), the AWS CLI prints %v %q", c.maxItems, c.pageSize, got.ids, got.token, raw, want.ids, want.token)
							}
						}
					}
					tok = got.token
				}
				if strings.Join(walked, ",") != strings.Join(all.ids, ",") {
					t.Errorf("max-items %s page-size %s: walked %v, want %v", c.maxItems, c.pageSize, walked, all.ids)
				}
			}
			// --no-paginate is a global option: after the command or before it.
			for _, args := range [][]string{
				append(append([]string{}, l.args...), "--no-paginate", "--page-size", "1"),
				append(append([]string{"--no-paginate"}, l.args...), "--page-size", "1"),
			} {
				_, errOut, code := cli(args...)
				if code != 255 || !strings.Contains(errOut, "Cannot specify --no-paginate along with pagination arguments: --page-size") {
					t.Errorf("%v: exit %d %q", args, code, errOut)
				}
			}
			if l.limitFlag == "" {
				// IAM's own MaxItems comes back with --no-paginate.
				got := list("--no-paginate", "--max-items", "1")
				if len(got.ids) != 1 || !slices.Contains(got.members, "Marker") {
					t.Errorf("--no-paginate --max-items 1: %+v", got)
				}
				return
			}
			// The service's page size turns paging off: one call, its own token.
			got := list(l.limitFlag, "2")
			if len(got.ids) != 2 || got.token == "" {
				t.Fatalf("%s 2: %+v", l.limitFlag, got)
			}
			if rest := list("--next-token", got.token); strings.Join(append(got.ids, rest.ids...), ",") != strings.Join(all.ids, ",") {
				t.Errorf("--next-token continues with %v after %v, want %v", rest.ids, got.ids, all.ids)
			}
		})
	}
}
