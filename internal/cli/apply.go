package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/spf13/cobra"

	"github.com/postern/postern/internal/client/netspec"
)

func applyCommand(env *Env) *cobra.Command {
	var file string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "apply -f network.yaml",
		Short: "Create or update VPCs, subnets, security groups, instances and endpoints from a file",
		Long: "apply makes the server's network match the file, idempotently: resources are found by their Name\n" +
			"tag (security groups by name in their VPC), missing ones are created, rule sets and group lists are\n" +
			"brought in line, and every change is printed. --dry-run prints the plan and changes nothing.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return usageErr("apply needs -f FILE")
			}
			var r io.Reader = env.Stdin
			if file != "-" {
				f, err := os.Open(file)
				if err != nil {
					return usageErr("%v", err)
				}
				defer f.Close()
				r = f
			}
			spec, err := netspec.Parse(r)
			if err != nil {
				return usageErr("%s: %v", file, err)
			}
			cfg, err := env.LoadAWSConfig(cmd.Context())
			if err != nil {
				return err
			}
			a := &applier{
				ctx: cmd.Context(), out: env.Stdout, dryRun: dryRun,
				ec2: ec2.NewFromConfig(cfg, func(o *ec2.Options) { setEndpoint(&o.BaseEndpoint, env.g.endpointURL) }),
				cfg: cfg, endpoint: env.g.endpointURL,
			}
			for _, v := range spec.Vpcs {
				if err := a.vpc(v); err != nil {
					return err
				}
			}
			verb := "applied"
			if dryRun {
				verb = "planned (dry run, nothing changed)"
			}
			fmt.Fprintf(env.Stdout, "%d to create, %d to change, %d unchanged: %s\n", a.created, a.changed, a.unchanged, verb)
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "the network file (YAML; - for standard input)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the plan and change nothing")
	return cmd
}

// applier brings the server in line with a spec, one VPC at a time.
type applier struct {
	ctx      context.Context
	out      io.Writer
	dryRun   bool
	ec2      *ec2.Client
	cfg      aws.Config
	endpoint string

	created, changed, unchanged int
}

func (a *applier) say(mark, format string, args ...any) {
	fmt.Fprintf(a.out, "%s %s\n", mark, fmt.Sprintf(format, args...))
}

// plannedID stands for a resource a dry run would create.
func plannedID(kind, name string) string { return "(new " + kind + " " + name + ")" }

func isPlanned(id string) bool { return strings.HasPrefix(id, "(new ") }

// indexByName files v in m under its Name tag, if it has one.
func indexByName[T any](m map[string]T, tags []ec2types.Tag, v T) {
	for _, t := range tags {
		if aws.ToString(t.Key) == "Name" {
			m[aws.ToString(t.Value)] = v
		}
	}
}

func nameTag(kind, name string) []ec2types.TagSpecification {
	return []ec2types.TagSpecification{{ResourceType: ec2types.ResourceType(kind), Tags: []ec2types.Tag{{Key: aws.String("Name"), Value: aws.String(name)}}}}
}

func filter(name string, values ...string) ec2types.Filter {
	return ec2types.Filter{Name: aws.String(name), Values: values}
}

func (a *applier) fail(op string, err error) error { return apiError(op, err) }

