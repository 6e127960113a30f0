package ec2api

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"

	"github.com/postern/postern/internal/server/api"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/wire/awsproto"
)

// Instance platforms.
const (
	platformLinux   = "" // what AWS leaves out of <platform>
	platformWindows = "windows"
)

// maxGroupsPerInterface bounds the security groups of an instance or an
// endpoint (AWS's adjustable per-interface quota goes up to 16).
const maxGroupsPerInterface = 16

// parseGroupIDs reads a SecurityGroupId.N-style list, checking shapes and
// the count.
func parseGroupIDs(p awsproto.Params, name string) ([]string, error) {
	ids := dedupe(scalarList(p, name))
	if len(ids) > maxGroupsPerInterface {
		return nil, awsproto.InvalidParameterValue("You can specify at most %d security groups.", maxGroupsPerInterface)
	}
	if err := kindGroup.checkAll(ids); err != nil {
		return nil, err
	}
	return ids, nil
}

// groupsInVpc reads the groups ids (all of which must exist in VPC vpcID);
// with no ids it returns the VPC's default group.
func (s *service) groupsInVpc(c *api.Call, ids []string, vpcID, subnetID string) ([]store.SecurityGroup, error) {
	if len(ids) == 0 {
		g, err := s.st.GetSecurityGroupByName(ctx(c), vpcID, defaultGroupName)
		if err != nil {
			return nil, storeErr(err, "default security group of %s", vpcID)
		}
		return []store.SecurityGroup{g}, nil
	}
	out := make([]store.SecurityGroup, 0, len(ids))
	for _, id := range ids {
		g, err := s.getGroup(c, id)
		if err != nil {
			return nil, err
		}
		if g.VpcID != vpcID {
			return nil, badRequest(codeInvalidParameter, "Security group %s and subnet %s belong to different networks.", id, subnetID)
		}
		out = append(out, g)
	}
	return out, nil
}

// groupIDs returns the ids of groups, in order.
func groupIDs(groups []store.SecurityGroup) []string {
	out := make([]string, len(groups))
	for i, g := range groups {
		out[i] = g.GroupID
	}
	return out
}

// registerInstance is Postern's RegisterInstance: it records an existing
// server as an instance. SubnetId, PrivateIpAddress (inside the subnet's
// IPv4 block; not for IPv6-only subnets), Ipv6Address (inside its IPv6
// block), SecurityGroupId.N (same VPC; default the VPC's default group),
// Platform (linux|windows), TagSpecification.N. The answer has the shape
// of RunInstances' (a reservation), so SDK-style clients parse it.
func (s *service) registerInstance(c *api.Call) (any, error) {
	p := c.Params
	subnetID, err := requiredID(p, "SubnetId", kindSubnet)
	if err != nil {
		return nil, err
	}
	var platform string
	switch strings.ToLower(p.Get("Platform")) {
	case "", "linux", "linux/unix":
		platform = platformLinux
	case "windows":
		platform = platformWindows
	default:
		return nil, invalidValue(p.Get("Platform"), "Platform")
	}
	groupIDList, err := parseGroupIDs(p, "SecurityGroupId")
	if err != nil {
		return nil, err
	}
	tags, err := parseTagSpecs(p, kindInstance.arnType)
	if err != nil {
		return nil, err
	}
	rawIP, rawIP6 := p.Get("PrivateIpAddress"), p.Get("Ipv6Address")
	var ip4, ip6 netip.Addr
	if rawIP != "" {
		if ip4, err = netip.ParseAddr(rawIP); err != nil || !ip4.Is4() {
			return nil, awsproto.InvalidParameterValue("Invalid value '%s' for privateIpAddress. It must be an IPv4 address.", rawIP)
		}
	}
	if rawIP6 != "" {
		if ip6, err = netip.ParseAddr(rawIP6); err != nil || !ip6.Is6() || ip6.Is4In6() || ip6.Zone() != "" {
			return nil, awsproto.InvalidParameterValue("Invalid value '%s' for ipv6Address. It must be an IPv6 address.", rawIP6)
		}
	}
	if _, err := dryRun(c); err != nil {
		return nil, err
	}
	// The subnet is authorized first, and before anything about it (its
	// address ranges, its groups) is told: on the ARN built from its id
	// when it does not exist.
	id := s.newID(kindInstance)
	subnetCheck := check{action: "ec2:RegisterInstance", resource: s.arn(kindSubnet, subnetID)}
	subnetCheck.ctx = policyContext()
	subnetCheck.ctx.Set("ec2:SubnetID", subnetID)
	sn, err := authorizeCreateIn(s, c, subnetID, s.getSubnet, func(sn store.Subnet) []store.Tag { return sn.Tags },
		subnetCheck, createChecks("RegisterInstance", s.arn(kindInstance, id), tags), s.authorize)
	if err != nil {
		return nil, err
	}
	switch {
	case sn.CidrBlock != "" && !ip4.IsValid():
		return nil, awsproto.MissingParameter("PrivateIpAddress")
	case sn.CidrBlock == "" && ip4.IsValid():
		return nil, awsproto.InvalidParameterValue("The subnet '%s' is IPv6-only; it has no IPv4 addresses.", subnetID)
	case sn.CidrBlock == "" && !ip6.IsValid():
		return nil, awsproto.MissingParameter("Ipv6Address")
	case ip4.IsValid() && !addrInCIDR(ip4, sn.CidrBlock):
		return nil, awsproto.InvalidParameterValue("Address %s does not fall within the subnet's address range", rawIP)
	case ip6.IsValid() && sn.Ipv6CidrBlock == "":
		return nil, awsproto.InvalidParameterValue("The subnet '%s' has no IPv6 CIDR block.", subnetID)
	case ip6.IsValid() && !addrInCIDR(ip6, sn.Ipv6CidrBlock):
		return nil, awsproto.InvalidParameterValue("Address %s does not fall within the subnet's address range", rawIP6)
	}
	groups, err := s.groupsInVpc(c, groupIDList, sn.VpcID, subnetID)
	if err != nil {
		return nil, err
	}
	if err := honourDryRun(c); err != nil {
		return nil, err
	}
	inst := store.Instance{
		InstanceID: id, SubnetID: subnetID, VpcID: sn.VpcID, Platform: platform,
		AvailabilityZone: sn.AvailabilityZone, State: instanceRunning, SecurityGroupIDs: groupIDs(groups),
		LaunchTime: s.now(),
	}
	if ip4.IsValid() {
		inst.PrivateIPAddress = ip4.String()
	}
	if ip6.IsValid() {
		inst.Ipv6Address = ip6.String()
	}
	err = s.createTagged(c, id, tags, func(tx store.Repo) error {
		err := tx.CreateInstance(ctx(c), inst)
		if errors.Is(err, store.ErrConflict) {
			return badRequest(codeAddressInUse, "Address %s is in use.", firstNonEmpty(inst.PrivateIPAddress, inst.Ipv6Address))
		}
		return createErr(err, kindInstance, id, kindSubnet, subnetID)
	})
	if err != nil {
		return nil, err
	}
	inst.Tags = tags
	names := groupNames{}
	for _, g := range groups {
		names[g.GroupID] = g.GroupName
	}
	return s.reservationXML(inst, names), nil
}

