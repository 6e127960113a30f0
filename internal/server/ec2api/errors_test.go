package ec2api

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// errorFixture is the state every error case starts from: the tutorial
// network with a registered instance and an endpoint, a second subnet in
// the same VPC and a dual-stack VPC.
type errorFixture struct {
	network
	subnet2, instance, endpoint string
	vpc6, subnet6, sg6          string
}

func newErrorFixture(t *testing.T) (*harness, errorFixture) {
	h := newHarness(t)
	ctx := context.Background()
	f := errorFixture{network: h.tutorialNetwork(false)}
	s2, err := h.ec2.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: &f.vpc, CidrBlock: aws.String("10.0.2.0/24")})
	if err != nil {
		t.Fatal(err)
	}
	f.subnet2 = *s2.Subnet.SubnetId
	var status int
	var body string
	if f.instance, status, body = h.registerInstance(h.admin, f.subnet, "10.0.1.10", f.instanceSG); status != http.StatusOK {
		t.Fatalf("register: %d %s", status, body)
	}
	e, err := h.ec2.CreateInstanceConnectEndpoint(ctx, &ec2.CreateInstanceConnectEndpointInput{SubnetId: &f.subnet, SecurityGroupIds: []string{f.endpointSG}})
	if err != nil {
		t.Fatal(err)
	}
	f.endpoint = *e.InstanceConnectEndpoint.InstanceConnectEndpointId
	v6, err := h.ec2.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.5.0.0/16"), Ipv6CidrBlock: aws.String("2600:1f18:aaaa:bb00::/56")})
	if err != nil {
		t.Fatal(err)
	}
	f.vpc6 = *v6.Vpc.VpcId
	s6, err := h.ec2.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: &f.vpc6, CidrBlock: aws.String("10.5.1.0/24"), Ipv6CidrBlock: aws.String("2600:1f18:aaaa:bb01::/64")})
	if err != nil {
		t.Fatal(err)
	}
	f.subnet6 = *s6.Subnet.SubnetId
	g6, err := h.ec2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("v6"), Description: aws.String("v6"), VpcId: &f.vpc6})
	if err != nil {
		t.Fatal(err)
	}
	f.sg6 = *g6.GroupId
	return h, f
}

// errCase is one bad request.
type errCase struct {
	name   string
	code   string
	status int // 0: 400
	call   func(h *harness, f errorFixture) error
	raw    url.Values // instead of call: a raw request (ids substituted from the fixture)
}

func filterValues(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "v" + strconv.Itoa(i)
	}
	return out
}

