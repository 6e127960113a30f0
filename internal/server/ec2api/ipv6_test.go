package ec2api

import (
	"context"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// withIPv6Pool sets the pool of AmazonProvidedIpv6CidrBlock.
func withIPv6Pool(p string) harnessOption {
	return func(c *Config) { c.IPv6Pool = netip.MustParsePrefix(p) }
}

var assocIDRe = regexp.MustCompile(`^(vpc|subnet)-cidr-assoc-[0-9a-f]{17}$`)

// egressCIDRs lists a group's egress rules' CIDRs (IPv4 and IPv6).
func egressCIDRs(t *testing.T, c *ec2.Client, groupID string) []string {
	t.Helper()
	out, err := c.DescribeSecurityGroups(context.Background(), &ec2.DescribeSecurityGroupsInput{GroupIds: []string{groupID}})
	if err != nil || len(out.SecurityGroups) != 1 {
		t.Fatalf("describe %s: %v", groupID, err)
	}
	var cidrs []string
	for _, p := range out.SecurityGroups[0].IpPermissionsEgress {
		for _, r := range p.IpRanges {
			cidrs = append(cidrs, *r.CidrIp)
		}
		for _, r := range p.Ipv6Ranges {
			cidrs = append(cidrs, *r.CidrIpv6)
		}
	}
	return cidrs
}

func sameSet(a []string, b ...string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]int{}
	for _, x := range a {
		m[x]++
	}
	for _, x := range b {
		m[x]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return true
}

// TestAmazonProvidedIPv6 covers CreateVpc's AmazonProvidedIpv6CidrBlock: a
// /56 of the pool (the default fd00::/8, or the configured one), distinct
// per VPC, shown with an association id and state; the default group and
// new groups allow ::/0 out; a full pool answers InsufficientCidrBlocks
// and leaves nothing behind.
func TestAmazonProvidedIPv6(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, pool string
		blocks     int // /56 blocks in the pool; 0 for "many"
	}{
		{"default pool", "", 0},
		{"configured /54", "fd12:3456:7800::/54", 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opts []harnessOption
			pool := DefaultIPv6Pool
			if tc.pool != "" {
				opts = append(opts, withIPv6Pool(tc.pool))
				pool = netip.MustParsePrefix(tc.pool)
			}
			h := newHarness(t, opts...)
			c := h.ec2
			n := 3
			if tc.blocks > 0 {
				n = tc.blocks
			}
			seen := map[string]bool{}
			for i := range n {
				v, err := c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16"), AmazonProvidedIpv6CidrBlock: aws.Bool(true)})
				if err != nil {
					t.Fatalf("vpc %d: %v", i, err)
				}
				set := v.Vpc.Ipv6CidrBlockAssociationSet
				if len(set) != 1 {
					t.Fatalf("vpc %d: association set %+v", i, set)
				}
				a := set[0]
				block := netip.MustParsePrefix(*a.Ipv6CidrBlock)
				if block.Bits() != 56 || !pool.Contains(block.Addr()) || block.Masked() != block || seen[block.String()] {
					t.Errorf("vpc %d: block %s, want a new /56 of %s", i, block, pool)
				}
				seen[block.String()] = true
				if a.Ipv6CidrBlockState.State != types.VpcCidrBlockStateCodeAssociated || !assocIDRe.MatchString(*a.AssociationId) || *a.NetworkBorderGroup != testRegion {
					t.Errorf("vpc %d: association %+v", i, a)
				}
				// Described alike, and found by the association filters.
				d, err := c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: []types.Filter{
					filter("ipv6-cidr-block-association.association-id", *a.AssociationId),
					filter("ipv6-cidr-block-association.state", "associated")}})
				if err != nil || len(d.Vpcs) != 1 || *d.Vpcs[0].Ipv6CidrBlockAssociationSet[0].Ipv6CidrBlock != block.String() {
					t.Errorf("vpc %d: describe by association: %v %+v", i, err, d)
				}
				// The default group and a new group allow all out, IPv4 and IPv6.
				g, err := c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []types.Filter{filter("vpc-id", *v.Vpc.VpcId), filter("group-name", "default")}})
				if err != nil || len(g.SecurityGroups) != 1 {
					t.Fatalf("default group: %v", err)
				}
				if got := egressCIDRs(t, c, *g.SecurityGroups[0].GroupId); !sameSet(got, "0.0.0.0/0", "::/0") {
					t.Errorf("default group egress %v, want 0.0.0.0/0 and ::/0", got)
				}
				sg, err := c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{VpcId: v.Vpc.VpcId, GroupName: aws.String("web"), Description: aws.String("web")})
				if err != nil {
					t.Fatal(err)
				}
				if got := egressCIDRs(t, c, *sg.GroupId); !sameSet(got, "0.0.0.0/0", "::/0") {
					t.Errorf("new group egress %v, want 0.0.0.0/0 and ::/0", got)
				}
			}
			if tc.blocks == 0 {
				return
			}
			// The pool is used up: refused, nothing written.
			before := h.snapshot()
			_, err := c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16"), AmazonProvidedIpv6CidrBlock: aws.Bool(true)})
			wantCode(t, err, "InsufficientCidrBlocks")
			if after := h.snapshot(); after != before {
				t.Errorf("a refused CreateVpc changed the store:\n%s\n---\n%s", before, after)
			}
			// A VPC without IPv6 is still fine, and its groups allow IPv4 out only.
			v, err := c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.1.0.0/16")})
			if err != nil || v.Vpc.Ipv6CidrBlockAssociationSet != nil {
				t.Fatalf("vpc without ipv6: %v %+v", err, v)
			}
			sg, err := c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{VpcId: v.Vpc.VpcId, GroupName: aws.String("web"), Description: aws.String("web")})
			if err != nil {
				t.Fatal(err)
			}
			if got := egressCIDRs(t, c, *sg.GroupId); !sameSet(got, "0.0.0.0/0") {
				t.Errorf("group of an IPv4-only VPC: egress %v", got)
			}
		})
	}
}

