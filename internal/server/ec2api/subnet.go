package ec2api

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/postern/postern/internal/server/api"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/wire/awsproto"
)

type createSubnetResult struct {
	Subnet subnetXML `xml:"subnet"`
}

// subnetZone resolves AvailabilityZone / AvailabilityZoneId (default the
// region's first zone).
func (s *service) subnetZone(p awsproto.Params) (zone, zoneID string, err error) {
	name, id := p.Get("AvailabilityZone"), p.Get("AvailabilityZoneId")
	switch {
	case name != "":
		zoneID = s.azID(name)
		if zoneID == "" {
			return "", "", awsproto.InvalidParameterValue("Value (%s) for parameter availabilityZone is invalid. Subnets can currently only be created in the following availability zones: %s.", name, strings.Join(s.zones(), ", "))
		}
		if id != "" && id != zoneID {
			return "", "", errCombination("The parameters AvailabilityZone (%s) and AvailabilityZoneId (%s) name different zones.", name, id)
		}
		return name, zoneID, nil
	case id != "":
		zone, ok := s.azByID(id)
		if !ok {
			return "", "", awsproto.InvalidParameterValue("Value (%s) for parameter availabilityZoneId is invalid.", id)
		}
		return zone, id, nil
	}
	zone = s.zones()[0]
	return zone, s.azID(zone), nil
}

// createSubnet is CreateSubnet: VpcId, CidrBlock (/16–/28 inside the
// VPC's block, overlapping no other subnet of the VPC), Ipv6CidrBlock (a
// /64 of the VPC's IPv6 block), Ipv6Native, AvailabilityZone or
// AvailabilityZoneId, TagSpecification.N.
func (s *service) createSubnet(c *api.Call) (any, error) {
	p := c.Params
	vpcID, err := requiredID(p, "VpcId", kindVpc)
	if err != nil {
		return nil, err
	}
	native, err := p.Bool("Ipv6Native", false)
	if err != nil {
		return nil, err
	}
	cidr, cidr6 := p.Get("CidrBlock"), p.Get("Ipv6CidrBlock")
	var v4, v6 netip.Prefix
	switch {
	case native && cidr != "":
		return nil, errCombination("The parameter CidrBlock cannot be used with Ipv6Native.")
	case native && cidr6 == "":
		return nil, awsproto.MissingParameter("Ipv6CidrBlock")
	case !native && cidr == "":
		return nil, awsproto.MissingParameter("CidrBlock")
	}
	if cidr != "" {
		if v4, err = parseCIDR(cidr, 4, minSubnetPrefix4, maxSubnetPrefix4); err != nil {
			return nil, cidrError(err, cidr, "CidrBlock", codeSubnetRange)
		}
	}
	if cidr6 != "" {
		if v6, err = parseCIDR(cidr6, 6, subnetPrefix6, subnetPrefix6); err != nil {
			return nil, cidrError(err, cidr6, "Ipv6CidrBlock", codeSubnetRange)
		}
	}
	zone, zoneID, err := s.subnetZone(p)
	if err != nil {
		return nil, err
	}
	tags, err := parseTagSpecs(p, kindSubnet.arnType)
	if err != nil {
		return nil, err
	}
	if _, err := dryRun(c); err != nil {
		return nil, err
	}
	// The VPC is authorized first, and before anything about it (whether
	// the blocks fit it) is told: on the ARN built from its id when it
	// does not exist.
	id := s.newID(kindSubnet)
	vpc, err := authorizeCreateIn(s, c, vpcID, s.getVpc, func(v store.Vpc) []store.Tag { return v.Tags },
		check{action: "ec2:CreateSubnet", resource: s.arn(kindVpc, vpcID)},
		createChecks("CreateSubnet", s.arn(kindSubnet, id), tags), s.authorize)
	if err != nil {
		return nil, err
	}
	if v4.IsValid() && !containsPrefix(mustPrefix(vpc.CidrBlock), v4) {
		return nil, badRequest(codeSubnetRange, "The CIDR '%s' is invalid.", cidr)
	}
	if v6.IsValid() && !containsPrefix(mustPrefix(vpc.Ipv6CidrBlock), v6) {
		return nil, badRequest(codeSubnetRange, "The IPv6 CIDR '%s' is invalid.", cidr6)
	}
	if err := honourDryRun(c); err != nil {
		return nil, err
	}
	sn := store.Subnet{
		SubnetID: id, VpcID: vpcID, AvailabilityZone: zone, AvailabilityZoneID: zoneID,
		State: stateAvailable, CreateDate: s.now(),
	}
	if v4.IsValid() {
		sn.CidrBlock = v4.String()
	}
	if v6.IsValid() {
		sn.Ipv6CidrBlock = v6.String()
	}
	err = s.createTagged(c, id, tags, func(tx store.Repo) error {
		others, err := tx.ListSubnets(ctx(c), vpcID)
		if err != nil {
			return storeErr(err, "list subnets of %s", vpcID)
		}
		for _, o := range others {
			if v4.IsValid() && mustPrefix(o.CidrBlock).IsValid() && mustPrefix(o.CidrBlock).Overlaps(v4) {
				return badRequest(codeSubnetConflict, "The CIDR '%s' conflicts with another subnet", cidr)
			}
			if v6.IsValid() && mustPrefix(o.Ipv6CidrBlock).IsValid() && mustPrefix(o.Ipv6CidrBlock).Overlaps(v6) {
				return badRequest(codeSubnetConflict, "The IPv6 CIDR '%s' conflicts with another subnet", cidr6)
			}
		}
		return createErr(tx.CreateSubnet(ctx(c), sn), kindSubnet, id, kindVpc, vpcID)
	})
	if err != nil {
		return nil, err
	}
	sn.Tags = tags
	return createSubnetResult{Subnet: s.subnetXML(sn)}, nil
}

