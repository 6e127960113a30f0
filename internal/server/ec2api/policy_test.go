package ec2api

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// seedPolicy returns the endpoint-creation policy of the EC2 Instance
// Connect Endpoint documentation (testdata,
// byte for byte from the tutorial) with its region and account
// placeholders filled in, after mutate edits its statements.
func seedPolicy(t *testing.T, mutate func(stmts []map[string]any) []map[string]any) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "seed_create_endpoint.json"))
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.ReplaceAll(string(raw), ":region:account-id:", ":"+testRegion+":"+testAccount+":")
	if mutate == nil {
		return doc
	}
	var p struct {
		Version   string           `json:"Version"`
		Statement []map[string]any `json:"Statement"`
	}
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		t.Fatal(err)
	}
	p.Statement = mutate(p.Statement)
	out, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// withoutAction removes action from statement i.
func withoutAction(i int, action string) func([]map[string]any) []map[string]any {
	return func(stmts []map[string]any) []map[string]any {
		var kept []any
		for _, a := range stmts[i]["Action"].([]any) {
			if a != action {
				kept = append(kept, a)
			}
		}
		stmts[i]["Action"] = kept
		return stmts
	}
}

// withoutStatement removes statement i.
func withoutStatement(i int) func([]map[string]any) []map[string]any {
	return func(stmts []map[string]any) []map[string]any { return slices.Delete(stmts, i, i+1) }
}

// plus appends statements (JSON objects).
func plus(extra ...string) func([]map[string]any) []map[string]any {
	return func(stmts []map[string]any) []map[string]any {
		for _, e := range extra {
			var m map[string]any
			if err := json.Unmarshal([]byte(e), &m); err != nil {
				panic(err)
			}
			stmts = append(stmts, m)
		}
		return stmts
	}
}

// policyWorld is a harness where the admin built the tutorial network and
// a user "builder" holds the policy under test.
type policyWorld struct {
	h       *harness
	n       network
	builder *ec2.Client
}

func newPolicyWorld(t *testing.T, policy string) policyWorld {
	h := newHarness(t)
	n := h.tutorialNetwork(false)
	b := h.createUser("builder", policy)
	return policyWorld{h: h, n: n, builder: h.client(b)}
}

func (w policyWorld) create(tagged bool) (*ec2.CreateInstanceConnectEndpointOutput, error) {
	in := &ec2.CreateInstanceConnectEndpointInput{SubnetId: &w.n.subnet, SecurityGroupIds: []string{w.n.endpointSG}}
	if tagged {
		in.TagSpecifications = tagSpec(types.ResourceTypeInstanceConnectEndpoint, "Name", "bastion")
	}
	return w.builder.CreateInstanceConnectEndpoint(context.Background(), in)
}

func TestSeedPolicyAllowsTheTutorial(t *testing.T) {
	w := newPolicyWorld(t, seedPolicy(t, nil))
	ctx := context.Background()
	// Step 5 of the tutorial, plus tags (the policy grants ec2:CreateTags).
	out, err := w.create(true)
	if err != nil {
		t.Fatalf("builder create: %v", err)
	}
	id := *out.InstanceConnectEndpoint.InstanceConnectEndpointId
	if _, err := w.builder.DescribeInstanceConnectEndpoints(ctx, &ec2.DescribeInstanceConnectEndpointsInput{}); err != nil {
		t.Errorf("builder describe: %v", err)
	}
	// A dry run by the builder is authorized.
	_, err = w.builder.DeleteInstanceConnectEndpoint(ctx, &ec2.DeleteInstanceConnectEndpointInput{InstanceConnectEndpointId: &id, DryRun: aws.Bool(true)})
	wantCode(t, err, "DryRunOperation")
	// "GrantAllActionsInAllSubnets" lets the builder delete endpoints in
	// any subnet.
	if _, err := w.builder.DeleteInstanceConnectEndpoint(ctx, &ec2.DeleteInstanceConnectEndpointInput{InstanceConnectEndpointId: &id}); err != nil {
		t.Errorf("builder delete: %v", err)
	}
	// Nothing else: the builder cannot build networks or modify endpoints.
	_, err = w.builder.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.7.0.0/16")})
	wantCode(t, err, "UnauthorizedOperation")
	_, err = w.builder.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	wantCode(t, err, "UnauthorizedOperation")
}

