package ec2api

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/postern/postern/internal/server/eice"
	"github.com/postern/postern/internal/server/endpoints"
	"github.com/postern/postern/internal/store"
)

func filter(name string, values ...string) types.Filter {
	return types.Filter{Name: aws.String(name), Values: values}
}

func TestVpcsAndSubnets(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	c := h.ec2
	v, err := c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.10.0.0/16"), Ipv6CidrBlock: aws.String("2600:1f18:aaaa:bb00::/56"),
		AmazonProvidedIpv6CidrBlock: aws.Bool(true), TagSpecifications: tagSpec(types.ResourceTypeVpc, "Name", "dual")})
	if err != nil {
		t.Fatal(err)
	}
	vpc := *v.Vpc.VpcId
	if len(v.Vpc.Ipv6CidrBlockAssociationSet) != 1 || *v.Vpc.Ipv6CidrBlockAssociationSet[0].Ipv6CidrBlock != "2600:1f18:aaaa:bb00::/56" ||
		len(v.Vpc.CidrBlockAssociationSet) != 1 || v.Vpc.State != types.VpcStateAvailable || *v.Vpc.IsDefault {
		t.Errorf("vpc = %+v", v.Vpc)
	}
	// The default group: all in from itself, all out to 0.0.0.0/0 and ::/0.
	g, err := c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []types.Filter{filter("vpc-id", vpc), filter("group-name", "default")}})
	if err != nil || len(g.SecurityGroups) != 1 {
		t.Fatalf("default group: %v %+v", err, g)
	}
	def := g.SecurityGroups[0]
	if *def.Description != "default VPC security group" || len(def.IpPermissions) != 1 || *def.IpPermissions[0].IpProtocol != "-1" ||
		*def.IpPermissions[0].UserIdGroupPairs[0].GroupId != *def.GroupId || len(def.IpPermissionsEgress) != 1 ||
		len(def.IpPermissionsEgress[0].IpRanges) != 1 || len(def.IpPermissionsEgress[0].Ipv6Ranges) != 1 ||
		*def.IpPermissionsEgress[0].Ipv6Ranges[0].CidrIpv6 != "::/0" || def.IpPermissions[0].FromPort != nil {
		t.Errorf("default group = %+v", def)
	}
	// More VPCs, for filters and paging.
	for _, cidr := range []string{"10.11.0.0/16", "10.12.0.0/16", "10.13.0.0/16", "10.14.0.0/16", "10.15.0.0/16"} {
		if _, err := c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String(cidr)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		f    types.Filter
		want int
	}{
		{filter("cidr", "10.10.0.0/16"), 1},
		{filter("cidr-block-association.cidr-block", "10.1*"), 6},
		{filter("tag:Name", "dual"), 1},
		{filter("tag-key", "Name"), 1},
		{filter("is-default", "false"), 6},
		{filter("is-default", "true"), 0},
		{filter("state", "available"), 6},
		{filter("ipv6-cidr-block-association.ipv6-cidr-block", "2600:1f18:aaaa:bb00::/56"), 1},
		{filter("owner-id", testAccount), 6},
	} {
		out, err := c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: []types.Filter{tc.f}})
		if err != nil || len(out.Vpcs) != tc.want {
			t.Errorf("filter %s: %v, %d vpcs, want %d", *tc.f.Name, err, len(out.Vpcs), tc.want)
		}
	}
	pager := ec2.NewDescribeVpcsPaginator(c, &ec2.DescribeVpcsInput{}, func(o *ec2.DescribeVpcsPaginatorOptions) { o.Limit = 5 })
	var n, pages int
	for pager.HasMorePages() {
		out, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n += len(out.Vpcs)
		pages++
	}
	if n != 6 || pages != 2 {
		t.Errorf("paged %d vpcs in %d pages", n, pages)
	}

	// Subnets: dual-stack, by zone id, and IPv6-only.
	dual, err := c.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: &vpc, CidrBlock: aws.String("10.10.1.0/24"), Ipv6CidrBlock: aws.String("2600:1f18:aaaa:bb01::/64"), AvailabilityZoneId: aws.String("use1-az3")})
	if err != nil {
		t.Fatal(err)
	}
	if *dual.Subnet.AvailabilityZone != "us-east-1c" || len(dual.Subnet.Ipv6CidrBlockAssociationSet) != 1 || *dual.Subnet.AvailableIpAddressCount != 251 {
		t.Errorf("dual subnet = %+v", dual.Subnet)
	}
	v6only, err := c.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: &vpc, Ipv6Native: aws.Bool(true), Ipv6CidrBlock: aws.String("2600:1f18:aaaa:bb02::/64")})
	if err != nil {
		t.Fatal(err)
	}
	if !*v6only.Subnet.Ipv6Native || v6only.Subnet.CidrBlock != nil {
		t.Errorf("ipv6-only subnet = %+v", v6only.Subnet)
	}
	for _, tc := range []struct {
		f    types.Filter
		want int
	}{
		{filter("vpc-id", vpc), 2},
		{filter("availability-zone", "us-east-1c"), 1},
		{filter("availability-zone-id", "use1-az1"), 1},
		{filter("cidr-block", "10.10.1.0/24"), 1},
		{filter("ipv6-native", "true"), 1},
		{filter("subnet-id", *dual.Subnet.SubnetId), 1},
		{filter("ipv6-cidr-block-association.ipv6-cidr-block", "2600:1f18:aaaa:bb0?::/64"), 2},
	} {
		out, err := c.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []types.Filter{tc.f}})
		if err != nil || len(out.Subnets) != tc.want {
			t.Errorf("subnet filter %s: %v, %d subnets, want %d", *tc.f.Name, err, len(out.Subnets), tc.want)
		}
	}
	// Endpoint address types follow the subnet.
	for _, tc := range []struct {
		subnet   string
		preserve *bool
		want     types.IpAddressType
	}{
		{*dual.Subnet.SubnetId, nil, types.IpAddressTypeDualstack},
		{*v6only.Subnet.SubnetId, nil, types.IpAddressTypeIpv6},
	} {
		e, err := c.CreateInstanceConnectEndpoint(ctx, &ec2.CreateInstanceConnectEndpointInput{SubnetId: &tc.subnet, PreserveClientIp: tc.preserve})
		if err != nil {
			t.Fatal(err)
		}
		if e.InstanceConnectEndpoint.IpAddressType != tc.want {
			t.Errorf("ip address type = %s, want %s", e.InstanceConnectEndpoint.IpAddressType, tc.want)
		}
		if _, err := c.DeleteInstanceConnectEndpoint(ctx, &ec2.DeleteInstanceConnectEndpointInput{InstanceConnectEndpointId: e.InstanceConnectEndpoint.InstanceConnectEndpointId}); err != nil {
			t.Fatal(err)
		}
	}
	// Client IP preservation picks ipv4 on a dual-stack subnet.
	e, err := c.CreateInstanceConnectEndpoint(ctx, &ec2.CreateInstanceConnectEndpointInput{SubnetId: dual.Subnet.SubnetId, PreserveClientIp: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if e.InstanceConnectEndpoint.IpAddressType != types.IpAddressTypeIpv4 || !*e.InstanceConnectEndpoint.PreserveClientIp {
		t.Errorf("preserve: %+v", e.InstanceConnectEndpoint)
	}
	if _, err := c.DeleteInstanceConnectEndpoint(ctx, &ec2.DeleteInstanceConnectEndpointInput{InstanceConnectEndpointId: e.InstanceConnectEndpoint.InstanceConnectEndpointId}); err != nil {
		t.Fatal(err)
	}

	// Tear down: deleted endpoints do not hold their subnets.
	for _, s := range []string{*dual.Subnet.SubnetId, *v6only.Subnet.SubnetId} {
		if _, err := c.DeleteSubnet(ctx, &ec2.DeleteSubnetInput{SubnetId: &s}); err != nil {
			t.Fatalf("delete subnet %s: %v", s, err)
		}
	}
	if _, err := c.DeleteVpc(ctx, &ec2.DeleteVpcInput{VpcId: &vpc}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{VpcIds: []string{vpc}})
	wantCode(t, err, "InvalidVpcID.NotFound")
	_, err = c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{*def.GroupId}})
	wantCode(t, err, "InvalidGroup.NotFound")
	left, err := h.st.ListTags(ctx, []string{vpc})
	if err != nil || len(left[vpc]) != 0 {
		t.Errorf("tags of the deleted vpc: %v %v", left, err)
	}
}