func TestErrors(t *testing.T) {
	h, f := newErrorFixture(t)
	ctx := context.Background()
	c := h.ec2
	sub := func(s string) string {
		r := strings.NewReplacer("{vpc}", f.vpc, "{subnet}", f.subnet, "{subnet2}", f.subnet2, "{esg}", f.endpointSG,
			"{isg}", f.instanceSG, "{instance}", f.instance, "{endpoint}", f.endpoint, "{vpc6}", f.vpc6, "{subnet6}", f.subnet6, "{sg6}", f.sg6)
		return r.Replace(s)
	}
	cases := []errCase{
		// VPCs
		{name: "vpc missing cidr", code: "MissingParameter", raw: url.Values{"Action": {"CreateVpc"}}},
		{name: "vpc too large", code: "InvalidVpc.Range", call: func(h *harness, f errorFixture) error {
			_, err := c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/8")})
			return err
		}},
		{name: "vpc too small", code: "InvalidVpc.Range", raw: url.Values{"Action": {"CreateVpc"}, "CidrBlock": {"10.0.0.0/29"}}},
		{name: "vpc host bits", code: "InvalidParameterValue", raw: url.Values{"Action": {"CreateVpc"}, "CidrBlock": {"10.0.0.1/16"}}},
		{name: "vpc not a cidr", code: "InvalidParameterValue", raw: url.Values{"Action": {"CreateVpc"}, "CidrBlock": {"bogus"}}},
		{name: "vpc ipv6 as ipv4", code: "InvalidParameterValue", raw: url.Values{"Action": {"CreateVpc"}, "CidrBlock": {"2600::/56"}}},
		{name: "vpc bad ipv6", code: "InvalidParameterValue", raw: url.Values{"Action": {"CreateVpc"}, "CidrBlock": {"10.9.0.0/16"}, "Ipv6CidrBlock": {"10.0.0.0/16"}}},
		{name: "vpc tag type", code: "InvalidParameterValue", call: func(h *harness, f errorFixture) error {
			_, err := c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.9.0.0/16"), TagSpecifications: tagSpec(types.ResourceTypeSubnet, "a", "b")})
			return err
		}},
		{name: "vpc reserved tag", code: "InvalidParameterValue", call: func(h *harness, f errorFixture) error {
			_, err := c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.9.0.0/16"), TagSpecifications: tagSpec(types.ResourceTypeVpc, "aws:x", "b")})
			return err
		}},
		{name: "vpc duplicate tag", code: "InvalidParameterValue", call: func(h *harness, f errorFixture) error {
			_, err := c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.9.0.0/16"), TagSpecifications: tagSpec(types.ResourceTypeVpc, "a", "1", "a", "2")})
			return err
		}},
		{name: "describe vpc malformed", code: "InvalidVpcID.Malformed", call: func(h *harness, f errorFixture) error {
			_, err := c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{VpcIds: []string{"vpc-xyz"}})
			return err
		}},
		{name: "describe vpc unknown", code: "InvalidVpcID.NotFound", call: func(h *harness, f errorFixture) error {
			_, err := c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{VpcIds: []string{f.vpc, "vpc-00000000000000fff"}})
			return err
		}},
		{name: "describe vpc bad filter", code: "InvalidParameterValue", call: func(h *harness, f errorFixture) error {
			_, err := c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: []types.Filter{{Name: aws.String("colour"), Values: []string{"x"}}}})
			return err
		}},
		{name: "describe vpc filter limit", code: "FilterLimitExceeded", call: func(h *harness, f errorFixture) error {
			_, err := c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: []types.Filter{{Name: aws.String("vpc-id"), Values: filterValues(201)}}})
			return err
		}},
		{name: "delete vpc with subnets", code: "DependencyViolation", call: func(h *harness, f errorFixture) error {
			_, err := c.DeleteVpc(ctx, &ec2.DeleteVpcInput{VpcId: &f.vpc})
			return err
		}},
		{name: "delete vpc unknown", code: "InvalidVpcID.NotFound", raw: url.Values{"Action": {"DeleteVpc"}, "VpcId": {"vpc-00000000000000fff"}}},
		// Subnets
		{name: "subnet outside vpc", code: "InvalidSubnet.Range", call: func(h *harness, f errorFixture) error {
			_, err := c.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: &f.vpc, CidrBlock: aws.String("10.9.0.0/24")})
			return err
		}},
		{name: "subnet overlap", code: "InvalidSubnet.Conflict", call: func(h *harness, f errorFixture) error {
			_, err := c.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: &f.vpc, CidrBlock: aws.String("10.0.1.128/25")})
			return err
		}},
		{name: "subnet too small", code: "InvalidSubnet.Range", raw: url.Values{"Action": {"CreateSubnet"}, "VpcId": {"{vpc}"}, "CidrBlock": {"10.0.3.0/29"}}},
		{name: "subnet unknown vpc", code: "InvalidVpcID.NotFound", raw: url.Values{"Action": {"CreateSubnet"}, "VpcId": {"vpc-00000000000000fff"}, "CidrBlock": {"10.0.3.0/24"}}},
		{name: "subnet missing vpc", code: "MissingParameter", raw: url.Values{"Action": {"CreateSubnet"}, "CidrBlock": {"10.0.3.0/24"}}},
		{name: "subnet bad zone", code: "InvalidParameterValue", raw: url.Values{"Action": {"CreateSubnet"}, "VpcId": {"{vpc}"}, "CidrBlock": {"10.0.3.0/24"}, "AvailabilityZone": {"eu-west-1a"}}},
		{name: "subnet ipv6 without vpc ipv6", code: "InvalidSubnet.Range", raw: url.Values{"Action": {"CreateSubnet"}, "VpcId": {"{vpc}"}, "CidrBlock": {"10.0.3.0/24"}, "Ipv6CidrBlock": {"2600:1f18:aaaa:bb02::/64"}}},
		{name: "subnet ipv6 overlap", code: "InvalidSubnet.Conflict", raw: url.Values{"Action": {"CreateSubnet"}, "VpcId": {"{vpc6}"}, "CidrBlock": {"10.5.2.0/24"}, "Ipv6CidrBlock": {"2600:1f18:aaaa:bb01::/64"}}},
		{name: "delete subnet in use", code: "DependencyViolation", raw: url.Values{"Action": {"DeleteSubnet"}, "SubnetId": {"{subnet}"}}},
		{name: "describe subnet malformed", code: "InvalidSubnetID.Malformed", raw: url.Values{"Action": {"DescribeSubnets"}, "SubnetId.1": {"subnet-1"}}},
		{name: "describe subnet unknown", code: "InvalidSubnetID.NotFound", raw: url.Values{"Action": {"DescribeSubnets"}, "SubnetId.1": {"subnet-00000000000000fff"}}},
		// Security groups
		{name: "group duplicate", code: "InvalidGroup.Duplicate", call: func(h *harness, f errorFixture) error {
			_, err := c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("endpoint-sg"), Description: aws.String("x"), VpcId: &f.vpc})
			return err
		}},
		{name: "group default name", code: "InvalidGroup.Duplicate", call: func(h *harness, f errorFixture) error {
			_, err := c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("default"), Description: aws.String("x"), VpcId: &f.vpc})
			return err
		}},
		{name: "group without vpc", code: "VPCIdNotSpecified", call: func(h *harness, f errorFixture) error {
			_, err := c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("g"), Description: aws.String("x")})
			return err
		}},
		{name: "group sg- name", code: "InvalidParameterValue", call: func(h *harness, f errorFixture) error {
			_, err := c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("sg-foo"), Description: aws.String("x"), VpcId: &f.vpc})
			return err
		}},
		{name: "group missing description", code: "MissingParameter", raw: url.Values{"Action": {"CreateSecurityGroup"}, "GroupName": {"g"}, "VpcId": {"{vpc}"}}},
		{name: "group unknown vpc", code: "InvalidVpcID.NotFound", raw: url.Values{"Action": {"CreateSecurityGroup"}, "GroupName": {"g"}, "GroupDescription": {"d"}, "VpcId": {"vpc-00000000000000fff"}}},
		{name: "delete group in use", code: "DependencyViolation", call: func(h *harness, f errorFixture) error {
			_, err := c.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: &f.instanceSG})
			return err
		}},
		{name: "delete group referenced", code: "DependencyViolation", call: func(h *harness, f errorFixture) error {
			_, err := c.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: &f.endpointSG})
			return err
		}},
		{name: "delete default group", code: "CannotDelete", call: func(h *harness, f errorFixture) error {
			g, err := c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []types.Filter{{Name: aws.String("vpc-id"), Values: []string{f.vpc}}, {Name: aws.String("group-name"), Values: []string{"default"}}}})
			if err != nil || len(g.SecurityGroups) != 1 {
				return err
			}
			_, err = c.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: g.SecurityGroups[0].GroupId})
			return err
		}},
		{name: "describe group malformed", code: "InvalidGroupId.Malformed", call: func(h *harness, f errorFixture) error {
			_, err := c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{"sg-zz"}})
			return err
		}},
		{name: "describe group unknown", code: "InvalidGroup.NotFound", call: func(h *harness, f errorFixture) error {
			_, err := c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{"sg-00000000000000fff"}})
			return err
		}},
		{name: "describe group unknown name", code: "InvalidGroup.NotFound", call: func(h *harness, f errorFixture) error {
			_, err := c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupNames: []string{"nope"}})
			return err
		}},
		{name: "authorize duplicate", code: "InvalidPermission.Duplicate", call: func(h *harness, f errorFixture) error {
			_, err := c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: &f.instanceSG, IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22), CidrIp: aws.String("192.0.2.0/24")})
			return err
		}},
		{name: "authorize duplicate in request", code: "InvalidPermission.Duplicate", raw: url.Values{"Action": {"AuthorizeSecurityGroupIngress"}, "GroupId": {"{esg}"},
			"IpPermissions.1.IpProtocol": {"tcp"}, "IpPermissions.1.FromPort": {"80"}, "IpPermissions.1.ToPort": {"80"},
			"IpPermissions.1.IpRanges.1.CidrIp": {"10.0.0.0/8"}, "IpPermissions.1.IpRanges.2.CidrIp": {"10.0.0.0/8"}}},
		{name: "authorize partial duplicate adds nothing", code: "InvalidPermission.Duplicate", raw: url.Values{"Action": {"AuthorizeSecurityGroupIngress"}, "GroupId": {"{isg}"},
			"IpPermissions.1.IpProtocol": {"tcp"}, "IpPermissions.1.FromPort": {"22"}, "IpPermissions.1.ToPort": {"22"},
			"IpPermissions.1.IpRanges.1.CidrIp": {"198.51.100.0/24"}, "IpPermissions.1.IpRanges.2.CidrIp": {"192.0.2.0/24"}}},
		{name: "authorize unknown peer", code: "InvalidGroup.NotFound", raw: url.Values{"Action": {"AuthorizeSecurityGroupIngress"}, "GroupId": {"{isg}"},
			"IpPermissions.1.IpProtocol": {"tcp"}, "IpPermissions.1.FromPort": {"22"}, "IpPermissions.1.ToPort": {"22"}, "IpPermissions.1.Groups.1.GroupId": {"sg-00000000000000fff"}}},
		{name: "authorize peer other vpc", code: "InvalidGroup.NotFound", raw: url.Values{"Action": {"AuthorizeSecurityGroupIngress"}, "GroupId": {"{isg}"},
			"IpPermissions.1.IpProtocol": {"tcp"}, "IpPermissions.1.FromPort": {"22"}, "IpPermissions.1.ToPort": {"22"}, "IpPermissions.1.Groups.1.GroupId": {"{sg6}"}}},
		{name: "authorize bad cidr", code: "InvalidParameterValue", raw: url.Values{"Action": {"AuthorizeSecurityGroupIngress"}, "GroupId": {"{isg}"},
			"IpProtocol": {"tcp"}, "FromPort": {"22"}, "ToPort": {"22"}, "CidrIp": {"10.0.0.1/33"}}},
		{name: "authorize tcp without ports", code: "InvalidParameterValue", raw: url.Values{"Action": {"AuthorizeSecurityGroupIngress"}, "GroupId": {"{isg}"},
			"IpPermissions.1.IpProtocol": {"tcp"}, "IpPermissions.1.IpRanges.1.CidrIp": {"10.0.0.0/8"}}},
		{name: "authorize port range reversed", code: "InvalidParameterValue", raw: url.Values{"Action": {"AuthorizeSecurityGroupIngress"}, "GroupId": {"{isg}"},
			"IpProtocol": {"tcp"}, "FromPort": {"30"}, "ToPort": {"20"}, "CidrIp": {"10.0.0.0/8"}}},
		{name: "authorize bad protocol", code: "InvalidParameterValue", raw: url.Values{"Action": {"AuthorizeSecurityGroupIngress"}, "GroupId": {"{isg}"},
			"IpProtocol": {"foo"}, "CidrIp": {"10.0.0.0/8"}}},
		{name: "authorize both forms", code: "InvalidParameterCombination", raw: url.Values{"Action": {"AuthorizeSecurityGroupIngress"}, "GroupId": {"{isg}"},
			"IpProtocol": {"tcp"}, "FromPort": {"80"}, "ToPort": {"80"}, "CidrIp": {"10.0.0.0/8"},
			"IpPermissions.1.IpProtocol": {"tcp"}, "IpPermissions.1.FromPort": {"81"}, "IpPermissions.1.ToPort": {"81"}, "IpPermissions.1.IpRanges.1.CidrIp": {"10.0.0.0/8"}}},
		{name: "authorize no peer", code: "InvalidPermission.Malformed", raw: url.Values{"Action": {"AuthorizeSecurityGroupIngress"}, "GroupId": {"{isg}"},
			"IpPermissions.1.IpProtocol": {"tcp"}, "IpPermissions.1.FromPort": {"81"}, "IpPermissions.1.ToPort": {"81"}}},
		{name: "authorize bad description", code: "InvalidParameterValue", raw: url.Values{"Action": {"AuthorizeSecurityGroupIngress"}, "GroupId": {"{isg}"},
			"IpPermissions.1.IpProtocol": {"tcp"}, "IpPermissions.1.FromPort": {"81"}, "IpPermissions.1.ToPort": {"81"},
			"IpPermissions.1.IpRanges.1.CidrIp": {"10.0.0.0/8"}, "IpPermissions.1.IpRanges.1.Description": {"bad <desc>"}}},
		{name: "authorize no rules", code: "MissingParameter", raw: url.Values{"Action": {"AuthorizeSecurityGroupIngress"}, "GroupId": {"{isg}"}}},
		{name: "authorize unknown group", code: "InvalidGroup.NotFound", raw: url.Values{"Action": {"AuthorizeSecurityGroupEgress"}, "GroupId": {"sg-00000000000000fff"},
			"IpProtocol": {"-1"}, "CidrIp": {"10.0.0.0/8"}}},
		{name: "revoke missing rule", code: "InvalidPermission.NotFound", call: func(h *harness, f errorFixture) error {
			_, err := c.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: &f.instanceSG, IpProtocol: aws.String("tcp"), FromPort: aws.Int32(23), ToPort: aws.Int32(23), CidrIp: aws.String("192.0.2.0/24")})
			return err
		}},
		{name: "revoke partly missing", code: "InvalidPermission.NotFound", raw: url.Values{"Action": {"RevokeSecurityGroupIngress"}, "GroupId": {"{isg}"},
			"IpPermissions.1.IpProtocol": {"tcp"}, "IpPermissions.1.FromPort": {"22"}, "IpPermissions.1.ToPort": {"22"},
			"IpPermissions.1.IpRanges.1.CidrIp": {"192.0.2.0/24"}, "IpPermissions.1.IpRanges.2.CidrIp": {"198.51.100.0/24"}}},
		{name: "revoke egress rule as ingress", code: "InvalidPermission.NotFound", raw: url.Values{"Action": {"RevokeSecurityGroupIngress"}, "GroupId": {"{esg}"},
			"IpPermissions.1.IpProtocol": {"tcp"}, "IpPermissions.1.FromPort": {"22"}, "IpPermissions.1.ToPort": {"22"}, "IpPermissions.1.Groups.1.GroupId": {"{isg}"}}},
		{name: "revoke unknown rule id", code: "InvalidSecurityGroupRuleId.NotFound", call: func(h *harness, f errorFixture) error {
			_, err := c.RevokeSecurityGroupEgress(ctx, &ec2.RevokeSecurityGroupEgressInput{GroupId: &f.instanceSG, SecurityGroupRuleIds: []string{"sgr-00000000000000fff"}})
			return err
		}},
		{name: "describe rules malformed", code: "InvalidSecurityGroupRuleId.Malformed", call: func(h *harness, f errorFixture) error {
			_, err := c.DescribeSecurityGroupRules(ctx, &ec2.DescribeSecurityGroupRulesInput{SecurityGroupRuleIds: []string{"sgr-1"}})
			return err
		}},
		// Instances
		{name: "register outside subnet", code: "InvalidParameterValue", raw: url.Values{"Action": {"RegisterInstance"}, "SubnetId": {"{subnet}"}, "PrivateIpAddress": {"10.0.2.10"}}},
		{name: "register not an ip", code: "InvalidParameterValue", raw: url.Values{"Action": {"RegisterInstance"}, "SubnetId": {"{subnet}"}, "PrivateIpAddress": {"server.example"}}},
		{name: "register duplicate ip", code: "InvalidIPAddress.InUse", raw: url.Values{"Action": {"RegisterInstance"}, "SubnetId": {"{subnet}"}, "PrivateIpAddress": {"10.0.1.10"}}},
		{name: "register group other vpc", code: "InvalidParameter", raw: url.Values{"Action": {"RegisterInstance"}, "SubnetId": {"{subnet}"}, "PrivateIpAddress": {"10.0.1.11"}, "SecurityGroupId.1": {"{sg6}"}}},
		{name: "register unknown group", code: "InvalidGroup.NotFound", raw: url.Values{"Action": {"RegisterInstance"}, "SubnetId": {"{subnet}"}, "PrivateIpAddress": {"10.0.1.11"}, "SecurityGroupId.1": {"sg-00000000000000fff"}}},
		{name: "register missing subnet", code: "MissingParameter", raw: url.Values{"Action": {"RegisterInstance"}, "PrivateIpAddress": {"10.0.1.11"}}},
		{name: "register missing ip", code: "MissingParameter", raw: url.Values{"Action": {"RegisterInstance"}, "SubnetId": {"{subnet}"}}},
		{name: "register unknown subnet", code: "InvalidSubnetID.NotFound", raw: url.Values{"Action": {"RegisterInstance"}, "SubnetId": {"subnet-00000000000000fff"}, "PrivateIpAddress": {"10.0.1.11"}}},
		{name: "register ipv6 without subnet ipv6", code: "InvalidParameterValue", raw: url.Values{"Action": {"RegisterInstance"}, "SubnetId": {"{subnet}"}, "PrivateIpAddress": {"10.0.1.11"}, "Ipv6Address": {"2600:1f18:aaaa:bb01::5"}}},
		{name: "register ipv6 outside subnet", code: "InvalidParameterValue", raw: url.Values{"Action": {"RegisterInstance"}, "SubnetId": {"{subnet6}"}, "PrivateIpAddress": {"10.5.1.11"}, "Ipv6Address": {"2600:1f18:aaaa:bb02::5"}}},
		{name: "register bad platform", code: "InvalidParameterValue", raw: url.Values{"Action": {"RegisterInstance"}, "SubnetId": {"{subnet}"}, "PrivateIpAddress": {"10.0.1.11"}, "Platform": {"plan9"}}},
		{name: "deregister unknown", code: "InvalidInstanceID.NotFound", raw: url.Values{"Action": {"DeregisterInstance"}, "InstanceId": {"i-00000000000000fff"}}},
		{name: "describe instance malformed", code: "InvalidInstanceID.Malformed", call: func(h *harness, f errorFixture) error {
			_, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{"i-xyz"}})
			return err
		}},
		{name: "describe instance unknown", code: "InvalidInstanceID.NotFound", call: func(h *harness, f errorFixture) error {
			_, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{"i-00000000000000fff"}})
			return err
		}},
		{name: "describe instances max results", code: "InvalidParameterValue", call: func(h *harness, f errorFixture) error {
			_, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(3)})
			return err
		}},
		{name: "describe instances ids and max", code: "InvalidParameterCombination", call: func(h *harness, f errorFixture) error {
			_, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{f.instance}, MaxResults: aws.Int32(5)})
			return err
		}},
		{name: "describe instances bad token", code: "InvalidPaginationToken", call: func(h *harness, f errorFixture) error {
			_, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{NextToken: aws.String("garbage")})
			return err
		}},
		{name: "modify instance other vpc group", code: "InvalidParameter", call: func(h *harness, f errorFixture) error {
			_, err := c.ModifyInstanceAttribute(ctx, &ec2.ModifyInstanceAttributeInput{InstanceId: &f.instance, Groups: []string{f.sg6}})
			return err
		}},
		{name: "modify instance other attribute", code: "UnsupportedOperation", call: func(h *harness, f errorFixture) error {
			_, err := c.ModifyInstanceAttribute(ctx, &ec2.ModifyInstanceAttributeInput{InstanceId: &f.instance, SourceDestCheck: &types.AttributeBooleanValue{Value: aws.Bool(false)}})
			return err
		}},
		// Tags
		{name: "tag unknown vpc", code: "InvalidVpcID.NotFound", call: func(h *harness, f errorFixture) error {
			_, err := c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{f.vpc, "vpc-00000000000000fff"}, Tags: tags("a", "b")})
			return err
		}},
		{name: "tag unknown endpoint", code: "InvalidInstanceConnectEndpointId.NotFound", call: func(h *harness, f errorFixture) error {
			_, err := c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{"eice-00000000000000fff"}, Tags: tags("a", "b")})
			return err
		}},
		{name: "tag bad id", code: "InvalidID", call: func(h *harness, f errorFixture) error {
			_, err := c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{"ami-123"}, Tags: tags("a", "b")})
			return err
		}},
		{name: "tag missing tags", code: "MissingParameter", raw: url.Values{"Action": {"CreateTags"}, "ResourceId.1": {"{vpc}"}}},
		{name: "delete tags unknown instance", code: "InvalidInstanceID.NotFound", call: func(h *harness, f errorFixture) error {
			_, err := c.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{"i-00000000000000fff"}})
			return err
		}},
		// Endpoints
		{name: "endpoint quota subnet", code: "ResourceLimitExceeded", call: func(h *harness, f errorFixture) error {
			_, err := c.CreateInstanceConnectEndpoint(ctx, &ec2.CreateInstanceConnectEndpointInput{SubnetId: &f.subnet})
			return err
		}},
		{name: "endpoint quota vpc", code: "ResourceLimitExceeded", call: func(h *harness, f errorFixture) error {
			_, err := c.CreateInstanceConnectEndpoint(ctx, &ec2.CreateInstanceConnectEndpointInput{SubnetId: &f.subnet2})
			return err
		}},
		{name: "endpoint unknown subnet", code: "InvalidSubnetID.NotFound", call: func(h *harness, f errorFixture) error {
			_, err := c.CreateInstanceConnectEndpoint(ctx, &ec2.CreateInstanceConnectEndpointInput{SubnetId: aws.String("subnet-00000000000000fff")})
			return err
		}},
		{name: "endpoint malformed subnet", code: "InvalidSubnetID.Malformed", call: func(h *harness, f errorFixture) error {
			_, err := c.CreateInstanceConnectEndpoint(ctx, &ec2.CreateInstanceConnectEndpointInput{SubnetId: aws.String("subnet-nope")})
			return err
		}},
		{name: "endpoint missing subnet", code: "MissingParameter", raw: url.Values{"Action": {"CreateInstanceConnectEndpoint"}}},
		{name: "endpoint group other vpc", code: "InvalidParameter", call: func(h *harness, f errorFixture) error {
			_, err := c.CreateInstanceConnectEndpoint(ctx, &ec2.CreateInstanceConnectEndpointInput{SubnetId: &f.subnet6, SecurityGroupIds: []string{f.endpointSG}})
			return err
		}},
		{name: "endpoint unknown group", code: "InvalidGroup.NotFound", call: func(h *harness, f errorFixture) error {
			_, err := c.CreateInstanceConnectEndpoint(ctx, &ec2.CreateInstanceConnectEndpointInput{SubnetId: &f.subnet6, SecurityGroupIds: []string{"sg-00000000000000fff"}})
			return err
		}},
		{name: "endpoint too many groups", code: "InvalidParameterValue", call: func(h *harness, f errorFixture) error {
			var gs []string
			for i := range 17 {
				gs = append(gs, "sg-"+strings.Repeat("0", 14)+strconv.FormatInt(int64(0x100+i), 16))
			}
			_, err := c.CreateInstanceConnectEndpoint(ctx, &ec2.CreateInstanceConnectEndpointInput{SubnetId: &f.subnet6, SecurityGroupIds: gs})
			return err
		}},
		{name: "endpoint dualstack on ipv4 subnet", code: "InvalidParameterValue", call: func(h *harness, f errorFixture) error {
			_, err := c.CreateInstanceConnectEndpoint(ctx, &ec2.CreateInstanceConnectEndpointInput{SubnetId: &f.subnet2, IpAddressType: types.IpAddressTypeDualstack})
			return err
		}},
		{name: "endpoint preserve ip with dualstack", code: "InvalidParameterCombination", call: func(h *harness, f errorFixture) error {
			_, err := c.CreateInstanceConnectEndpoint(ctx, &ec2.CreateInstanceConnectEndpointInput{SubnetId: &f.subnet6, IpAddressType: types.IpAddressTypeDualstack, PreserveClientIp: aws.Bool(true)})
			return err
		}},
		{name: "endpoint bad ip type", code: "InvalidParameterValue", raw: url.Values{"Action": {"CreateInstanceConnectEndpoint"}, "SubnetId": {"{subnet6}"}, "IpAddressType": {"ipv5"}}},
		{name: "endpoint bad bool", code: "InvalidParameterValue", raw: url.Values{"Action": {"CreateInstanceConnectEndpoint"}, "SubnetId": {"{subnet6}"}, "PreserveClientIp": {"yes"}}},
		{name: "endpoint tag type", code: "InvalidParameterValue", call: func(h *harness, f errorFixture) error {
			_, err := c.CreateInstanceConnectEndpoint(ctx, &ec2.CreateInstanceConnectEndpointInput{SubnetId: &f.subnet6, TagSpecifications: tagSpec(types.ResourceTypeInstance, "a", "b")})
			return err
		}},
		{name: "endpoint long token", code: "InvalidParameterValue", call: func(h *harness, f errorFixture) error {
			_, err := c.CreateInstanceConnectEndpoint(ctx, &ec2.CreateInstanceConnectEndpointInput{SubnetId: &f.subnet6, ClientToken: aws.String(strings.Repeat("x", 65))})
			return err
		}},
		{name: "describe endpoint malformed", code: "InvalidInstanceConnectEndpointId.Malformed", call: func(h *harness, f errorFixture) error {
			_, err := c.DescribeInstanceConnectEndpoints(ctx, &ec2.DescribeInstanceConnectEndpointsInput{InstanceConnectEndpointIds: []string{"eice-!!"}})
			return err
		}},
		{name: "describe endpoint not eice", code: "InvalidInstanceConnectEndpointId.Malformed", call: func(h *harness, f errorFixture) error {
			_, err := c.DescribeInstanceConnectEndpoints(ctx, &ec2.DescribeInstanceConnectEndpointsInput{InstanceConnectEndpointIds: []string{"vpc-00000000000000001"}})
			return err
		}},
		{name: "describe endpoint unknown", code: "InvalidInstanceConnectEndpointId.NotFound", call: func(h *harness, f errorFixture) error {
			_, err := c.DescribeInstanceConnectEndpoints(ctx, &ec2.DescribeInstanceConnectEndpointsInput{InstanceConnectEndpointIds: []string{f.endpoint, "eice-0nope"}})
			return err
		}},
		{name: "describe endpoint max 0", code: "InvalidParameterValue", raw: url.Values{"Action": {"DescribeInstanceConnectEndpoints"}, "MaxResults": {"0"}}},
		{name: "describe endpoint max 51", code: "InvalidParameterValue", call: func(h *harness, f errorFixture) error {
			_, err := c.DescribeInstanceConnectEndpoints(ctx, &ec2.DescribeInstanceConnectEndpointsInput{MaxResults: aws.Int32(51)})
			return err
		}},
		{name: "describe endpoint garbage token", code: "InvalidPaginationToken", call: func(h *harness, f errorFixture) error {
			_, err := c.DescribeInstanceConnectEndpoints(ctx, &ec2.DescribeInstanceConnectEndpointsInput{NextToken: aws.String("wirecap-1")})
			return err
		}},
		{name: "describe endpoint token of another action", code: "InvalidPaginationToken", call: func(h *harness, f errorFixture) error {
			_, err := c.DescribeInstanceConnectEndpoints(ctx, &ec2.DescribeInstanceConnectEndpointsInput{NextToken: aws.String(encodeToken("DescribeVpcs", f.endpoint))})
			return err
		}},
		{name: "describe endpoint bad filter", code: "InvalidParameterValue", call: func(h *harness, f errorFixture) error {
			_, err := c.DescribeInstanceConnectEndpoints(ctx, &ec2.DescribeInstanceConnectEndpointsInput{Filters: []types.Filter{{Name: aws.String("dns-name"), Values: []string{"x"}}}})
			return err
		}},
		{name: "describe endpoint filter limit", code: "FilterLimitExceeded", call: func(h *harness, f errorFixture) error {
			_, err := c.DescribeInstanceConnectEndpoints(ctx, &ec2.DescribeInstanceConnectEndpointsInput{Filters: []types.Filter{
				{Name: aws.String("state"), Values: filterValues(150)}, {Name: aws.String("vpc-id"), Values: filterValues(51)}}})
			return err
		}},
		{name: "delete endpoint malformed", code: "InvalidInstanceConnectEndpointId.Malformed", raw: url.Values{"Action": {"DeleteInstanceConnectEndpoint"}, "InstanceConnectEndpointId": {"eice_1"}}},
		{name: "delete endpoint unknown", code: "InvalidInstanceConnectEndpointId.NotFound", call: func(h *harness, f errorFixture) error {
			_, err := c.DeleteInstanceConnectEndpoint(ctx, &ec2.DeleteInstanceConnectEndpointInput{InstanceConnectEndpointId: aws.String("eice-0nope")})
			return err
		}},
		{name: "modify endpoint nothing", code: "MissingParameter", raw: url.Values{"Action": {"ModifyInstanceConnectEndpoint"}, "InstanceConnectEndpointId": {"{endpoint}"}}},
		{name: "modify endpoint while creating", code: "IncorrectState", call: func(h *harness, f errorFixture) error {
			_, err := c.ModifyInstanceConnectEndpoint(ctx, &ec2.ModifyInstanceConnectEndpointInput{InstanceConnectEndpointId: &f.endpoint, PreserveClientIp: aws.Bool(true)})
			return err
		}},
		{name: "modify endpoint unknown", code: "InvalidInstanceConnectEndpointId.NotFound", call: func(h *harness, f errorFixture) error {
			_, err := c.ModifyInstanceConnectEndpoint(ctx, &ec2.ModifyInstanceConnectEndpointInput{InstanceConnectEndpointId: aws.String("eice-00000000000000fff"), PreserveClientIp: aws.Bool(true)})
			return err
		}},
		{name: "modify endpoint ipv6 on ipv4 subnet", code: "InvalidParameterValue", call: func(h *harness, f errorFixture) error {
			_, err := c.ModifyInstanceConnectEndpoint(ctx, &ec2.ModifyInstanceConnectEndpointInput{InstanceConnectEndpointId: &f.endpoint, IpAddressType: types.IpAddressTypeIpv6})
			return err
		}},
		// Protocol-level
		{name: "unknown action", code: "InvalidAction", raw: url.Values{"Action": {"RunInstances"}}},
		{name: "bad DryRun", code: "InvalidParameterValue", raw: url.Values{"Action": {"DescribeVpcs"}, "DryRun": {"maybe"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := h.snapshot()
			var code string
			var status int
			if tc.raw != nil {
				p := url.Values{}
				for k, vs := range tc.raw {
					for _, v := range vs {
						p.Add(k, sub(v))
					}
				}
				var body string
				status, body = h.raw(h.admin, p)
				code = rawCode(body)
			} else {
				code = apiCode(tc.call(h, f))
				status = h.rec.last(t).status
			}
			if code != tc.code {
				t.Errorf("code = %q, want %q", code, tc.code)
			}
			want := tc.status
			if want == 0 {
				want = http.StatusBadRequest
			}
			if status != want {
				t.Errorf("HTTP status = %d, want %d", status, want)
			}
			if after := h.snapshot(); after != before {
				t.Errorf("the store changed:\n--- before\n%s\n--- after\n%s", before, after)
			}
		})
	}
}
