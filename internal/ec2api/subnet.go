package ec2api

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"

	"github.com/postern/postern/internal/api"
	"github.com/postern/postern/internal/awsproto"
	"github.com/postern/postern/internal/store"
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
	vpcCheck := check{action: "ec2:CreateSubnet", resource: s.arn(kindVpc, vpcID)}
	newChecks := createChecks("CreateSubnet", s.arn(kindSubnet, id), tags)
	vpc, err := s.getVpc(c, vpcID)
	if err != nil {
		return nil, s.hideMissing(c, err, vpcID, append([]check{vpcCheck}, newChecks...)...)
	}
	vpcCheck.ctx = withResourceTags(policyContext(), vpc.Tags)
	if err := s.authorize(c, append([]check{vpcCheck}, newChecks...)...); err != nil {
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
	err = s.st.InTx(ctx(c), func(tx store.Repo) error {
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
		if err := tx.CreateSubnet(ctx(c), sn); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return kindVpc.errNotFound(vpcID)
			}
			return storeErr(err, "create subnet %s", id)
		}
		return setTags(ctx(c), tx, id, tags)
	})
	if err != nil {
		return nil, err
	}
	sn.Tags = tags
	return createSubnetResult{Subnet: s.subnetXML(sn)}, nil
}

// getVpc reads a VPC, answering InvalidVpcID.NotFound when it is missing.
func (s *service) getVpc(c *api.Call, id string) (store.Vpc, error) {
	v, err := s.st.GetVpc(ctx(c), id)
	if errors.Is(err, store.ErrNotFound) {
		return v, kindVpc.errNotFound(id)
	}
	if err != nil {
		return v, storeErr(err, "get vpc %s", id)
	}
	return v, nil
}

// getSubnet reads a subnet, answering InvalidSubnetID.NotFound when it is
// missing.
func (s *service) getSubnet(c *api.Call, id string) (store.Subnet, error) {
	sn, err := s.st.GetSubnet(ctx(c), id)
	if errors.Is(err, store.ErrNotFound) {
		return sn, kindSubnet.errNotFound(id)
	}
	if err != nil {
		return sn, storeErr(err, "get subnet %s", id)
	}
	return sn, nil
}

type describeSubnetsResult struct {
	SubnetSet struct {
		Items []subnetXML `xml:"item"`
	} `xml:"subnetSet"`
	NextToken string `xml:"nextToken,omitempty"`
}

var subnetFilters = newFilterSpec(true, "vpc-id", "subnet-id", "subnet-arn", "cidr-block", "cidr", "cidrBlock",
	"availability-zone", "availabilityZone", "availability-zone-id", "availabilityZoneId", "state", "owner-id",
	"default-for-az", "defaultForAz", "ipv6-cidr-block-association.ipv6-cidr-block", "ipv6-native",
	"available-ip-address-count")

// describeSubnets is DescribeSubnets: SubnetId.N, Filter.N, MaxResults (5–1000), NextToken.
func (s *service) describeSubnets(c *api.Call) (any, error) {
	p := c.Params
	ids := dedupe(scalarList(p, "SubnetId"))
	if err := kindSubnet.checkAll(ids); err != nil {
		return nil, err
	}
	filters, err := parseFilters(p, subnetFilters)
	if err != nil {
		return nil, err
	}
	page, err := parsePage(p, c.Action, 5, 1000)
	if err != nil {
		return nil, err
	}
	if err := s.authorizeAndDryRunDescribe(c); err != nil {
		return nil, err
	}
	subnets, err := s.st.ListSubnets(ctx(c), "")
	if err != nil {
		return nil, storeErr(err, "list subnets")
	}
	subnetID := func(sn store.Subnet) string { return sn.SubnetID }
	if subnets, err = selectIDs(subnets, subnetID, ids, kindSubnet); err != nil {
		return nil, err
	}
	var matched []store.Subnet
	for _, sn := range subnets {
		if matchFilters(filters, s.subnetFilterValues(sn)) {
			matched = append(matched, sn)
		}
	}
	sortByID(matched, subnetID)
	pg, next := paginate(matched, subnetID, page, c.Action)
	var out describeSubnetsResult
	out.SubnetSet.Items = make([]subnetXML, 0, len(pg))
	for _, sn := range pg {
		out.SubnetSet.Items = append(out.SubnetSet.Items, s.subnetXML(sn))
	}
	out.NextToken = next
	return out, nil
}

// subnetFilterValues answers the DescribeSubnets filters for sn.
func (s *service) subnetFilterValues(sn store.Subnet) func(string) []string {
	return func(name string) []string {
		if vals, ok := tagFilterValues(name, sn.Tags); ok {
			return vals
		}
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
		case "ipv6-native":
			return []string{strconv.FormatBool(sn.CidrBlock == "")}
		case "available-ip-address-count":
			return []string{strconv.Itoa(usableIPv4Count(sn.CidrBlock))}
		}
		return nil
	}
}

// deleteSubnet is DeleteSubnet: the subnet must have no instances or
// endpoints (DependencyViolation).
func (s *service) deleteSubnet(c *api.Call) (any, error) {
	id, err := requiredID(c.Params, "SubnetId", kindSubnet)
	if err != nil {
		return nil, err
	}
	sn, err := s.getSubnet(c, id)
	if err != nil {
		return nil, s.hideMissing(c, err, id, check{action: "ec2:DeleteSubnet", resource: s.arn(kindSubnet, id)})
	}
	if err := s.authorizeAndDryRun(c, check{action: "ec2:DeleteSubnet", resource: s.arn(kindSubnet, id), ctx: withResourceTags(policyContext(), sn.Tags)}); err != nil {
		return nil, err
	}
	err = s.st.InTx(ctx(c), func(tx store.Repo) error {
		if err := tx.DeleteSubnet(ctx(c), id); err != nil {
			switch {
			case errors.Is(err, store.ErrInUse):
				return badRequest(codeDependencyViolation, "The subnet '%s' has dependencies and cannot be deleted.", id)
			case errors.Is(err, store.ErrNotFound):
				return kindSubnet.errNotFound(id)
			}
			return storeErr(err, "delete subnet %s", id)
		}
		return clearTags(ctx(c), tx, id)
	})
	if err != nil {
		return nil, err
	}
	return returnXML{Return: true}, nil
}