// getVpc reads a VPC, answering InvalidVpcID.NotFound when it is missing.
func (s *service) getVpc(c *api.Call, id string) (store.Vpc, error) {
	return getOne(c, kindVpc, id, s.st.GetVpc)
}

// getSubnet reads a subnet, answering InvalidSubnetID.NotFound when it is
// missing.
func (s *service) getSubnet(c *api.Call, id string) (store.Subnet, error) {
	return getOne(c, kindSubnet, id, s.st.GetSubnet)
}

type describeSubnetsResult struct {
	SubnetSet itemSet[subnetXML] `xml:"subnetSet"`
	NextToken string             `xml:"nextToken,omitempty"`
}

var subnetFilters = newFilterSpec(true, "vpc-id", "subnet-id", "subnet-arn", "cidr-block", "cidr", "cidrBlock",
	"availability-zone", "availabilityZone", "availability-zone-id", "availabilityZoneId", "state", "owner-id",
	"default-for-az", "defaultForAz", "ipv6-cidr-block-association.ipv6-cidr-block",
	"ipv6-cidr-block-association.association-id", "ipv6-cidr-block-association.state", "ipv6-native",
	"available-ip-address-count")

// describeSubnets is DescribeSubnets: SubnetId.N, Filter.N, MaxResults (5–1000), NextToken.
func (s *service) describeSubnets(c *api.Call) (any, error) {
	return describe(s, c, describer[store.Subnet]{
		describeParams: describeParams{idParam: "SubnetId", kind: kindSubnet, filters: subnetFilters, minPage: 5, maxPage: 1000},
		id:             func(sn store.Subnet) string { return sn.SubnetID },
		list:           func(c *api.Call, _ describeQuery) ([]store.Subnet, error) { return s.st.ListSubnets(ctx(c), "") },
		listing:        "list subnets",
		values:         s.subnetFilterValues,
		render: func(pg []store.Subnet, next string) any {
			return describeSubnetsResult{SubnetSet: xmlItems(pg, s.subnetXML), NextToken: next}
		},
	})
}

// subnetFilterValues answers the DescribeSubnets filters for sn.
func (s *service) subnetFilterValues(sn store.Subnet) func(string) []string {
	return withTagFilters(sn.Tags, func(name string) []string {
		switch name {
		case "vpc-id":
			return []string{sn.VpcID}
		case "subnet-id":
			return []string{sn.SubnetID}
		case "subnet-arn":
			return []string{s.arn(kindSubnet, sn.SubnetID)}
		case "cidr-block", "cidr", "cidrBlock":
			if sn.CidrBlock != "" {
				return []string{sn.CidrBlock}
			}
		case "availability-zone", "availabilityZone":
			return []string{sn.AvailabilityZone}
		case "availability-zone-id", "availabilityZoneId":
			return []string{sn.AvailabilityZoneID}
		case "state":
			return []string{sn.State}
		case "owner-id":
			return []string{s.cfg.AccountID}
		case "default-for-az", "defaultForAz":
			return []string{"false"}
		case "ipv6-cidr-block-association.ipv6-cidr-block":
			if sn.Ipv6CidrBlock != "" {
				return []string{sn.Ipv6CidrBlock}
			}
		case "ipv6-cidr-block-association.association-id":
			if sn.Ipv6CidrBlock != "" {
				return []string{ipv6AssocID(sn.SubnetID, sn.Ipv6CidrBlock)}
			}
		case "ipv6-cidr-block-association.state":
			if sn.Ipv6CidrBlock != "" {
				return []string{assocAssociated}
			}
		case "ipv6-native":
			return []string{strconv.FormatBool(sn.CidrBlock == "")}
		case "available-ip-address-count":
			return []string{strconv.Itoa(usableIPv4Count(sn.CidrBlock))}
		}
		return nil
	})
}

// deleteSubnet is DeleteSubnet: the subnet must have no instances or
// endpoints (DependencyViolation).
func (s *service) deleteSubnet(c *api.Call) (any, error) {
	return deleteOne(s, c, deletion[store.Subnet]{
		action: "ec2:DeleteSubnet", idParam: "SubnetId", kind: kindSubnet,
		get:  s.getSubnet,
		tags: func(sn store.Subnet) []store.Tag { return sn.Tags },
		del: func(c *api.Call, tx store.Repo, id string) error {
			return deleteErr(tx.DeleteSubnet(ctx(c), id), kindSubnet, id, "The subnet '%s' has dependencies and cannot be deleted.")
		},
	})
}