func (a *applier) vpc(v netspec.Vpc) error {
	out, err := a.ec2.DescribeVpcs(a.ctx, &ec2.DescribeVpcsInput{Filters: []ec2types.Filter{filter("tag:Name", v.Name)}})
	if err != nil {
		return a.fail("DescribeVpcs", err)
	}
	var vpcID string
	switch {
	case len(out.Vpcs) > 1:
		return &exitError{code: ExitOther, msg: fmt.Sprintf("postern apply: %d VPCs are named %q; names must be unique", len(out.Vpcs), v.Name)}
	case len(out.Vpcs) == 1:
		vpcID = aws.ToString(out.Vpcs[0].VpcId)
		if got := aws.ToString(out.Vpcs[0].CidrBlock); got != v.Cidr {
			return &exitError{code: ExitOther, msg: fmt.Sprintf("postern apply: VPC %q (%s) has CIDR %s, the file says %s; a VPC's CIDR cannot change", v.Name, vpcID, got, v.Cidr)}
		}
		var have6 []string
		for _, as := range out.Vpcs[0].Ipv6CidrBlockAssociationSet {
			have6 = append(have6, aws.ToString(as.Ipv6CidrBlock))
		}
		switch {
		case v.Ipv6Cidr == "" || slices.Contains(have6, v.Ipv6Cidr):
			a.say("=", "vpc %s (%s)", v.Name, vpcID)
			a.unchanged++
		case len(have6) > 0:
			return &exitError{code: ExitOther, msg: fmt.Sprintf("postern apply: VPC %q (%s) has the IPv6 CIDR %s, the file says %s; disassociate it first", v.Name, vpcID, strings.Join(have6, ", "), v.Ipv6Cidr)}
		default:
			a.say("~", "vpc %s (%s): associate IPv6 CIDR %s", v.Name, vpcID, v.Ipv6Cidr)
			a.changed++
			if !a.dryRun {
				if _, err := a.ec2.AssociateVpcCidrBlock(a.ctx, &ec2.AssociateVpcCidrBlockInput{VpcId: aws.String(vpcID), Ipv6CidrBlock: aws.String(v.Ipv6Cidr)}); err != nil {
					return a.fail("AssociateVpcCidrBlock", err)
				}
			}
		}
	default:
		a.say("+", "create vpc %s %s", v.Name, v.Cidr)
		a.created++
		vpcID = plannedID("vpc", v.Name)
		if !a.dryRun {
			in := &ec2.CreateVpcInput{CidrBlock: aws.String(v.Cidr), TagSpecifications: nameTag("vpc", v.Name)}
			if v.Ipv6Cidr != "" {
				in.Ipv6CidrBlock = aws.String(v.Ipv6Cidr)
			}
			res, err := a.ec2.CreateVpc(a.ctx, in)
			if err != nil {
				return a.fail("CreateVpc", err)
			}
			vpcID = aws.ToString(res.Vpc.VpcId)
		}
	}
	subnets, err := a.subnets(vpcID, v)
	if err != nil {
		return err
	}
	groups, err := a.groups(vpcID, v)
	if err != nil {
		return err
	}
	if err := a.instances(vpcID, v, subnets, groups); err != nil {
		return err
	}
	return a.endpoints(vpcID, v, subnets, groups)
}

func (a *applier) subnets(vpcID string, v netspec.Vpc) (map[string]string, error) {
	ids := map[string]string{}
	existing := map[string]ec2types.Subnet{}
	if !isPlanned(vpcID) {
		out, err := a.ec2.DescribeSubnets(a.ctx, &ec2.DescribeSubnetsInput{Filters: []ec2types.Filter{filter("vpc-id", vpcID)}})
		if err != nil {
			return nil, a.fail("DescribeSubnets", err)
		}
		for _, s := range out.Subnets {
			indexByName(existing, s.Tags, s)
		}
	}
	for _, sn := range v.Subnets {
		if s, ok := existing[sn.Name]; ok {
			if aws.ToString(s.CidrBlock) != sn.Cidr {
				return nil, &exitError{code: ExitOther, msg: fmt.Sprintf("postern apply: subnet %q has CIDR %s, the file says %s; a subnet's CIDR cannot change", sn.Name, aws.ToString(s.CidrBlock), sn.Cidr)}
			}
			ids[sn.Name] = aws.ToString(s.SubnetId)
			var have6 string
			for _, as := range s.Ipv6CidrBlockAssociationSet {
				have6 = aws.ToString(as.Ipv6CidrBlock)
			}
			switch {
			case sn.Ipv6Cidr == "" || have6 == sn.Ipv6Cidr:
				a.say("=", "subnet %s (%s)", sn.Name, ids[sn.Name])
				a.unchanged++
			case have6 != "":
				return nil, &exitError{code: ExitOther, msg: fmt.Sprintf("postern apply: subnet %q has the IPv6 CIDR %s, the file says %s; disassociate it first", sn.Name, have6, sn.Ipv6Cidr)}
			default:
				a.say("~", "subnet %s (%s): associate IPv6 CIDR %s", sn.Name, ids[sn.Name], sn.Ipv6Cidr)
				a.changed++
				if !a.dryRun {
					if _, err := a.ec2.AssociateSubnetCidrBlock(a.ctx, &ec2.AssociateSubnetCidrBlockInput{SubnetId: s.SubnetId, Ipv6CidrBlock: aws.String(sn.Ipv6Cidr)}); err != nil {
						return nil, a.fail("AssociateSubnetCidrBlock", err)
					}
				}
			}
			continue
		}
		a.say("+", "create subnet %s %s in vpc %s", sn.Name, sn.Cidr, v.Name)
		a.created++
		ids[sn.Name] = plannedID("subnet", sn.Name)
		if a.dryRun {
			continue
		}
		in := &ec2.CreateSubnetInput{VpcId: aws.String(vpcID), CidrBlock: aws.String(sn.Cidr), TagSpecifications: nameTag("subnet", sn.Name)}
		if sn.AvailabilityZone != "" {
			in.AvailabilityZone = aws.String(sn.AvailabilityZone)
		}
		if sn.Ipv6Cidr != "" {
			in.Ipv6CidrBlock = aws.String(sn.Ipv6Cidr)
		}
		out, err := a.ec2.CreateSubnet(a.ctx, in)
		if err != nil {
			return nil, a.fail("CreateSubnet", err)
		}
		ids[sn.Name] = aws.ToString(out.Subnet.SubnetId)
	}
	return ids, nil
}

