package ec2api

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// TestDescribeConditionKeys: a Describe is decided with the base keys
// (ec2:Region, aws:RequestedRegion) and only them, call after call, also
// after calls whose checks carry keys of their own (the base context of a
// check without keys is built once and shared: nothing may write to it).
func TestDescribeConditionKeys(t *testing.T) {
	const tmpl = `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"ec2:DescribeInstanceConnectEndpoints","Resource":"*",
		 "Condition":{"StringEquals":{"%KEY%":"%REGION%"},"Null":{"ec2:SubnetID":"true","ec2:CreateAction":"true"}}},
		{"Effect":"Allow","Action":["ec2:CreateInstanceConnectEndpoint","ec2:CreateNetworkInterface","ec2:CreateTags","iam:CreateServiceLinkedRole"],"Resource":"*"}
	]}`
	tests := []struct {
		name, key, region string
		want              string
	}{
		{"ec2:Region of this server", "ec2:Region", testRegion, ""},
		{"aws:RequestedRegion of this server", "aws:RequestedRegion", testRegion, ""},
		{"another ec2:Region", "ec2:Region", "eu-west-3", "UnauthorizedOperation"},
		{"another aws:RequestedRegion", "aws:RequestedRegion", "eu-west-3", "UnauthorizedOperation"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			n := h.tutorialNetwork(false)
			doc := strings.NewReplacer("%KEY%", tc.key, "%REGION%", tc.region).Replace(tmpl)
			c := h.client(h.createUser("describer", doc))
			ctx := context.Background()
			describe := func(when string) {
				t.Helper()
				_, err := c.DescribeInstanceConnectEndpoints(ctx, &ec2.DescribeInstanceConnectEndpointsInput{})
				if got := apiCode(err); got != tc.want {
					t.Fatalf("%s: code %q, want %q (%v)", when, got, tc.want, err)
				}
			}
			describe("first call")
			describe("second call")
			// A create is authorized with keys of its own (ec2:SubnetID,
			// ec2:CreateAction for its tags): none may reach the next
			// Describe's context, whose policy requires them absent.
			in := &ec2.CreateInstanceConnectEndpointInput{SubnetId: &n.subnet, SecurityGroupIds: []string{n.endpointSG},
				TagSpecifications: tagSpec("instance-connect-endpoint", "team", "blue")}
			if _, err := c.CreateInstanceConnectEndpoint(ctx, in); err != nil {
				t.Fatalf("create: %v", err)
			}
			describe("after a create")
			_, err := c.DescribeInstanceConnectEndpoints(ctx, &ec2.DescribeInstanceConnectEndpointsInput{DryRun: aws.Bool(true)})
			want := "DryRunOperation"
			if tc.want != "" {
				want = tc.want
			}
			if got := apiCode(err); got != want {
				t.Fatalf("dry run: code %q, want %q (%v)", got, want, err)
			}
		})
	}
}