func TestSecurityGroupRulesAndInstances(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	c := h.ec2
	n := h.tutorialNetwork(false)

	// The AWS CLI's --source-group with a group name.
	_, body := h.raw(h.admin, url.Values{"Action": {"AuthorizeSecurityGroupIngress"}, "GroupId": {n.endpointSG},
		"IpPermissions.1.IpProtocol": {"tcp"}, "IpPermissions.1.FromPort": {"443"}, "IpPermissions.1.ToPort": {"443"},
		"IpPermissions.1.Groups.1.GroupName": {"instance-sg"}, "IpPermissions.1.Groups.1.UserId": {testAccount}})
	if code := rawCode(body); code != "" {
		t.Fatalf("authorize by group name: %s", body)
	}
	// By the group's name instead of its id.
	if _, err := c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupName: aws.String("endpoint-sg"),
		IpPermissions: []types.IpPermission{{IpProtocol: aws.String("icmp"), FromPort: aws.Int32(8), ToPort: aws.Int32(-1), IpRanges: []types.IpRange{{CidrIp: aws.String("10.0.0.0/8")}}}}}); err != nil {
		t.Fatal(err)
	}
	rules, err := c.DescribeSecurityGroupRules(ctx, &ec2.DescribeSecurityGroupRulesInput{Filters: []types.Filter{filter("group-id", n.endpointSG)}})
	if err != nil {
		t.Fatal(err)
	}
	var https, icmp *types.SecurityGroupRule
	for i, r := range rules.SecurityGroupRules {
		switch {
		case *r.IpProtocol == "tcp" && *r.FromPort == 443:
			https = &rules.SecurityGroupRules[i]
		case *r.IpProtocol == "icmp":
			icmp = &rules.SecurityGroupRules[i]
		}
	}
	if https == nil || *https.ReferencedGroupInfo.GroupId != n.instanceSG || *https.IsEgress || icmp == nil || *icmp.FromPort != 8 || *icmp.ToPort != -1 {
		t.Fatalf("rules = %+v", rules.SecurityGroupRules)
	}
	// Revoke one by id and one by description of the rule.
	rv, err := c.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: &n.endpointSG, SecurityGroupRuleIds: []string{*https.SecurityGroupRuleId}})
	if err != nil || !*rv.Return || len(rv.RevokedSecurityGroupRules) != 1 {
		t.Fatalf("revoke by id: %v %+v", err, rv)
	}
	if _, err := c.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: &n.endpointSG,
		IpPermissions: []types.IpPermission{{IpProtocol: aws.String("1"), FromPort: aws.Int32(8), ToPort: aws.Int32(-1), IpRanges: []types.IpRange{{CidrIp: aws.String("10.0.0.0/8")}}}}}); err != nil {
		t.Fatal(err)
	}
	// Egress by the top-level form, as the AWS CLI's --cidr-ip does.
	if _, err := c.AuthorizeSecurityGroupEgress(ctx, &ec2.AuthorizeSecurityGroupEgressInput{GroupId: &n.instanceSG, IpProtocol: aws.String("udp"), FromPort: aws.Int32(53), ToPort: aws.Int32(53), CidrIp: aws.String("10.0.0.2/32")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RevokeSecurityGroupEgress(ctx, &ec2.RevokeSecurityGroupEgressInput{GroupId: &n.instanceSG, IpProtocol: aws.String("udp"), FromPort: aws.Int32(53), ToPort: aws.Int32(53), CidrIp: aws.String("10.0.0.2/32")}); err != nil {
		t.Fatal(err)
	}

	// A Windows server with an IPv6 address in a dual-stack subnet.
	v6, err := c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.5.0.0/16"), Ipv6CidrBlock: aws.String("2600:1f18:aaaa:bb00::/56")})
	if err != nil {
		t.Fatal(err)
	}
	s6, err := c.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: v6.Vpc.VpcId, CidrBlock: aws.String("10.5.1.0/24"), Ipv6CidrBlock: aws.String("2600:1f18:aaaa:bb01::/64")})
	if err != nil {
		t.Fatal(err)
	}
	var reg reservationXML
	h.rawOK(h.admin, url.Values{"Action": {"RegisterInstance"}, "SubnetId": {*s6.Subnet.SubnetId}, "PrivateIpAddress": {"10.5.1.20"},
		"Ipv6Address": {"2600:1F18:AAAA:BB01::20"}, "Platform": {"Windows"}}, &reg)
	win := reg.InstancesSet.Items[0].InstanceID
	out, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{win}})
	if err != nil {
		t.Fatal(err)
	}
	wi := out.Reservations[0].Instances[0]
	if wi.Platform != "windows" || *wi.Ipv6Address != "2600:1f18:aaaa:bb01::20" || len(wi.SecurityGroups) != 1 || *wi.SecurityGroups[0].GroupName != "default" {
		t.Errorf("windows instance: platform %s ipv6 %s groups %s", wi.Platform, aws.ToString(wi.Ipv6Address), aws.ToString(wi.SecurityGroups[0].GroupName))
	}

	// Replace the Linux server's groups.
	lin, status, body := h.registerInstance(h.admin, n.subnet, "10.0.1.10", n.instanceSG)
	if status != http.StatusOK {
		t.Fatal(body)
	}
	if _, err := c.ModifyInstanceAttribute(ctx, &ec2.ModifyInstanceAttributeInput{InstanceId: &lin, Groups: []string{n.endpointSG}}); err != nil {
		t.Fatal(err)
	}
	out, err = c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []types.Filter{filter("instance.group-name", "endpoint-sg")}})
	if err != nil || len(out.Reservations) != 1 || *out.Reservations[0].Instances[0].InstanceId != lin {
		t.Fatalf("after modify: %v %+v", err, out)
	}
	// Paging instances.
	pager := ec2.NewDescribeInstancesPaginator(c, &ec2.DescribeInstancesInput{}, func(o *ec2.DescribeInstancesPaginatorOptions) { o.Limit = 5 })
	count := 0
	for pager.HasMorePages() {
		pg, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		count += len(pg.Reservations)
	}
	if count != 2 {
		t.Errorf("paged %d instances", count)
	}
	// The instance group is now only referenced by the endpoint group's
	// egress rule.
	_, err = c.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: &n.instanceSG})
	wantCode(t, err, "DependencyViolation")
	if _, err := c.RevokeSecurityGroupEgress(ctx, &ec2.RevokeSecurityGroupEgressInput{GroupId: &n.endpointSG, IpPermissions: []types.IpPermission{{
		IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22), UserIdGroupPairs: []types.UserIdGroupPair{{GroupId: &n.instanceSG}}}}}); err != nil {
		t.Fatal(err)
	}
	del, err := c.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupName: aws.String("instance-sg")})
	if err != nil || *del.GroupId != n.instanceSG {
		t.Fatalf("delete group by name: %v", err)
	}

	// Deregister.
	h.rawOK(h.admin, url.Values{"Action": {"DeregisterInstance"}, "InstanceId": {lin}}, nil)
	_, err = c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{lin}})
	wantCode(t, err, "InvalidInstanceID.NotFound")
	if left, _ := h.st.ListTags(ctx, []string{lin}); len(left[lin]) != 0 {
		t.Errorf("tags of the deregistered instance: %v", left)
	}
}

