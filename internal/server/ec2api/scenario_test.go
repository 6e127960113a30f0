package ec2api

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/postern/postern/internal/server/eice"
)

// network is the EC2 Instance Connect Endpoint tutorial's setup: a VPC,
// a subnet, the endpoint's security group and the instance's.
type network struct {
	vpc, subnet, endpointSG, instanceSG string
}

func tags(kv ...string) []types.Tag {
	var out []types.Tag
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, types.Tag{Key: aws.String(kv[i]), Value: aws.String(kv[i+1])})
	}
	return out
}

func tagSpec(rt types.ResourceType, kv ...string) []types.TagSpecification {
	return []types.TagSpecification{{ResourceType: rt, Tags: tags(kv...)}}
}

// newVPC creates a VPC with one subnet through the SDK.
func (h *harness) newVPC(cidr, subnetCidr string) (vpc, subnet string) {
	h.t.Helper()
	ctx := context.Background()
	v, err := h.ec2.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String(cidr)})
	if err != nil {
		h.t.Fatal(err)
	}
	s, err := h.ec2.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: v.Vpc.VpcId, CidrBlock: aws.String(subnetCidr)})
	if err != nil {
		h.t.Fatal(err)
	}
	return *v.Vpc.VpcId, *s.Subnet.SubnetId
}

// tutorialNetwork builds the tutorial's network; with goldens it checks
// every response against testdata.
func (h *harness) tutorialNetwork(goldens bool) network {
	h.t.Helper()
	ctx := context.Background()
	g := func(name string) {
		if goldens {
			h.golden(name)
		}
	}
	var n network
	v, err := h.ec2.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16"), TagSpecifications: tagSpec(types.ResourceTypeVpc, "Name", "tutorial")})
	if err != nil {
		h.t.Fatal(err)
	}
	g("create_vpc")
	n.vpc = *v.Vpc.VpcId
	s, err := h.ec2.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: &n.vpc, CidrBlock: aws.String("10.0.1.0/24"), AvailabilityZone: aws.String("us-east-1a"),
		TagSpecifications: tagSpec(types.ResourceTypeSubnet, "Name", "private")})
	if err != nil {
		h.t.Fatal(err)
	}
	g("create_subnet")
	n.subnet = *s.Subnet.SubnetId
	esg, err := h.ec2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("endpoint-sg"), Description: aws.String("endpoint security group"), VpcId: &n.vpc})
	if err != nil {
		h.t.Fatal(err)
	}
	g("create_security_group")
	n.endpointSG = *esg.GroupId
	isg, err := h.ec2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("instance-sg"), Description: aws.String("instance security group"), VpcId: &n.vpc})
	if err != nil {
		h.t.Fatal(err)
	}
	n.instanceSG = *isg.GroupId
	// Step 3: the endpoint may reach the instance group on port 22.
	_, err = h.ec2.AuthorizeSecurityGroupEgress(ctx, &ec2.AuthorizeSecurityGroupEgressInput{GroupId: &n.endpointSG, IpPermissions: []types.IpPermission{{
		IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22),
		UserIdGroupPairs: []types.UserIdGroupPair{{GroupId: &n.instanceSG}},
	}}})
	if err != nil {
		h.t.Fatal(err)
	}
	g("authorize_egress")
	// Step 4: the instance group admits port 22 from the endpoint group
	// and from an admin network.
	_, err = h.ec2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: &n.instanceSG, IpPermissions: []types.IpPermission{{
		IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22),
		UserIdGroupPairs: []types.UserIdGroupPair{{GroupId: &n.endpointSG, Description: aws.String("from the endpoint")}},
	}}})
	if err != nil {
		h.t.Fatal(err)
	}
	g("authorize_ingress")
	_, err = h.ec2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: &n.instanceSG,
		IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22), CidrIp: aws.String("192.0.2.0/24")})
	if err != nil {
		h.t.Fatal(err)
	}
	g("authorize_ingress_shorthand")
	return n
}