func TestSeedPolicyEachPermissionIsNeeded(t *testing.T) {
	const (
		stmtSubnets = 0
		stmtGroups  = 1
	)
	tests := []struct {
		name     string
		mutate   func([]map[string]any) []map[string]any
		tagged   bool
		action   string // the denied action named in the message
		resource string // "subnet", "sg", "eice" or "role"
	}{
		{"ec2:CreateInstanceConnectEndpoint", withoutAction(stmtSubnets, "ec2:CreateInstanceConnectEndpoint"), false, "ec2:CreateInstanceConnectEndpoint", "subnet"},
		{"ec2:CreateNetworkInterface on the subnet", withoutAction(stmtSubnets, "ec2:CreateNetworkInterface"), false, "ec2:CreateNetworkInterface", "subnet"},
		{"ec2:CreateNetworkInterface on the security group", withoutStatement(stmtGroups), false, "ec2:CreateNetworkInterface", "sg"},
		{"ec2:CreateTags when tagging", withoutAction(stmtSubnets, "ec2:CreateTags"), true, "ec2:CreateTags", "eice"},
		{"iam:CreateServiceLinkedRole on first use", withoutAction(stmtSubnets, "iam:CreateServiceLinkedRole"), false, "iam:CreateServiceLinkedRole", "role"},
		{"explicit deny of tagging endpoints", plus(`{"Effect":"Deny","Action":"ec2:CreateTags","Resource":"arn:aws:ec2:*:*:instance-connect-endpoint/*"}`), true, "ec2:CreateTags", "eice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newPolicyWorld(t, seedPolicy(t, tc.mutate))
			before := w.h.snapshot()
			_, err := w.create(tc.tagged)
			wantCode(t, err, "UnauthorizedOperation")
			if st := w.h.rec.last(t).status; st != http.StatusForbidden {
				t.Errorf("status = %d, want 403", st)
			}
			resource := map[string]string{
				"subnet": "arn:aws:ec2:us-east-1:123456789012:subnet/" + w.n.subnet,
				"sg":     "arn:aws:ec2:us-east-1:123456789012:security-group/" + w.n.endpointSG,
				"eice":   "arn:aws:ec2:us-east-1:123456789012:instance-connect-endpoint/eice-",
				"role":   "arn:aws:iam::123456789012:role/aws-service-role/ec2-instance-connect.amazonaws.com/AWSServiceRoleForEc2InstanceConnect",
			}[tc.resource]
			msg := err.Error()
			if !strings.Contains(msg, "User: arn:aws:iam::123456789012:user/builder is not authorized to perform: "+tc.action+" on resource: "+resource) {
				t.Errorf("message: %s", msg)
			}
			if after := w.h.snapshot(); after != before {
				t.Errorf("a denied create changed the store")
			}
			// A dry run is denied the same way.
			_, err = w.builder.CreateInstanceConnectEndpoint(context.Background(), &ec2.CreateInstanceConnectEndpointInput{
				SubnetId: &w.n.subnet, SecurityGroupIds: []string{w.n.endpointSG}, DryRun: aws.Bool(true),
				TagSpecifications: map[bool][]types.TagSpecification{true: tagSpec(types.ResourceTypeInstanceConnectEndpoint, "Name", "x")}[tc.tagged]})
			wantCode(t, err, "UnauthorizedOperation")
		})
	}
}

func TestDenialMessage(t *testing.T) {
	w := newPolicyWorld(t, seedPolicy(t, withoutAction(0, "ec2:CreateInstanceConnectEndpoint")))
	_, err := w.builder.CreateInstanceConnectEndpoint(context.Background(), &ec2.CreateInstanceConnectEndpointInput{
		SubnetId: &w.n.subnet, SecurityGroupIds: []string{w.n.endpointSG}, ClientToken: aws.String("t")})
	wantCode(t, err, "UnauthorizedOperation")
	w.h.golden("error_unauthorized")
}

