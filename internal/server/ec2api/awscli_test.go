package ec2api

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postern/postern/internal/testutil/awscli"
)

// TestAWSCLITutorial runs the AWS CLI commands of the EC2 Instance Connect
// Endpoint tutorial (set up a VPC, a subnet, the two security groups and
// an endpoint) with the real AWS CLI (Debian's, see awscli.Find): the exact
// commands it shows, including the --protocol/--port/--cidr and
// --source-group shorthands and --ip-permissions with UserIdGroupPairs,
// then lists endpoints one per page. The endpoint steps skip, by name,
// with a CLI whose model predates the endpoint operations.
func TestAWSCLITutorial(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the AWS CLI")
	}
	h := newHarness(t)
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, h.caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"AWS_ACCESS_KEY_ID=" + h.admin.akid, "AWS_SECRET_ACCESS_KEY=" + h.admin.secret,
		"AWS_DEFAULT_REGION=" + testRegion, "AWS_CA_BUNDLE=" + ca,
		"AWS_CONFIG_FILE=" + filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "credentials"),
		"HOME=" + dir, "PATH=" + os.Getenv("PATH"),
	}
	aws := awscli.Find(t, env)
	run := func(t *testing.T, args ...string) map[string]any {
		t.Helper()
		cmd := exec.Command(aws.Path, append([]string{"--endpoint-url", h.url, "--output", "json", "ec2"}, args...)...)
		cmd.Env = env
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		if err := cmd.Run(); err != nil {
			t.Fatalf("aws ec2 %s: %v\n%s%s", strings.Join(args, " "), err, o.String(), e.String())
		}
		out := map[string]any{}
		if o.Len() > 0 {
			if err := json.Unmarshal(o.Bytes(), &out); err != nil {
				t.Fatalf("aws ec2 %s: output %q: %v", args[0], o.String(), err)
			}
		}
		return out
	}
	str := func(m map[string]any, path ...string) string {
		var cur any = m
		for _, p := range path {
			cur = cur.(map[string]any)[p]
		}
		s, _ := cur.(string)
		return s
	}
	vpc := str(run(t, "create-vpc", "--cidr-block", "10.0.0.0/16"), "Vpc", "VpcId")
	subnet := str(run(t, "create-subnet", "--vpc-id", vpc, "--cidr-block", "10.0.1.0/24"), "Subnet", "SubnetId")
	// Step 1.
	endpointSG := str(run(t, "create-security-group", "--description", "endpoint security group", "--group-name", "endpoint-sg", "--vpc-id", vpc), "GroupId")
	instanceSG := str(run(t, "create-security-group", "--description", "instance security group", "--group-name", "instance-sg", "--vpc-id", vpc), "GroupId")
	// Steps 2–4.
	run(t, "authorize-security-group-ingress", "--group-id", endpointSG, "--protocol", "tcp", "--port", "22", "--cidr", "0.0.0.0/0")
	run(t, "authorize-security-group-egress", "--group-id", endpointSG, "--ip-permissions", "IpProtocol=tcp,FromPort=22,ToPort=22,UserIdGroupPairs=[{GroupId="+instanceSG+"}]")
	run(t, "authorize-security-group-ingress", "--group-id", instanceSG, "--protocol", "tcp", "--port", "22", "--source-group", endpointSG)
	groups := run(t, "describe-security-groups", "--group-ids", endpointSG, instanceSG)
	js, _ := json.Marshal(groups)
	for _, want := range []string{`"CidrIp":"0.0.0.0/0"`, `"GroupId":"` + instanceSG + `"`, `"GroupId":"` + endpointSG + `"`, `"FromPort":22`} {
		if !strings.Contains(string(js), want) {
			t.Errorf("describe-security-groups lacks %s:\n%s", want, js)
		}
	}
	// Step 5, and the listing.
	t.Run("endpoint", func(t *testing.T) {
		aws.NeedOperation(t, "ec2", "create-instance-connect-endpoint")
		e := run(t, "create-instance-connect-endpoint", "--subnet-id", subnet, "--security-group-ids", endpointSG)
		eid := str(e, "InstanceConnectEndpoint", "InstanceConnectEndpointId")
		if str(e, "InstanceConnectEndpoint", "State") != "create-in-progress" || str(e, "ClientToken") == "" {
			t.Errorf("create-instance-connect-endpoint: %v", e)
		}
		// The CLI auto-paginates with --page-size.
		for _, cidr := range []string{"10.1", "10.2"} {
			v := str(run(t, "create-vpc", "--cidr-block", cidr+".0.0/16"), "Vpc", "VpcId")
			s := str(run(t, "create-subnet", "--vpc-id", v, "--cidr-block", cidr+".1.0/24"), "Subnet", "SubnetId")
			run(t, "create-instance-connect-endpoint", "--subnet-id", s)
		}
		list := run(t, "describe-instance-connect-endpoints", "--page-size", "1")
		if eps, _ := list["InstanceConnectEndpoints"].([]any); len(eps) != 3 {
			t.Errorf("paginated describe: %d endpoints", len(eps))
		}
		d := run(t, "delete-instance-connect-endpoint", "--instance-connect-endpoint-id", eid)
		if str(d, "InstanceConnectEndpoint", "State") != "delete-in-progress" {
			t.Errorf("delete: %v", d)
		}
	})
}
