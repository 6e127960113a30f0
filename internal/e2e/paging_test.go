package e2e

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
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