func TestTags(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	c := h.ec2
	n := h.tutorialNetwork(false)
	e, err := c.CreateInstanceConnectEndpoint(ctx, &ec2.CreateInstanceConnectEndpointInput{SubnetId: &n.subnet})
	if err != nil {
		t.Fatal(err)
	}
	eid := *e.InstanceConnectEndpoint.InstanceConnectEndpointId
	all := []string{n.vpc, n.subnet, n.endpointSG, eid}
	if _, err := c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: all, Tags: tags("team", "blue", "empty", "")}); err != nil {
		t.Fatal(err)
	}
	h.golden("create_tags")
	// Overwrite one value.
	if _, err := c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{eid}, Tags: tags("team", "red")}); err != nil {
		t.Fatal(err)
	}
	dt, err := c.DescribeTags(ctx, &ec2.DescribeTagsInput{Filters: []types.Filter{filter("resource-id", eid)}})
	if err != nil {
		t.Fatal(err)
	}
	h.golden("describe_tags")
	if len(dt.Tags) != 2 || dt.Tags[1].ResourceType != types.ResourceTypeInstanceConnectEndpoint || *dt.Tags[1].Value != "red" {
		t.Errorf("endpoint tags = %+v", dt.Tags)
	}
	for _, tc := range []struct {
		f    types.Filter
		want int
	}{
		{filter("key", "team"), 4},
		{filter("value", "blue"), 3},
		{filter("resource-type", "vpc", "subnet"), 6}, // team, empty and Name on each
		{filter("resource-type", "security-group"), 2},
	} {
		out, err := c.DescribeTags(ctx, &ec2.DescribeTagsInput{Filters: []types.Filter{tc.f}})
		if err != nil || len(out.Tags) != tc.want {
			t.Errorf("tag filter %s=%v: %v, %d tags, want %d", *tc.f.Name, tc.f.Values, err, len(out.Tags), tc.want)
		}
	}
	pager := ec2.NewDescribeTagsPaginator(c, &ec2.DescribeTagsInput{}, func(o *ec2.DescribeTagsPaginatorOptions) { o.Limit = 5 })
	var seen []string
	for pager.HasMorePages() {
		pg, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, tg := range pg.Tags {
			seen = append(seen, *tg.ResourceId+"/"+*tg.Key)
		}
	}
	if len(seen) != 10 || !slices.IsSorted(seen) {
		t.Errorf("paged tags = %v", seen)
	}
	// DeleteTags: a value that does not match keeps the tag; a key alone
	// deletes it; an empty value deletes only an empty tag.
	if _, err := c.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{eid}, Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("blue")}}}); err != nil {
		t.Fatal(err)
	}
	if got := h.tagsOf(eid); len(got) != 2 {
		t.Errorf("after non-matching delete: %v", got)
	}
	if _, err := c.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{eid}, Tags: []types.Tag{{Key: aws.String("team")}, {Key: aws.String("empty"), Value: aws.String("")}}}); err != nil {
		t.Fatal(err)
	}
	if got := h.tagsOf(eid); len(got) != 0 {
		t.Errorf("after delete: %v", got)
	}
	// No Tag.N: every tag goes.
	if _, err := c.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{n.vpc}}); err != nil {
		t.Fatal(err)
	}
	if got := h.tagsOf(n.vpc); len(got) != 0 {
		t.Errorf("vpc tags after delete all: %v", got)
	}
}