// ruleKey identifies a rule independent of how it was written.
func ruleKey(proto string, from, to int32, cidr, group string) string {
	if proto == "-1" {
		from, to = -1, -1
	}
	return fmt.Sprintf("%s|%d|%d|%s|%s", proto, from, to, cidr, group)
}

func permissionKeys(perms []ec2types.IpPermission) map[string]ec2types.IpPermission {
	out := map[string]ec2types.IpPermission{}
	for _, p := range perms {
		proto, from, to := aws.ToString(p.IpProtocol), aws.ToInt32(p.FromPort), aws.ToInt32(p.ToPort)
		if p.FromPort == nil {
			from, to = -1, -1
		}
		base := ec2types.IpPermission{IpProtocol: p.IpProtocol, FromPort: p.FromPort, ToPort: p.ToPort}
		for _, r := range p.IpRanges {
			one := base
			one.IpRanges = []ec2types.IpRange{{CidrIp: r.CidrIp}}
			out[ruleKey(proto, from, to, aws.ToString(r.CidrIp), "")] = one
		}
		for _, r := range p.Ipv6Ranges {
			one := base
			one.Ipv6Ranges = []ec2types.Ipv6Range{{CidrIpv6: r.CidrIpv6}}
			out[ruleKey(proto, from, to, aws.ToString(r.CidrIpv6), "")] = one
		}
		for _, g := range p.UserIdGroupPairs {
			one := base
			one.UserIdGroupPairs = []ec2types.UserIdGroupPair{{GroupId: g.GroupId}}
			out[ruleKey(proto, from, to, "", aws.ToString(g.GroupId))] = one
		}
	}
	return out
}

func desiredPermissions(rules []netspec.Rule, groups map[string]string) map[string]ec2types.IpPermission {
	perms := make([]ec2types.IpPermission, 0, len(rules))
	for _, r := range rules {
		proto, _ := r.IPProtocol()
		from, to, _ := r.Ports()
		p := ec2types.IpPermission{IpProtocol: aws.String(proto), FromPort: aws.Int32(from), ToPort: aws.Int32(to)}
		switch {
		case r.Group != "":
			p.UserIdGroupPairs = []ec2types.UserIdGroupPair{{GroupId: aws.String(groups[r.Group])}}
		case strings.Contains(r.Cidr, ":"):
			p.Ipv6Ranges = []ec2types.Ipv6Range{{CidrIpv6: aws.String(r.Cidr)}}
		default:
			p.IpRanges = []ec2types.IpRange{{CidrIp: aws.String(r.Cidr)}}
		}
		perms = append(perms, p)
	}
	return permissionKeys(perms)
}