// firstNonEmpty returns the first non-empty string of ss.
func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// getInstance reads an instance, answering InvalidInstanceID.NotFound.
func (s *service) getInstance(c *api.Call, id string) (store.Instance, error) {
	return getOne(c, kindInstance, id, s.st.GetInstance)
}

// deregisterInstance is Postern's DeregisterInstance: InstanceId.
func (s *service) deregisterInstance(c *api.Call) (any, error) {
	return deleteOne(s, c, deletion[store.Instance]{
		action: "ec2:DeregisterInstance", idParam: "InstanceId", kind: kindInstance,
		get:  s.getInstance,
		tags: func(i store.Instance) []store.Tag { return i.Tags },
		del: func(c *api.Call, tx store.Repo, id string) error {
			return deleteErr(tx.DeleteInstance(ctx(c), id), kindInstance, id, "")
		},
	})
}

type describeInstancesResult struct {
	ReservationSet itemSet[reservationXML] `xml:"reservationSet"`
	NextToken      string                  `xml:"nextToken,omitempty"`
}

var instanceFilters = newFilterSpec(true, "instance-id", "vpc-id", "subnet-id", "private-ip-address", "ip-address",
	"ipv6-address", "network-interface.addresses.private-ip-address", "network-interface.ipv6-addresses.ipv6-address",
	"instance-state-name", "instance-state-code", "availability-zone", "platform", "platform-details",
	"instance.group-id", "instance.group-name", "group-id", "group-name", "private-dns-name", "reservation-id", "owner-id")

// describeInstances is DescribeInstances in AWS's reservationSet shape (one
// reservation per instance): InstanceId.N, Filter.N, MaxResults (5–1000,
// not with InstanceId), NextToken.
func (s *service) describeInstances(c *api.Call) (any, error) {
	var names groupNames
	var snap *instanceSnapshot // the cached reads, when they may be used
	return describe(s, c, describer[store.Instance]{
		describeParams: describeParams{idParam: "InstanceId", kind: kindInstance, filters: instanceFilters, minPage: 5, maxPage: 1000,
			check: func(p awsproto.Params, ids []string) error {
				if len(ids) > 0 && p.Get("MaxResults") != "" {
					return errCombination("The parameter instancesSet cannot be used with the parameter maxResults")
				}
				return nil
			}},
		id: func(i store.Instance) string { return i.InstanceID },
		list: func(c *api.Call, q describeQuery) ([]store.Instance, error) {
			cached, ok, err := s.instanceSnapshot(c)
			if !ok {
				return s.st.ListInstances(ctx(c))
			}
			if err != nil {
				return nil, err
			}
			snap = cached
			return snap.instances(q.ids), nil
		},
		listing: "list instances",
		prepare: func(c *api.Call, insts []store.Instance) (_ []store.Instance, err error) {
			if snap != nil {
				names = snap.names
				return insts, snap.namesErr
			}
			names, err = s.groupNames(c)
			return insts, err
		},
		values: func(i store.Instance) func(string) []string { return s.instanceFilterValues(i, names) },
		render: func(pg []store.Instance, next string) any {
			xml := func(i store.Instance) reservationXML { return s.reservationXML(i, names) }
			return describeInstancesResult{ReservationSet: xmlItems(pg, xml), NextToken: next}
		},
	})
}