func (h *harness) tagsOf(id string) []store.Tag {
	h.t.Helper()
	m, err := h.st.ListTags(context.Background(), []string{id})
	if err != nil {
		h.t.Fatal(err)
	}
	return m[id]
}

func TestEndpointHooks(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	n := h.tutorialNetwork(false)
	if err := h.hooks.AgentJoined(ctx, "eice-00000000000000fff", "eni-1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown endpoint: %v", err)
	}
	e, err := h.ec2.CreateInstanceConnectEndpoint(ctx, &ec2.CreateInstanceConnectEndpointInput{SubnetId: &n.subnet})
	if err != nil {
		t.Fatal(err)
	}
	id := *e.InstanceConnectEndpoint.InstanceConnectEndpointId
	get := func() store.Endpoint {
		t.Helper()
		e, err := h.st.GetEndpoint(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	for _, eni := range []string{"eni-1", "eni-1", "eni-2"} {
		if err := h.hooks.AgentJoined(ctx, id, eni); err != nil {
			t.Fatal(err)
		}
	}
	if e := get(); e.State != eice.CreateComplete || !slices.Equal(e.NetworkInterfaceIDs, []string{"eni-1", "eni-2"}) {
		t.Errorf("after joins: %s %v", e.State, e.NetworkInterfaceIDs)
	}
	if err := h.hooks.AgentLeft(ctx, id, "eni-1"); err != nil {
		t.Fatal(err)
	}
	if err := h.hooks.AgentLeft(ctx, id, "eni-1"); err != nil {
		t.Errorf("leaving twice: %v", err)
	}
	if e := get(); e.State != eice.CreateComplete || !slices.Equal(e.NetworkInterfaceIDs, []string{"eni-2"}) {
		t.Errorf("after leave: %s %v", e.State, e.NetworkInterfaceIDs)
	}
	if err := h.hooks.SetState(ctx, id, eice.CreateFailed, "x"); !errors.Is(err, endpoints.ErrInvalidTransition) {
		t.Errorf("create-complete → create-failed: %v", err)
	}
	if err := h.hooks.AgentJoined(ctx, id, ""); err == nil {
		t.Error("empty eni accepted")
	}
	// Delete with an agent connected, then the agents leave.
	if err := h.hooks.AgentJoined(ctx, id, "eni-3"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.ec2.DeleteInstanceConnectEndpoint(ctx, &ec2.DeleteInstanceConnectEndpointInput{InstanceConnectEndpointId: &id}); err != nil {
		t.Fatal(err)
	}
	// Deleting again while in progress answers with the endpoint.
	again, err := h.ec2.DeleteInstanceConnectEndpoint(ctx, &ec2.DeleteInstanceConnectEndpointInput{InstanceConnectEndpointId: &id})
	if err != nil || again.InstanceConnectEndpoint.State != types.Ec2InstanceConnectEndpointStateDeleteInProgress {
		t.Errorf("second delete: %v", err)
	}
	if err := h.hooks.AgentJoined(ctx, id, "eni-4"); !errors.Is(err, endpoints.ErrInvalidTransition) {
		t.Errorf("join while deleting: %v", err)
	}
	_, err = h.ec2.ModifyInstanceConnectEndpoint(ctx, &ec2.ModifyInstanceConnectEndpointInput{InstanceConnectEndpointId: &id, PreserveClientIp: aws.Bool(true)})
	wantCode(t, err, "IncorrectState")
	if err := h.hooks.AgentLeft(ctx, id, "eni-2"); err != nil {
		t.Fatal(err)
	}
	if e := get(); e.State != eice.DeleteInProgress {
		t.Errorf("one agent left: %s", e.State)
	}
	if err := h.hooks.AgentLeft(ctx, id, "eni-3"); err != nil {
		t.Fatal(err)
	}
	if e := get(); e.State != eice.DeleteComplete || e.DeletedAt.IsZero() {
		t.Errorf("all agents left: %s %v", e.State, e.DeletedAt)
	}

	// A failed creation: its message shows, only delete is possible.
	e2, err := h.ec2.CreateInstanceConnectEndpoint(ctx, &ec2.CreateInstanceConnectEndpointInput{SubnetId: &n.subnet})
	if err != nil {
		t.Fatal(err)
	}
	id2 := *e2.InstanceConnectEndpoint.InstanceConnectEndpointId
	if err := h.hooks.SetState(ctx, id2, eice.CreateFailed, "no agent came"); err != nil {
		t.Fatal(err)
	}
	d, err := h.ec2.DescribeInstanceConnectEndpoints(ctx, &ec2.DescribeInstanceConnectEndpointsInput{InstanceConnectEndpointIds: []string{id2}})
	if err != nil || *d.InstanceConnectEndpoints[0].StateMessage != "no agent came" {
		t.Errorf("state message: %v", err)
	}
	if err := h.hooks.AgentJoined(ctx, id2, "eni-5"); !errors.Is(err, endpoints.ErrInvalidTransition) {
		t.Errorf("join failed endpoint: %v", err)
	}
	if _, err := h.ec2.DeleteInstanceConnectEndpoint(ctx, &ec2.DeleteInstanceConnectEndpointInput{InstanceConnectEndpointId: &id2}); err != nil {
		t.Fatal(err)
	}
	if e := h.endpointState(id2); e != eice.DeleteComplete {
		t.Errorf("failed endpoint after delete: %s", e)
	}
}

func TestConcurrentCreates(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	n := h.tutorialNetwork(false)
	const workers = 8
	// createAll has workers callers create an endpoint in subnet at once,
	// caller i with the client token token(i), and counts the error codes
	// and the endpoints they got.
	createAll := func(subnet string, token func(i int) string) (codes map[string]int, ids map[string]bool) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		codes, ids = map[string]int{}, map[string]bool{}
		for i := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out, err := h.ec2.CreateInstanceConnectEndpoint(ctx, &ec2.CreateInstanceConnectEndpointInput{SubnetId: &subnet, ClientToken: aws.String(token(i))})
				mu.Lock()
				defer mu.Unlock()
				codes[apiCode(err)]++
				if err == nil {
					ids[*out.InstanceConnectEndpoint.InstanceConnectEndpointId] = true
				}
			}()
		}
		wg.Wait()
		return codes, ids
	}
	// Different tokens: one wins, the others hit the quota.
	codes, ids := createAll(n.subnet, func(i int) string { return "tok-" + itoa32(int32(i)) })
	if codes[""] != 1 || codes["ResourceLimitExceeded"] != workers-1 || len(ids) != 1 {
		t.Errorf("codes = %v", codes)
	}
	// One token: every caller gets the same endpoint.
	_, sub := h.newVPC("10.8.0.0/16", "10.8.1.0/24")
	codes, ids = createAll(sub, func(int) string { return "same" })
	if codes[""] != workers || len(ids) != 1 {
		t.Errorf("same token: codes %v ids %v", codes, ids)
	}
}