func (a *applier) groups(vpcID string, v netspec.Vpc) (map[string]string, error) {
	ids := map[string]string{}
	existing := map[string]ec2types.SecurityGroup{}
	if !isPlanned(vpcID) {
		out, err := a.ec2.DescribeSecurityGroups(a.ctx, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{filter("vpc-id", vpcID)}})
		if err != nil {
			return nil, a.fail("DescribeSecurityGroups", err)
		}
		for _, g := range out.SecurityGroups {
			existing[aws.ToString(g.GroupName)] = g
			ids[aws.ToString(g.GroupName)] = aws.ToString(g.GroupId)
		}
	} else {
		ids["default"] = plannedID("security-group", "default")
	}
	// Create the groups first: rules may name any group of the VPC.
	for _, g := range v.SecurityGroups {
		if _, ok := existing[g.Name]; ok || g.Name == "default" {
			continue
		}
		a.say("+", "create security group %s in vpc %s", g.Name, v.Name)
		a.created++
		ids[g.Name] = plannedID("security-group", g.Name)
		if a.dryRun {
			continue
		}
		desc := g.Description
		if desc == "" {
			desc = g.Name
		}
		out, err := a.ec2.CreateSecurityGroup(a.ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String(g.Name), Description: aws.String(desc), VpcId: aws.String(vpcID)})
		if err != nil {
			return nil, a.fail("CreateSecurityGroup", err)
		}
		ids[g.Name] = aws.ToString(out.GroupId)
		if !a.dryRun {
			// Read back AWS's default rules so they are reconciled too.
			got, err := a.ec2.DescribeSecurityGroups(a.ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{ids[g.Name]}})
			if err != nil {
				return nil, a.fail("DescribeSecurityGroups", err)
			}
			if len(got.SecurityGroups) == 1 {
				existing[g.Name] = got.SecurityGroups[0]
			}
		}
	}
	for _, g := range v.SecurityGroups {
		cur := existing[g.Name]
		if err := a.reconcileRules(g.Name, ids[g.Name], "ingress", permissionKeys(cur.IpPermissions), desiredPermissions(g.Ingress, ids)); err != nil {
			return nil, err
		}
		if g.Egress != nil {
			if err := a.reconcileRules(g.Name, ids[g.Name], "egress", permissionKeys(cur.IpPermissionsEgress), desiredPermissions(g.Egress, ids)); err != nil {
				return nil, err
			}
		}
	}
	return ids, nil
}

func (a *applier) reconcileRules(group, groupID, dir string, have, want map[string]ec2types.IpPermission) error {
	var add, remove []ec2types.IpPermission
	var addKeys, removeKeys []string
	for k, p := range want {
		if _, ok := have[k]; !ok {
			add, addKeys = append(add, p), append(addKeys, k)
		}
	}
	for k, p := range have {
		if _, ok := want[k]; !ok {
			remove, removeKeys = append(remove, p), append(removeKeys, k)
		}
	}
	if len(add) == 0 && len(remove) == 0 {
		a.say("=", "security group %s %s rules (%d)", group, dir, len(want))
		a.unchanged++
		return nil
	}
	sort.Strings(addKeys)
	sort.Strings(removeKeys)
	for _, k := range addKeys {
		a.say("~", "security group %s: authorize %s %s", group, dir, k)
	}
	for _, k := range removeKeys {
		a.say("~", "security group %s: revoke %s %s", group, dir, k)
	}
	a.changed++
	if a.dryRun {
		return nil
	}
	if len(add) > 0 {
		var err error
		if dir == "ingress" {
			_, err = a.ec2.AuthorizeSecurityGroupIngress(a.ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(groupID), IpPermissions: add})
		} else {
			_, err = a.ec2.AuthorizeSecurityGroupEgress(a.ctx, &ec2.AuthorizeSecurityGroupEgressInput{GroupId: aws.String(groupID), IpPermissions: add})
		}
		if err != nil {
			return a.fail("AuthorizeSecurityGroup", err)
		}
	}
	if len(remove) > 0 {
		var err error
		if dir == "ingress" {
			_, err = a.ec2.RevokeSecurityGroupIngress(a.ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: aws.String(groupID), IpPermissions: remove})
		} else {
			_, err = a.ec2.RevokeSecurityGroupEgress(a.ctx, &ec2.RevokeSecurityGroupEgressInput{GroupId: aws.String(groupID), IpPermissions: remove})
		}
		if err != nil {
			return a.fail("RevokeSecurityGroup", err)
		}
	}
	return nil
}