func TestServiceLinkedRoleOnlyOnFirstUse(t *testing.T) {
	w := newPolicyWorld(t, seedPolicy(t, withoutAction(0, "iam:CreateServiceLinkedRole")))
	ctx := context.Background()
	_, err := w.create(false)
	wantCode(t, err, "UnauthorizedOperation")
	// The administrator creates the account's first endpoint elsewhere.
	_, sub := w.h.newVPC("10.3.0.0/16", "10.3.1.0/24")
	if _, err := w.h.ec2.CreateInstanceConnectEndpoint(ctx, &ec2.CreateInstanceConnectEndpointInput{SubnetId: &sub}); err != nil {
		t.Fatal(err)
	}
	// From now on the role exists.
	if _, err := w.create(false); err != nil {
		t.Errorf("create after the role exists: %v", err)
	}
}

func TestScopedPolicies(t *testing.T) {
	const scoped = `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":["ec2:CreateInstanceConnectEndpoint","ec2:CreateNetworkInterface"],"Resource":"arn:aws:ec2:us-east-1:123456789012:subnet/*",
		 "Condition":{"StringEquals":{"ec2:SubnetID":"%SUBNET%"}}},
		{"Effect":"Allow","Action":"ec2:CreateNetworkInterface","Resource":"arn:aws:ec2:us-east-1:123456789012:security-group/*"},
		{"Effect":"Allow","Action":"ec2:CreateTags","Resource":"arn:aws:ec2:us-east-1:123456789012:instance-connect-endpoint/*",
		 "Condition":{"StringEquals":{"ec2:CreateAction":"CreateInstanceConnectEndpoint","aws:RequestTag/team":"blue"}}},
		{"Effect":"Allow","Action":"iam:CreateServiceLinkedRole","Resource":"arn:aws:iam::123456789012:role/aws-service-role/ec2-instance-connect.amazonaws.com/*",
		 "Condition":{"StringEquals":{"iam:AWSServiceName":"ec2-instance-connect.amazonaws.com"}}},
		{"Effect":"Allow","Action":["ec2:DeleteInstanceConnectEndpoint","ec2:ModifyInstanceConnectEndpoint"],"Resource":"arn:aws:ec2:us-east-1:123456789012:instance-connect-endpoint/*",
		 "Condition":{"StringEquals":{"aws:ResourceTag/team":"blue"}}}
	]}`
	tests := []struct {
		name       string
		subnetCond string // "" = the tutorial subnet
		tags       []string
		want       string
	}{
		{"allowed", "", []string{"team", "blue"}, ""},
		{"untagged", "", nil, ""},
		{"other subnet", "subnet-00000000000000fff", nil, "UnauthorizedOperation"},
		{"wrong request tag", "", []string{"team", "red"}, "UnauthorizedOperation"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			n := h.tutorialNetwork(false)
			cond := tc.subnetCond
			if cond == "" {
				cond = n.subnet
			}
			c := h.client(h.createUser("scoped", strings.ReplaceAll(scoped, "%SUBNET%", cond)))
			in := &ec2.CreateInstanceConnectEndpointInput{SubnetId: &n.subnet, SecurityGroupIds: []string{n.endpointSG}}
			if tc.tags != nil {
				in.TagSpecifications = tagSpec(types.ResourceTypeInstanceConnectEndpoint, tc.tags...)
			}
			out, err := c.CreateInstanceConnectEndpoint(context.Background(), in)
			if got := apiCode(err); got != tc.want {
				t.Fatalf("code %q, want %q (%v)", got, tc.want, err)
			}
			if err != nil {
				return
			}
			// Resource tags decide the delete.
			id := out.InstanceConnectEndpoint.InstanceConnectEndpointId
			_, err = c.DeleteInstanceConnectEndpoint(context.Background(), &ec2.DeleteInstanceConnectEndpointInput{InstanceConnectEndpointId: id})
			wantDelete := ""
			if tc.tags == nil {
				wantDelete = "UnauthorizedOperation"
			}
			if got := apiCode(err); got != wantDelete {
				t.Errorf("delete: %q, want %q", got, wantDelete)
			}
		})
	}
}