func TestQuotaSettings(t *testing.T) {
	h := newHarness(t, withQuotas(-1, 1))
	ctx := context.Background()
	vpc, s1 := h.newVPC("10.0.0.0/16", "10.0.1.0/24")
	s2, err := h.ec2.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: &vpc, CidrBlock: aws.String("10.0.2.0/24")})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{s1, *s2.Subnet.SubnetId} {
		if _, err := h.ec2.CreateInstanceConnectEndpoint(ctx, &ec2.CreateInstanceConnectEndpointInput{SubnetId: &s}); err != nil {
			t.Errorf("unlimited per VPC: %v", err)
		}
	}
	_, err = h.ec2.CreateInstanceConnectEndpoint(ctx, &ec2.CreateInstanceConnectEndpointInput{SubnetId: &s1})
	wantCode(t, err, "ResourceLimitExceeded")
	h.golden("error_quota")
	az, err := h.ec2.DescribeAvailabilityZones(ctx, &ec2.DescribeAvailabilityZonesInput{Filters: []types.Filter{filter("zone-id", "use1-az2")}})
	if err != nil || len(az.AvailabilityZones) != 1 || *az.AvailabilityZones[0].ZoneName != "us-east-1b" {
		t.Errorf("zones: %v %+v", err, az)
	}
}