// registerInstance registers a server through a raw signed request.
func (h *harness) registerInstance(c creds, subnet, ip string, groups ...string) (string, int, string) {
	h.t.Helper()
	p := url.Values{"Action": {"RegisterInstance"}, "SubnetId": {subnet}, "PrivateIpAddress": {ip},
		"TagSpecification.1.ResourceType": {"instance"}, "TagSpecification.1.Tag.1.Key": {"Name"}, "TagSpecification.1.Tag.1.Value": {"web-1"}}
	for i, g := range groups {
		p.Set("SecurityGroupId."+itoa32(int32(i+1)), g)
	}
	status, body := h.raw(c, p)
	if status != http.StatusOK {
		return "", status, body
	}
	var out struct {
		Instances struct {
			Items []struct {
				InstanceID string `xml:"instanceId"`
			} `xml:"item"`
		} `xml:"instancesSet"`
	}
	if err := xmlUnmarshal(body, &out); err != nil || len(out.Instances.Items) != 1 {
		h.t.Fatalf("RegisterInstance response: %v\n%s", err, body)
	}
	return out.Instances.Items[0].InstanceID, status, body
}

func TestScenario(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	n := h.tutorialNetwork(true)

	// The groups as the SDK parses them.
	dsg, err := h.ec2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{n.endpointSG, n.instanceSG}})
	if err != nil {
		t.Fatal(err)
	}
	h.golden("describe_security_groups")
	if len(dsg.SecurityGroups) != 2 {
		t.Fatalf("groups = %d", len(dsg.SecurityGroups))
	}
	for _, g := range dsg.SecurityGroups {
		switch *g.GroupId {
		case n.endpointSG:
			// default egress + tcp 22 to the instance group
			if len(g.IpPermissionsEgress) != 2 || len(g.IpPermissions) != 0 {
				t.Errorf("endpoint group permissions: in %d out %d", len(g.IpPermissions), len(g.IpPermissionsEgress))
			}
			p := g.IpPermissionsEgress[1]
			if *p.IpProtocol != "tcp" || *p.FromPort != 22 || len(p.UserIdGroupPairs) != 1 || *p.UserIdGroupPairs[0].GroupId != n.instanceSG || *p.UserIdGroupPairs[0].UserId != testAccount {
				t.Errorf("endpoint egress rule = %+v", p)
			}
		case n.instanceSG:
			if len(g.IpPermissions) != 1 {
				t.Fatalf("instance group ingress = %+v", g.IpPermissions)
			}
			p := g.IpPermissions[0] // one permission: tcp 22 from the group and from the CIDR
			if len(p.UserIdGroupPairs) != 1 || len(p.IpRanges) != 1 || *p.IpRanges[0].CidrIp != "192.0.2.0/24" || *p.UserIdGroupPairs[0].Description != "from the endpoint" {
				t.Errorf("instance ingress = %+v", p)
			}
		}
	}
	rules, err := h.ec2.DescribeSecurityGroupRules(ctx, &ec2.DescribeSecurityGroupRulesInput{Filters: []types.Filter{{Name: aws.String("group-id"), Values: []string{n.instanceSG}}}})
	if err != nil {
		t.Fatal(err)
	}
	h.golden("describe_security_group_rules")
	if len(rules.SecurityGroupRules) != 3 { // default egress + 2 ingress
		t.Errorf("rules = %d", len(rules.SecurityGroupRules))
	}

	// Register the server.
	inst, status, body := h.registerInstance(h.admin, n.subnet, "10.0.1.10", n.instanceSG)
	if status != http.StatusOK {
		t.Fatalf("RegisterInstance: %d %s", status, body)
	}
	h.golden("register_instance")

	// Describe it through the SDK, by id and by every filter.
	di, err := h.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{inst}})
	if err != nil {
		t.Fatal(err)
	}
	h.golden("describe_instances")
	if len(di.Reservations) != 1 || len(di.Reservations[0].Instances) != 1 {
		t.Fatalf("reservations = %+v", di.Reservations)
	}
	got := di.Reservations[0].Instances[0]
	if *got.InstanceId != inst || *got.VpcId != n.vpc || *got.SubnetId != n.subnet || *got.PrivateIpAddress != "10.0.1.10" ||
		got.State.Name != types.InstanceStateNameRunning || *got.State.Code != 16 || *got.Placement.AvailabilityZone != "us-east-1a" ||
		len(got.SecurityGroups) != 1 || *got.SecurityGroups[0].GroupName != "instance-sg" || len(got.Tags) != 1 ||
		*got.PrivateDnsName != "ip-10-0-1-10.ec2.internal" || !got.LaunchTime.Equal(startTime) || got.Platform != "" {
		t.Errorf("instance = %+v", got)
	}
	for _, f := range []types.Filter{
		{Name: aws.String("vpc-id"), Values: []string{n.vpc}},
		{Name: aws.String("subnet-id"), Values: []string{n.subnet}},
		{Name: aws.String("private-ip-address"), Values: []string{"10.0.1.10"}},
		{Name: aws.String("instance-id"), Values: []string{inst}},
		{Name: aws.String("tag:Name"), Values: []string{"web-*"}},
		{Name: aws.String("tag-key"), Values: []string{"Name"}},
		{Name: aws.String("instance-state-name"), Values: []string{"running"}},
		{Name: aws.String("network-interface.addresses.private-ip-address"), Values: []string{"10.0.1.10"}},
	} {
		out, err := h.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []types.Filter{f}})
		if err != nil || len(out.Reservations) != 1 {
			t.Errorf("filter %s: %v, %d reservations", *f.Name, err, len(out.Reservations))
		}
		f.Values = []string{"nope"}
		out, err = h.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []types.Filter{f}})
		if err != nil || len(out.Reservations) != 0 {
			t.Errorf("filter %s=nope: %v, %d reservations", *f.Name, err, len(out.Reservations))
		}
	}

	// Create the endpoint, with tags and a client token.
	createIn := &ec2.CreateInstanceConnectEndpointInput{
		SubnetId: &n.subnet, SecurityGroupIds: []string{n.endpointSG}, ClientToken: aws.String("token-1"),
		TagSpecifications: tagSpec(types.ResourceTypeInstanceConnectEndpoint, "Name", "bastion", "env", "test & dev"),
	}
	ce, err := h.ec2.CreateInstanceConnectEndpoint(ctx, createIn)
	if err != nil {
		t.Fatal(err)
	}
	h.golden("create_endpoint")
	e := ce.InstanceConnectEndpoint
	eid := *e.InstanceConnectEndpointId
	if e.State != types.Ec2InstanceConnectEndpointStateCreateInProgress || *ce.ClientToken != "token-1" || *e.DnsName != testDNSName ||
		*e.FipsDnsName != testDNSName || *e.PreserveClientIp || e.IpAddressType != types.IpAddressTypeIpv4 ||
		*e.VpcId != n.vpc || *e.AvailabilityZoneId != "use1-az1" || !e.CreatedAt.Equal(startTime) ||
		*e.InstanceConnectEndpointArn != "arn:aws:ec2:us-east-1:123456789012:instance-connect-endpoint/"+eid || len(e.Tags) != 2 {
		t.Errorf("endpoint = %+v", e)
	}
	// Same token, same parameters: the same endpoint.
	again, err := h.ec2.CreateInstanceConnectEndpoint(ctx, createIn)
	if err != nil {
		t.Fatal(err)
	}
	if *again.InstanceConnectEndpoint.InstanceConnectEndpointId != eid || *again.ClientToken != "token-1" {
		t.Errorf("replay = %s %s", *again.InstanceConnectEndpoint.InstanceConnectEndpointId, *again.ClientToken)
	}
	// Same token, other parameters.
	other := *createIn
	other.PreserveClientIp = aws.Bool(true)
	_, err = h.ec2.CreateInstanceConnectEndpoint(ctx, &other)
	wantCode(t, err, "IdempotentParameterMismatch")
	h.golden("error_idempotent_mismatch")

	// The agent joins: create-complete.
	if err := h.hooks.AgentJoined(ctx, eid, "eni-0123456789abcdef0"); err != nil {
		t.Fatal(err)
	}
	de, err := h.ec2.DescribeInstanceConnectEndpoints(ctx, &ec2.DescribeInstanceConnectEndpointsInput{InstanceConnectEndpointIds: []string{eid}})
	if err != nil {
		t.Fatal(err)
	}
	h.golden("describe_endpoints")
	if len(de.InstanceConnectEndpoints) != 1 || de.InstanceConnectEndpoints[0].State != types.Ec2InstanceConnectEndpointStateCreateComplete ||
		!slices.Equal(de.InstanceConnectEndpoints[0].NetworkInterfaceIds, []string{"eni-0123456789abcdef0"}) {
		t.Fatalf("describe = %+v", de.InstanceConnectEndpoints)
	}
	// Each filter, matching and not.
	for _, f := range []struct{ name, match string }{
		{"instance-connect-endpoint-id", eid}, {"state", "create-complete"}, {"subnet-id", n.subnet},
		{"vpc-id", n.vpc}, {"tag:Name", "bastion"}, {"tag-key", "env"}, {"tag-value", "test & dev"},
	} {
		for _, v := range []string{f.match, "zzz"} {
			out, err := h.ec2.DescribeInstanceConnectEndpoints(ctx, &ec2.DescribeInstanceConnectEndpointsInput{Filters: []types.Filter{{Name: aws.String(f.name), Values: []string{v}}}})
			want := 1
			if v == "zzz" {
				want = 0
			}
			if err != nil || len(out.InstanceConnectEndpoints) != want {
				t.Errorf("filter %s=%s: %v, %d endpoints", f.name, v, err, len(out.InstanceConnectEndpoints))
			}
		}
	}
	// The CLI's lookup: the four usable states and the VPC.
	out, err := h.ec2.DescribeInstanceConnectEndpoints(ctx, &ec2.DescribeInstanceConnectEndpointsInput{Filters: []types.Filter{
		{Name: aws.String("state"), Values: []string{"create-complete", "update-in-progress", "update-failed", "update-complete"}},
		{Name: aws.String("vpc-id"), Values: []string{n.vpc}},
	}})
	if err != nil || len(out.InstanceConnectEndpoints) != 1 {
		t.Errorf("CLI lookup: %v %d", err, len(out.InstanceConnectEndpoints))
	}

	// Two more VPCs with an endpoint each, then page through all three.
	ids := []string{eid}
	for i, cidr := range []string{"10.1.0.0/16", "10.2.0.0/16"} {
		_, sub := h.newVPC(cidr, cidr[:5]+"1.0/24")
		r, err := h.ec2.CreateInstanceConnectEndpoint(ctx, &ec2.CreateInstanceConnectEndpointInput{SubnetId: &sub, ClientToken: aws.String("token-page-" + itoa32(int32(i)))})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, *r.InstanceConnectEndpoint.InstanceConnectEndpointId)
	}
	pager := ec2.NewDescribeInstanceConnectEndpointsPaginator(h.ec2, &ec2.DescribeInstanceConnectEndpointsInput{}, func(o *ec2.DescribeInstanceConnectEndpointsPaginatorOptions) { o.Limit = 1 })
	var paged []string
	pages := 0
	for pager.HasMorePages() {
		pg, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if pages == 0 {
			h.golden("describe_endpoints_page1")
		}
		pages++
		for _, e := range pg.InstanceConnectEndpoints {
			paged = append(paged, *e.InstanceConnectEndpointId)
		}
	}
	if pages != 3 || !slices.Equal(paged, ids) {
		t.Errorf("paged %d pages %v, want 3 pages %v", pages, paged, ids)
	}

	// Modify: replace the groups.
	mod, err := h.ec2.ModifyInstanceConnectEndpoint(ctx, &ec2.ModifyInstanceConnectEndpointInput{InstanceConnectEndpointId: &eid, SecurityGroupIds: []string{n.endpointSG, n.instanceSG}})
	if err != nil || !*mod.Return {
		t.Fatalf("modify: %v", err)
	}
	h.golden("modify_endpoint")
	de, err = h.ec2.DescribeInstanceConnectEndpoints(ctx, &ec2.DescribeInstanceConnectEndpointsInput{InstanceConnectEndpointIds: []string{eid}})
	if err != nil {
		t.Fatal(err)
	}
	if e := de.InstanceConnectEndpoints[0]; e.State != types.Ec2InstanceConnectEndpointStateUpdateComplete || len(e.SecurityGroupIds) != 2 {
		t.Errorf("after modify: %+v", e)
	}

	// Dry runs change nothing.
	before := h.snapshot()
	_, err = h.ec2.CreateInstanceConnectEndpoint(ctx, &ec2.CreateInstanceConnectEndpointInput{SubnetId: &n.subnet, DryRun: aws.Bool(true), ClientToken: aws.String("dry")})
	wantCode(t, err, "DryRunOperation")
	if h.rec.last(t).status != http.StatusPreconditionFailed {
		t.Errorf("DryRunOperation status = %d", h.rec.last(t).status)
	}
	h.golden("error_dry_run")
	_, err = h.ec2.DeleteInstanceConnectEndpoint(ctx, &ec2.DeleteInstanceConnectEndpointInput{InstanceConnectEndpointId: &eid, DryRun: aws.Bool(true)})
	wantCode(t, err, "DryRunOperation")
	_, err = h.ec2.DescribeInstanceConnectEndpoints(ctx, &ec2.DescribeInstanceConnectEndpointsInput{DryRun: aws.Bool(true)})
	wantCode(t, err, "DryRunOperation")
	_, err = h.ec2.ModifyInstanceConnectEndpoint(ctx, &ec2.ModifyInstanceConnectEndpointInput{InstanceConnectEndpointId: &eid, PreserveClientIp: aws.Bool(true), DryRun: aws.Bool(true)})
	wantCode(t, err, "DryRunOperation")
	if after := h.snapshot(); after != before {
		t.Errorf("dry runs changed the store:\n%s\n%s", before, after)
	}

	// Delete while the agent is connected: delete-in-progress until it leaves.
	del, err := h.ec2.DeleteInstanceConnectEndpoint(ctx, &ec2.DeleteInstanceConnectEndpointInput{InstanceConnectEndpointId: &eid})
	if err != nil {
		t.Fatal(err)
	}
	h.golden("delete_endpoint")
	if del.InstanceConnectEndpoint.State != types.Ec2InstanceConnectEndpointStateDeleteInProgress {
		t.Errorf("delete answer state = %s", del.InstanceConnectEndpoint.State)
	}
	if s := h.endpointState(eid); s != eice.DeleteInProgress {
		t.Errorf("state with agent = %s", s)
	}
	if err := h.hooks.AgentLeft(ctx, eid, "eni-0123456789abcdef0"); err != nil {
		t.Fatal(err)
	}
	if s := h.endpointState(eid); s != eice.DeleteComplete {
		t.Errorf("state after agent left = %s", s)
	}
	_, err = h.ec2.DeleteInstanceConnectEndpoint(ctx, &ec2.DeleteInstanceConnectEndpointInput{InstanceConnectEndpointId: &eid})
	wantCode(t, err, "InvalidInstanceConnectEndpointId.NotFound")
	h.golden("error_delete_twice")

	// Without an agent, delete completes at once; the answer still says
	// delete-in-progress, as AWS's does.
	del, err = h.ec2.DeleteInstanceConnectEndpoint(ctx, &ec2.DeleteInstanceConnectEndpointInput{InstanceConnectEndpointId: &ids[1]})
	if err != nil || del.InstanceConnectEndpoint.State != types.Ec2InstanceConnectEndpointStateDeleteInProgress {
		t.Fatalf("delete: %v %+v", err, del)
	}
	if s := h.endpointState(ids[1]); s != eice.DeleteComplete {
		t.Errorf("state = %s", s)
	}
	// A new endpoint may replace a deleted one in the same VPC.
	if _, err := h.ec2.CreateInstanceConnectEndpoint(ctx, &ec2.CreateInstanceConnectEndpointInput{SubnetId: &n.subnet}); err != nil {
		t.Errorf("create after delete: %v", err)
	}
	// Deleted endpoints stay listed for an hour, then disappear.
	h.clock.Advance(59 * time.Minute)
	if s := h.endpointState(ids[1]); s != eice.DeleteComplete {
		t.Errorf("after 59m: %s", s)
	}
	h.clock.Advance(2 * time.Minute)
	_, err = h.ec2.DescribeInstanceConnectEndpoints(ctx, &ec2.DescribeInstanceConnectEndpointsInput{InstanceConnectEndpointIds: []string{ids[1]}})
	wantCode(t, err, "InvalidInstanceConnectEndpointId.NotFound")
	all, err := h.ec2.DescribeInstanceConnectEndpoints(ctx, &ec2.DescribeInstanceConnectEndpointsInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range all.InstanceConnectEndpoints {
		if *e.InstanceConnectEndpointId == ids[1] || *e.InstanceConnectEndpointId == eid {
			t.Errorf("purged endpoint %s still listed", *e.InstanceConnectEndpointId)
		}
	}
	if tagsLeft, _ := h.st.ListTags(ctx, []string{eid}); len(tagsLeft[eid]) != 0 {
		t.Errorf("tags of purged endpoint remain: %v", tagsLeft)
	}
}

// endpointState describes one endpoint through the SDK and returns its state.
func (h *harness) endpointState(id string) string {
	h.t.Helper()
	out, err := h.ec2.DescribeInstanceConnectEndpoints(context.Background(), &ec2.DescribeInstanceConnectEndpointsInput{InstanceConnectEndpointIds: []string{id}})
	if err != nil {
		h.t.Fatal(err)
	}
	return string(out.InstanceConnectEndpoints[0].State)
}