// TestCidrBlockAssociations covers AssociateVpcCidrBlock,
// DisassociateVpcCidrBlock, AssociateSubnetCidrBlock and
// DisassociateSubnetCidrBlock with AWS's errors, through the SDK.
func TestCidrBlockAssociations(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	c := h.ec2
	vpc, subnet := h.newVPC("10.20.0.0/16", "10.20.1.0/24")
	oldGroup, err := c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{VpcId: &vpc, GroupName: aws.String("before"), Description: aws.String("made before IPv6")})
	if err != nil {
		t.Fatal(err)
	}

	// Bad requests first.
	for _, tc := range []struct {
		name string
		in   ec2.AssociateVpcCidrBlockInput
		code string
	}{
		{"nothing to associate", ec2.AssociateVpcCidrBlockInput{VpcId: &vpc}, "MissingParameter"},
		{"ipv4 and ipv6", ec2.AssociateVpcCidrBlockInput{VpcId: &vpc, CidrBlock: aws.String("10.21.0.0/16"), AmazonProvidedIpv6CidrBlock: aws.Bool(true)}, "InvalidParameterCombination"},
		{"provided and given", ec2.AssociateVpcCidrBlockInput{VpcId: &vpc, Ipv6CidrBlock: aws.String("fd00:1:2:300::/56"), AmazonProvidedIpv6CidrBlock: aws.Bool(true)}, "InvalidParameterCombination"},
		{"secondary ipv4", ec2.AssociateVpcCidrBlockInput{VpcId: &vpc, CidrBlock: aws.String("10.21.0.0/16")}, "CidrLimitExceeded"},
		{"bad ipv4", ec2.AssociateVpcCidrBlockInput{VpcId: &vpc, CidrBlock: aws.String("10.0.0.0/8")}, "InvalidVpc.Range"},
		{"bad ipv6", ec2.AssociateVpcCidrBlockInput{VpcId: &vpc, Ipv6CidrBlock: aws.String("fd00:100::/40")}, "InvalidVpc.Range"},
		{"ipv6 not a cidr", ec2.AssociateVpcCidrBlockInput{VpcId: &vpc, Ipv6CidrBlock: aws.String("fd00::1")}, "InvalidParameterValue"},
		{"unknown vpc", ec2.AssociateVpcCidrBlockInput{VpcId: aws.String("vpc-0123456789abcdef0"), AmazonProvidedIpv6CidrBlock: aws.Bool(true)}, "InvalidVpcID.NotFound"},
		{"malformed vpc", ec2.AssociateVpcCidrBlockInput{VpcId: aws.String("vpc-x"), AmazonProvidedIpv6CidrBlock: aws.Bool(true)}, "InvalidVpcID.Malformed"},
	} {
		before := h.snapshot()
		_, err := c.AssociateVpcCidrBlock(ctx, &tc.in)
		if got := apiCode(err); got != tc.code {
			t.Errorf("%s: code %q, want %q (%v)", tc.name, got, tc.code, err)
		}
		if after := h.snapshot(); after != before {
			t.Errorf("%s: the refused request changed the store", tc.name)
		}
	}
	// Without permission: refused, whether the VPC exists or not.
	nobody := h.client(h.createUser("nobody", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:Describe*","Resource":"*"}]}`))
	for _, id := range []string{vpc, "vpc-0123456789abcdef0"} {
		_, err := nobody.AssociateVpcCidrBlock(ctx, &ec2.AssociateVpcCidrBlockInput{VpcId: aws.String(id), AmazonProvidedIpv6CidrBlock: aws.Bool(true)})
		wantCode(t, err, "UnauthorizedOperation")
	}

	// A given block (deterministic: the golden file).
	a, err := c.AssociateVpcCidrBlock(ctx, &ec2.AssociateVpcCidrBlockInput{VpcId: &vpc, Ipv6CidrBlock: aws.String("fd00:1:2:300::/56")})
	if err != nil {
		t.Fatal(err)
	}
	h.golden("associate_vpc_cidr_block")
	vpcAssoc := *a.Ipv6CidrBlockAssociation.AssociationId
	if *a.VpcId != vpc || *a.Ipv6CidrBlockAssociation.Ipv6CidrBlock != "fd00:1:2:300::/56" || !assocIDRe.MatchString(vpcAssoc) ||
		a.Ipv6CidrBlockAssociation.Ipv6CidrBlockState.State != types.VpcCidrBlockStateCodeAssociated || a.CidrBlockAssociation != nil {
		t.Errorf("associate: %+v", a)
	}
	d, err := c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{VpcIds: []string{vpc}})
	if err != nil || len(d.Vpcs[0].Ipv6CidrBlockAssociationSet) != 1 || *d.Vpcs[0].Ipv6CidrBlockAssociationSet[0].AssociationId != vpcAssoc {
		t.Fatalf("describe after associate: %v %+v", err, d)
	}
	_, err = c.AssociateVpcCidrBlock(ctx, &ec2.AssociateVpcCidrBlockInput{VpcId: &vpc, AmazonProvidedIpv6CidrBlock: aws.Bool(true)})
	wantCode(t, err, "CidrLimitExceeded")
	// As AWS: existing groups are not given ::/0, new ones are.
	if got := egressCIDRs(t, c, *oldGroup.GroupId); !sameSet(got, "0.0.0.0/0") {
		t.Errorf("a group made before the association: egress %v, want 0.0.0.0/0 only", got)
	}
	newGroup, err := c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{VpcId: &vpc, GroupName: aws.String("after"), Description: aws.String("made after IPv6")})
	if err != nil {
		t.Fatal(err)
	}
	if got := egressCIDRs(t, c, *newGroup.GroupId); !sameSet(got, "0.0.0.0/0", "::/0") {
		t.Errorf("a group made after the association: egress %v, want 0.0.0.0/0 and ::/0", got)
	}

	// Subnet blocks.
	other, err := c.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: &vpc, CidrBlock: aws.String("10.20.2.0/24"), Ipv6CidrBlock: aws.String("fd00:1:2:302::/64")})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, subnet, block, code string
	}{
		{"outside the vpc block", subnet, "fd00:1:2:400::/64", "InvalidSubnet.Range"},
		{"not a /64", subnet, "fd00:1:2:300::/60", "InvalidSubnet.Range"},
		{"ipv4", subnet, "10.20.1.0/24", "InvalidParameterValue"},
		{"another subnet's", subnet, "fd00:1:2:302::/64", "InvalidSubnet.Conflict"},
		{"subnet has one", *other.Subnet.SubnetId, "fd00:1:2:303::/64", "CidrLimitExceeded"},
		{"unknown subnet", "subnet-0123456789abcdef0", "fd00:1:2:301::/64", "InvalidSubnetID.NotFound"},
	} {
		_, err := c.AssociateSubnetCidrBlock(ctx, &ec2.AssociateSubnetCidrBlockInput{SubnetId: aws.String(tc.subnet), Ipv6CidrBlock: aws.String(tc.block)})
		if got := apiCode(err); got != tc.code {
			t.Errorf("associate subnet block, %s: code %q, want %q (%v)", tc.name, got, tc.code, err)
		}
	}
	sa, err := c.AssociateSubnetCidrBlock(ctx, &ec2.AssociateSubnetCidrBlockInput{SubnetId: &subnet, Ipv6CidrBlock: aws.String("fd00:1:2:301::/64")})
	if err != nil {
		t.Fatal(err)
	}
	h.golden("associate_subnet_cidr_block")
	subnetAssoc := *sa.Ipv6CidrBlockAssociation.AssociationId
	if *sa.SubnetId != subnet || *sa.Ipv6CidrBlockAssociation.Ipv6CidrBlock != "fd00:1:2:301::/64" || !assocIDRe.MatchString(subnetAssoc) ||
		sa.Ipv6CidrBlockAssociation.Ipv6CidrBlockState.State != types.SubnetCidrBlockStateCodeAssociated {
		t.Errorf("associate subnet: %+v", sa)
	}
	ds, err := c.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []types.Filter{filter("ipv6-cidr-block-association.association-id", subnetAssoc)}})
	if err != nil || len(ds.Subnets) != 1 || *ds.Subnets[0].SubnetId != subnet {
		t.Errorf("describe subnet by association: %v %+v", err, ds)
	}

	// The VPC block is in use while subnets have blocks in it; the primary
	// IPv4 block never goes; unknown ids are NotFound.
	_, err = c.DisassociateVpcCidrBlock(ctx, &ec2.DisassociateVpcCidrBlockInput{AssociationId: &vpcAssoc})
	wantCode(t, err, "InvalidCidrBlock.InUse")
	_, err = c.DisassociateVpcCidrBlock(ctx, &ec2.DisassociateVpcCidrBlockInput{AssociationId: d.Vpcs[0].CidrBlockAssociationSet[0].AssociationId})
	wantCode(t, err, "OperationNotPermitted")
	_, err = c.DisassociateVpcCidrBlock(ctx, &ec2.DisassociateVpcCidrBlockInput{AssociationId: aws.String("vpc-cidr-assoc-0123456789abcdef0")})
	wantCode(t, err, "InvalidVpcCidrBlockAssociationID.NotFound")
	_, err = c.DisassociateSubnetCidrBlock(ctx, &ec2.DisassociateSubnetCidrBlockInput{AssociationId: aws.String("subnet-cidr-assoc-0123456789abcdef0")})
	wantCode(t, err, "InvalidSubnetCidrBlockAssociationID.NotFound")
	_, err = nobody.DisassociateSubnetCidrBlock(ctx, &ec2.DisassociateSubnetCidrBlockInput{AssociationId: &subnetAssoc})
	wantCode(t, err, "UnauthorizedOperation")

	// A subnet block with an instance address or a dual-stack endpoint in
	// it is in use.
	inst, status, body := h.registerInstance6(subnet, "10.20.1.10", "fd00:1:2:301::10")
	if status != http.StatusOK {
		t.Fatalf("register an IPv6 instance: %d %s", status, body)
	}
	_, err = c.DisassociateSubnetCidrBlock(ctx, &ec2.DisassociateSubnetCidrBlockInput{AssociationId: &subnetAssoc})
	wantCode(t, err, "InvalidCidrBlock.InUse")
	h.rawOK(h.admin, url.Values{"Action": {"DeregisterInstance"}, "InstanceId": {inst}}, nil)
	ep, err := c.CreateInstanceConnectEndpoint(ctx, &ec2.CreateInstanceConnectEndpointInput{SubnetId: &subnet})
	if err != nil || ep.InstanceConnectEndpoint.IpAddressType != types.IpAddressTypeDualstack {
		t.Fatalf("dual-stack endpoint: %v %+v", err, ep)
	}
	_, err = c.DisassociateSubnetCidrBlock(ctx, &ec2.DisassociateSubnetCidrBlockInput{AssociationId: &subnetAssoc})
	wantCode(t, err, "InvalidCidrBlock.InUse")
	if _, err := c.DeleteInstanceConnectEndpoint(ctx, &ec2.DeleteInstanceConnectEndpointInput{InstanceConnectEndpointId: ep.InstanceConnectEndpoint.InstanceConnectEndpointId}); err != nil {
		t.Fatal(err)
	}

	// Now both subnet blocks go, then the VPC's.
	_, err = c.DisassociateSubnetCidrBlock(ctx, &ec2.DisassociateSubnetCidrBlockInput{AssociationId: &subnetAssoc})
	if err != nil {
		t.Fatal(err)
	}
	h.golden("disassociate_subnet_cidr_block")
	ds, err = c.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: []string{subnet}})
	if err != nil || ds.Subnets[0].Ipv6CidrBlockAssociationSet != nil {
		t.Errorf("subnet after disassociation: %v %+v", err, ds)
	}
	_, err = c.DisassociateSubnetCidrBlock(ctx, &ec2.DisassociateSubnetCidrBlockInput{AssociationId: &subnetAssoc})
	wantCode(t, err, "InvalidSubnetCidrBlockAssociationID.NotFound")
	if _, err := c.DisassociateSubnetCidrBlock(ctx, &ec2.DisassociateSubnetCidrBlockInput{AssociationId: other.Subnet.Ipv6CidrBlockAssociationSet[0].AssociationId}); err != nil {
		t.Fatal(err)
	}
	dv, err := c.DisassociateVpcCidrBlock(ctx, &ec2.DisassociateVpcCidrBlockInput{AssociationId: &vpcAssoc})
	if err != nil {
		t.Fatal(err)
	}
	h.golden("disassociate_vpc_cidr_block")
	if *dv.VpcId != vpc || *dv.Ipv6CidrBlockAssociation.AssociationId != vpcAssoc || dv.Ipv6CidrBlockAssociation.Ipv6CidrBlockState.State != types.VpcCidrBlockStateCodeDisassociated {
		t.Errorf("disassociate vpc block: %+v", dv)
	}
	d, err = c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{VpcIds: []string{vpc}})
	if err != nil || d.Vpcs[0].Ipv6CidrBlockAssociationSet != nil {
		t.Errorf("vpc after disassociation: %v %+v", err, d)
	}
	// Subnet blocks need a VPC block.
	_, err = c.AssociateSubnetCidrBlock(ctx, &ec2.AssociateSubnetCidrBlockInput{SubnetId: &subnet, Ipv6CidrBlock: aws.String("fd00:1:2:301::/64")})
	wantCode(t, err, "InvalidSubnet.Range")

	// Associated again from the pool: a new block, a new association id.
	a2, err := c.AssociateVpcCidrBlock(ctx, &ec2.AssociateVpcCidrBlockInput{VpcId: &vpc, AmazonProvidedIpv6CidrBlock: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if id := *a2.Ipv6CidrBlockAssociation.AssociationId; id == vpcAssoc || !assocIDRe.MatchString(id) ||
		!DefaultIPv6Pool.Contains(netip.MustParsePrefix(*a2.Ipv6CidrBlockAssociation.Ipv6CidrBlock).Addr()) {
		t.Errorf("second association: %+v", a2.Ipv6CidrBlockAssociation)
	}

	// An IPv6-only subnet keeps its only block.
	v6vpc, err := c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.30.0.0/16"), Ipv6CidrBlock: aws.String("fd00:9:9:900::/56")})
	if err != nil {
		t.Fatal(err)
	}
	native, err := c.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: v6vpc.Vpc.VpcId, Ipv6Native: aws.Bool(true), Ipv6CidrBlock: aws.String("fd00:9:9:901::/64")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.DisassociateSubnetCidrBlock(ctx, &ec2.DisassociateSubnetCidrBlockInput{AssociationId: native.Subnet.Ipv6CidrBlockAssociationSet[0].AssociationId})
	wantCode(t, err, "OperationNotPermitted")
}

// registerInstance6 registers an instance with an IPv6 address (and ip4,
// unless it is "").
func (h *harness) registerInstance6(subnet, ip4, ip6 string) (string, int, string) {
	h.t.Helper()
	p := url.Values{"Action": {"RegisterInstance"}, "SubnetId": {subnet}, "Ipv6Address": {ip6}}
	if ip4 != "" {
		p.Set("PrivateIpAddress", ip4)
	}
	status, body := h.raw(h.admin, p)
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

// TestConcurrentIPv6Allocation: VPCs created at the same time from a pool
// of eight /56 blocks get eight different blocks.
func TestConcurrentIPv6Allocation(t *testing.T) {
	h := newHarness(t, withIPv6Pool("fd12:3456:7800::/53"))
	ctx := context.Background()
	const n = 8
	blocks := make(chan string, n)
	errs := make(chan error, n)
	for range n {
		go func() {
			v, err := h.ec2.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16"), AmazonProvidedIpv6CidrBlock: aws.Bool(true)})
			if err != nil {
				errs <- err
				return
			}
			blocks <- *v.Vpc.Ipv6CidrBlockAssociationSet[0].Ipv6CidrBlock
		}()
	}
	seen := map[string]bool{}
	for range n {
		select {
		case err := <-errs:
			t.Fatal(err)
		case b := <-blocks:
			if seen[b] {
				t.Fatalf("block %s handed out twice", b)
			}
			seen[b] = true
		}
	}
	_, err := h.ec2.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16"), AmazonProvidedIpv6CidrBlock: aws.Bool(true)})
	wantCode(t, err, "InsufficientCidrBlocks")
}

// TestIPv6AllocationAroundLargeBlocks: a given block larger than a /56
// inside the pool is skipped as a whole; every other /56 is still handed
// out.
func TestIPv6AllocationAroundLargeBlocks(t *testing.T) {
	h := newHarness(t, withIPv6Pool("fd12:3456:7800::/52"))
	ctx := context.Background()
	// The first half of the pool (eight /56 blocks), given.
	if _, err := h.ec2.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16"), Ipv6CidrBlock: aws.String("fd12:3456:7800::/53")}); err != nil {
		t.Fatal(err)
	}
	half := netip.MustParsePrefix("fd12:3456:7800::/53")
	seen := map[string]bool{}
	for i := range 8 {
		v, err := h.ec2.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16"), AmazonProvidedIpv6CidrBlock: aws.Bool(true)})
		if err != nil {
			t.Fatalf("vpc %d: %v", i, err)
		}
		b := netip.MustParsePrefix(*v.Vpc.Ipv6CidrBlockAssociationSet[0].Ipv6CidrBlock)
		if half.Overlaps(b) || seen[b.String()] {
			t.Fatalf("vpc %d got %s, inside the given /53 or twice", i, b)
		}
		seen[b.String()] = true
	}
	_, err := h.ec2.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16"), AmazonProvidedIpv6CidrBlock: aws.Bool(true)})
	wantCode(t, err, "InsufficientCidrBlocks")
}