func groupIDsFor(names []string, groups map[string]string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		out = append(out, groups[n])
	}
	return out
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func (a *applier) instances(vpcID string, v netspec.Vpc, subnets, groups map[string]string) error {
	existing := map[string]ec2types.Instance{}
	if !isPlanned(vpcID) && len(v.Instances) > 0 {
		p := ec2.NewDescribeInstancesPaginator(a.ec2, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{filter("vpc-id", vpcID)}})
		for p.HasMorePages() {
			out, err := p.NextPage(a.ctx)
			if err != nil {
				return a.fail("DescribeInstances", err)
			}
			for _, r := range out.Reservations {
				for _, in := range r.Instances {
					indexByName(existing, in.Tags, in)
				}
			}
		}
	}
	for _, in := range v.Instances {
		want := groupIDsFor(in.SecurityGroups, groups)
		if cur, ok := existing[in.Name]; ok {
			id := aws.ToString(cur.InstanceId)
			var have []string
			for _, g := range cur.SecurityGroups {
				have = append(have, aws.ToString(g.GroupId))
			}
			if len(want) == 0 || sameSet(have, want) {
				a.say("=", "instance %s (%s)", in.Name, id)
				a.unchanged++
				continue
			}
			a.say("~", "instance %s (%s): security groups %v -> %v", in.Name, id, in.SecurityGroups, want)
			a.changed++
			if !a.dryRun {
				if _, err := a.ec2.ModifyInstanceAttribute(a.ctx, &ec2.ModifyInstanceAttributeInput{InstanceId: cur.InstanceId, Groups: want}); err != nil {
					return a.fail("ModifyInstanceAttribute", err)
				}
			}
			continue
		}
		a.say("+", "register instance %s %s in subnet %s", in.Name, in.PrivateIP+in.Ipv6Address, in.Subnet)
		a.created++
		if a.dryRun {
			continue
		}
		r := registerInstanceParams{subnet: subnets[in.Subnet], ip: in.PrivateIP, ip6: in.Ipv6Address, platform: in.Platform,
			groups: want, tagSpecs: nameTag("instance", in.Name)}
		if _, err := registerInstance(a.ctx, a.cfg, a.endpoint, r); err != nil {
			return a.fail("RegisterInstance", err)
		}
	}
	return nil
}

func (a *applier) endpoints(vpcID string, v netspec.Vpc, subnets, groups map[string]string) error {
	existing := map[string]ec2types.Ec2InstanceConnectEndpoint{}
	if !isPlanned(vpcID) && len(v.Endpoints) > 0 {
		p := ec2.NewDescribeInstanceConnectEndpointsPaginator(a.ec2, &ec2.DescribeInstanceConnectEndpointsInput{Filters: []ec2types.Filter{filter("vpc-id", vpcID)}})
		for p.HasMorePages() {
			out, err := p.NextPage(a.ctx)
			if err != nil {
				return a.fail("DescribeInstanceConnectEndpoints", err)
			}
			for _, e := range out.InstanceConnectEndpoints {
				if strings.HasPrefix(string(e.State), "delete") {
					continue
				}
				indexByName(existing, e.Tags, e)
			}
		}
	}
	for _, e := range v.Endpoints {
		want := groupIDsFor(e.SecurityGroups, groups)
		if cur, ok := existing[e.Name]; ok {
			id := aws.ToString(cur.InstanceConnectEndpointId)
			groupsOK := len(want) == 0 || sameSet(cur.SecurityGroupIds, want)
			if groupsOK && aws.ToBool(cur.PreserveClientIp) == e.PreserveClientIP {
				a.say("=", "endpoint %s (%s)", e.Name, id)
				a.unchanged++
				continue
			}
			a.say("~", "endpoint %s (%s): security groups %v, preserve client ip %v", e.Name, id, e.SecurityGroups, e.PreserveClientIP)
			a.changed++
			if !a.dryRun {
				in := &ec2.ModifyInstanceConnectEndpointInput{InstanceConnectEndpointId: cur.InstanceConnectEndpointId, PreserveClientIp: aws.Bool(e.PreserveClientIP)}
				if !groupsOK {
					in.SecurityGroupIds = want
				}
				if _, err := a.ec2.ModifyInstanceConnectEndpoint(a.ctx, in); err != nil {
					return a.fail("ModifyInstanceConnectEndpoint", err)
				}
			}
			continue
		}
		a.say("+", "create instance connect endpoint %s in subnet %s", e.Name, e.Subnet)
		a.created++
		if a.dryRun {
			continue
		}
		sum := sha256.Sum256([]byte(vpcID + "/" + e.Name))
		in := &ec2.CreateInstanceConnectEndpointInput{SubnetId: aws.String(subnets[e.Subnet]), SecurityGroupIds: want,
			PreserveClientIp: aws.Bool(e.PreserveClientIP), ClientToken: aws.String("apply-" + hex.EncodeToString(sum[:12])),
			TagSpecifications: nameTag("instance-connect-endpoint", e.Name)}
		if _, err := a.ec2.CreateInstanceConnectEndpoint(a.ctx, in); err != nil {
			return a.fail("CreateInstanceConnectEndpoint", err)
		}
	}
	return nil
}