// groupNames maps every security group id to its name.
func (s *service) groupNames(c *api.Call) (groupNames, error) {
	groups, err := s.st.ListSecurityGroups(ctx(c), "")
	if err != nil {
		return nil, storeErr(err, "list security groups")
	}
	names := make(groupNames, len(groups))
	for _, g := range groups {
		names[g.GroupID] = g.GroupName
	}
	return names, nil
}

// instanceFilterValues answers the DescribeInstances filters for i.
func (s *service) instanceFilterValues(i store.Instance, names groupNames) func(string) []string {
	return withTagFilters(i.Tags, func(name string) []string {
		switch name {
		case "instance-id":
			return []string{i.InstanceID}
		case "vpc-id":
			return []string{i.VpcID}
		case "subnet-id":
			return []string{i.SubnetID}
		case "private-ip-address", "network-interface.addresses.private-ip-address":
			return appendIf(nil, i.PrivateIPAddress)
		case "ip-address":
			return appendIf(nil, i.PublicIPAddress)
		case "ipv6-address", "network-interface.ipv6-addresses.ipv6-address":
			return appendIf(nil, i.Ipv6Address)
		case "instance-state-name":
			return []string{i.State}
		case "instance-state-code":
			return []string{strconv.Itoa(instanceStateCode(i.State))}
		case "availability-zone":
			return []string{i.AvailabilityZone}
		case "platform":
			return appendIf(nil, i.Platform)
		case "platform-details":
			if i.Platform == platformWindows {
				return []string{"Windows"}
			}
			return []string{"Linux/UNIX"}
		case "instance.group-id", "group-id":
			return i.SecurityGroupIDs
		case "instance.group-name", "group-name":
			var out []string
			for _, g := range i.SecurityGroupIDs {
				out = append(out, names[g])
			}
			return out
		case "private-dns-name":
			return appendIf(nil, s.privateDNSName(i.PrivateIPAddress))
		case "reservation-id":
			return []string{reservationID(i.InstanceID)}
		case "owner-id":
			return []string{s.cfg.AccountID}
		}
		return nil
	})
}

// otherInstanceAttributes are ModifyInstanceAttribute parameters Postern
// does not model.
var otherInstanceAttributes = []string{"Attribute", "Value", "SourceDestCheck.Value", "DisableApiTermination.Value",
	"DisableApiStop.Value", "EbsOptimized.Value", "EnaSupport.Value", "InstanceType.Value", "Kernel.Value",
	"Ramdisk.Value", "SriovNetSupport.Value", "UserData.Value", "InstanceInitiatedShutdownBehavior.Value"}

// modifyInstanceAttribute is ModifyInstanceAttribute with GroupId.N: it
// replaces the instance's security groups (all in its VPC). Other
// attributes are not modelled (UnsupportedOperation).
func (s *service) modifyInstanceAttribute(c *api.Call) (any, error) {
	p := c.Params
	id, err := requiredID(p, "InstanceId", kindInstance)
	if err != nil {
		return nil, err
	}
	for _, name := range otherInstanceAttributes {
		if p.Has(name) {
			return nil, badRequest(codeUnsupportedOperation, "Postern supports only the GroupId attribute of instances.")
		}
	}
	ids, err := parseGroupIDs(p, "GroupId")
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, awsproto.MissingParameter("GroupId")
	}
	inst, err := s.getInstance(c, id)
	if err != nil {
		return nil, s.hideMissing(c, err, id, check{action: "ec2:ModifyInstanceAttribute", resource: s.arn(kindInstance, id)})
	}
	// The instance first: what the groups are checked against (its
	// network) is for a caller allowed on the instance to learn.
	instCheck := check{action: "ec2:ModifyInstanceAttribute", resource: s.arn(kindInstance, id), ctx: withResourceTags(policyContext(), inst.Tags)}
	if err := s.authorize(c, instCheck); err != nil {
		return nil, err
	}
	groups, err := s.groupsInVpc(c, ids, inst.VpcID, inst.SubnetID)
	if err != nil {
		return nil, err
	}
	checks := []check{instCheck}
	for _, g := range groups {
		checks = append(checks, s.groupCheck("ec2:ModifyInstanceAttribute", g))
	}
	if err := s.authorizeAndDryRun(c, checks...); err != nil {
		return nil, err
	}
	err = s.st.InTx(ctx(c), func(tx store.Repo) error {
		if err := tx.SetInstanceSecurityGroups(ctx(c), id, ids); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return kindInstance.errNotFound(id)
			}
			return storeErr(err, "set security groups of %s", id)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return returnXML{Return: true}, nil
}
