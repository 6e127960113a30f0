package ec2api

import (
	"strconv"
	"strings"
	"time"

	"github.com/postern/postern/internal/store"
)

// Response shapes. Element names are the EC2 model's locationNames (what
// botocore matches exactly and the Go SDK case-insensitively). Lists are
// <xxxSet><item>…</item></xxxSet>; a list member that is a plain struct is
// always written, empty or not, as AWS does (<tagSet></tagSet>), while
// optional ones are pointers with omitempty.

// timeFormat is AWS's timestamp form, with milliseconds.
const timeFormat = "2006-01-02T15:04:05.000Z"

// formatTime formats t as AWS does, in UTC with milliseconds.
func formatTime(t time.Time) string { return t.UTC().Format(timeFormat) }

type tagXML struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

type tagSetXML struct {
	Items []tagXML `xml:"item"`
}

// tagSet renders tags sorted by key; none gives an empty <tagSet>.
func tagSet(tags []store.Tag) tagSetXML {
	sorted := sortTags(tags)
	out := tagSetXML{Items: make([]tagXML, 0, len(sorted))}
	for _, t := range sorted {
		out.Items = append(out.Items, tagXML{Key: t.Key, Value: t.Value})
	}
	return out
}

type stringSetXML struct {
	Items []string `xml:"item"`
}

// stringSet renders ids as <item>s; none gives an empty set. The items
// are ss itself, capacity cut to its length so that an append copies
// (rendering only reads them).
func stringSet(ss []string) stringSetXML {
	if len(ss) == 0 {
		return stringSetXML{Items: []string{}}
	}
	return stringSetXML{Items: ss[:len(ss):len(ss)]}
}

// returnXML is the <return>true</return> result of actions without output.
type returnXML struct {
	Return bool `xml:"return"`
}

// --- VPCs ---

type stateXML struct {
	State string `xml:"state"`
}

type cidrAssocXML struct {
	AssociationID  string   `xml:"associationId"`
	CidrBlock      string   `xml:"cidrBlock"`
	CidrBlockState stateXML `xml:"cidrBlockState"`
}

type ipv6AssocXML struct {
	AssociationID      string   `xml:"associationId"`
	Ipv6CidrBlock      string   `xml:"ipv6CidrBlock"`
	Ipv6CidrBlockState stateXML `xml:"ipv6CidrBlockState"`
	NetworkBorderGroup string   `xml:"networkBorderGroup,omitempty"`
}

type ipv6AssocSetXML struct {
	Items []ipv6AssocXML `xml:"item"`
}

type cidrAssocSetXML struct {
	Items []cidrAssocXML `xml:"item"`
}

type vpcXML struct {
	VpcID                       string           `xml:"vpcId"`
	OwnerID                     string           `xml:"ownerId"`
	State                       string           `xml:"state"`
	CidrBlock                   string           `xml:"cidrBlock"`
	Ipv6CidrBlockAssociationSet *ipv6AssocSetXML `xml:"ipv6CidrBlockAssociationSet,omitempty"`
	CidrBlockAssociationSet     cidrAssocSetXML  `xml:"cidrBlockAssociationSet"`
	TagSet                      tagSetXML        `xml:"tagSet"`
	InstanceTenancy             string           `xml:"instanceTenancy"`
	IsDefault                   bool             `xml:"isDefault"`
}

// assocID derives a stable association id from a resource id:
// vpc-0123… → vpc-cidr-assoc-0123….
func assocID(resourceID, kind string) string {
	prefix, rest, _ := strings.Cut(resourceID, "-")
	return prefix + "-" + kind + "-assoc-" + rest
}

// vpcXML renders a VPC.
func (s *service) vpcXML(v store.Vpc) vpcXML {
	out := vpcXML{
		VpcID: v.VpcID, OwnerID: s.cfg.AccountID, State: v.State, CidrBlock: v.CidrBlock,
		CidrBlockAssociationSet: cidrAssocSetXML{Items: []cidrAssocXML{{
			AssociationID: assocID(v.VpcID, "cidr"), CidrBlock: v.CidrBlock, CidrBlockState: stateXML{State: "associated"},
		}}},
		TagSet: tagSet(v.Tags), InstanceTenancy: "default",
	}
	if v.Ipv6CidrBlock != "" {
		out.Ipv6CidrBlockAssociationSet = &ipv6AssocSetXML{Items: []ipv6AssocXML{{
			AssociationID: ipv6AssocID(v.VpcID, v.Ipv6CidrBlock), Ipv6CidrBlock: v.Ipv6CidrBlock,
			Ipv6CidrBlockState: stateXML{State: assocAssociated}, NetworkBorderGroup: s.cfg.Region,
		}}}
	}
	return out
}

// --- subnets ---

type subnetXML struct {
	SubnetID                    string           `xml:"subnetId"`
	SubnetArn                   string           `xml:"subnetArn"`
	State                       string           `xml:"state"`
	VpcID                       string           `xml:"vpcId"`
	CidrBlock                   string           `xml:"cidrBlock,omitempty"`
	Ipv6CidrBlockAssociationSet *ipv6AssocSetXML `xml:"ipv6CidrBlockAssociationSet,omitempty"`
	AvailableIPAddressCount     int              `xml:"availableIpAddressCount"`
	AvailabilityZone            string           `xml:"availabilityZone"`
	AvailabilityZoneID          string           `xml:"availabilityZoneId"`
	DefaultForAz                bool             `xml:"defaultForAz"`
	MapPublicIPOnLaunch         bool             `xml:"mapPublicIpOnLaunch"`
	AssignIpv6AddressOnCreation bool             `xml:"assignIpv6AddressOnCreation"`
	Ipv6Native                  bool             `xml:"ipv6Native"`
	OwnerID                     string           `xml:"ownerId"`
	TagSet                      tagSetXML        `xml:"tagSet"`
}

// subnetXML renders a subnet.
func (s *service) subnetXML(sn store.Subnet) subnetXML {
	out := subnetXML{
		SubnetID: sn.SubnetID, SubnetArn: s.arn(kindSubnet, sn.SubnetID), State: sn.State, VpcID: sn.VpcID,
		CidrBlock: sn.CidrBlock, AvailableIPAddressCount: usableIPv4Count(sn.CidrBlock),
		AvailabilityZone: sn.AvailabilityZone, AvailabilityZoneID: sn.AvailabilityZoneID,
		Ipv6Native: sn.CidrBlock == "", OwnerID: s.cfg.AccountID, TagSet: tagSet(sn.Tags),
	}
	if sn.Ipv6CidrBlock != "" {
		out.Ipv6CidrBlockAssociationSet = &ipv6AssocSetXML{Items: []ipv6AssocXML{{
			AssociationID: ipv6AssocID(sn.SubnetID, sn.Ipv6CidrBlock), Ipv6CidrBlock: sn.Ipv6CidrBlock,
			Ipv6CidrBlockState: stateXML{State: assocAssociated},
		}}}
	}
	return out
}

// --- security groups ---

type pairXML struct {
	UserID      string `xml:"userId"`
	GroupID     string `xml:"groupId"`
	Description string `xml:"description,omitempty"`
}

type rangeXML struct {
	CidrIP      string `xml:"cidrIp"`
	Description string `xml:"description,omitempty"`
}

type range6XML struct {
	CidrIpv6    string `xml:"cidrIpv6"`
	Description string `xml:"description,omitempty"`
}

type ipPermissionXML struct {
	IPProtocol string `xml:"ipProtocol"`
	FromPort   *int32 `xml:"fromPort,omitempty"`
	ToPort     *int32 `xml:"toPort,omitempty"`
	Groups     struct {
		Items []pairXML `xml:"item"`
	} `xml:"groups"`
	IPRanges struct {
		Items []rangeXML `xml:"item"`
	} `xml:"ipRanges"`
	Ipv6Ranges struct {
		Items []range6XML `xml:"item"`
	} `xml:"ipv6Ranges"`
	PrefixListIDs struct{} `xml:"prefixListIds"`
}

type ipPermissionSetXML struct {
	Items []ipPermissionXML `xml:"item"`
}

type securityGroupXML struct {
	OwnerID             string             `xml:"ownerId"`
	GroupID             string             `xml:"groupId"`
	GroupName           string             `xml:"groupName"`
	GroupDescription    string             `xml:"groupDescription"`
	IPPermissions       ipPermissionSetXML `xml:"ipPermissions"`
	IPPermissionsEgress ipPermissionSetXML `xml:"ipPermissionsEgress"`
	VpcID               string             `xml:"vpcId"`
	SecurityGroupArn    string             `xml:"securityGroupArn"`
	TagSet              tagSetXML          `xml:"tagSet"`
}

// ipPermissions groups a group's rules of one direction into AWS's
// IpPermission shape: one permission per protocol and port range, listing
// its CIDRs and referenced groups, in the order the rules were listed.
func (s *service) ipPermissions(rules []store.SecurityGroupRule) ipPermissionSetXML {
	type key struct {
		proto    string
		from, to int32
	}
	var order []key
	byKey := map[key]*ipPermissionXML{}
	for _, r := range rules {
		k := key{r.IpProtocol, r.FromPort, r.ToPort}
		perm := byKey[k]
		if perm == nil {
			perm = &ipPermissionXML{IPProtocol: r.IpProtocol}
			if r.IpProtocol != protoAll {
				from, to := r.FromPort, r.ToPort
				perm.FromPort, perm.ToPort = &from, &to
			}
			byKey[k] = perm
			order = append(order, k)
		}
		switch {
		case r.CidrIpv4 != "":
			perm.IPRanges.Items = append(perm.IPRanges.Items, rangeXML{CidrIP: r.CidrIpv4, Description: r.Description})
		case r.CidrIpv6 != "":
			perm.Ipv6Ranges.Items = append(perm.Ipv6Ranges.Items, range6XML{CidrIpv6: r.CidrIpv6, Description: r.Description})
		case r.ReferencedGroupID != "":
			perm.Groups.Items = append(perm.Groups.Items, pairXML{UserID: s.cfg.AccountID, GroupID: r.ReferencedGroupID, Description: r.Description})
		}
	}
	out := ipPermissionSetXML{Items: make([]ipPermissionXML, 0, len(order))}
	for _, k := range order {
		out.Items = append(out.Items, *byKey[k])
	}
	return out
}

// securityGroupXML renders a group with its rules (rules of other groups
// are ignored).
func (s *service) securityGroupXML(g store.SecurityGroup, rules []store.SecurityGroupRule) securityGroupXML {
	var in, eg []store.SecurityGroupRule
	for _, r := range rules {
		if r.GroupID != g.GroupID {
			continue
		}
		if r.IsEgress {
			eg = append(eg, r)
		} else {
			in = append(in, r)
		}
	}
	return securityGroupXML{
		OwnerID: s.cfg.AccountID, GroupID: g.GroupID, GroupName: g.GroupName, GroupDescription: g.Description,
		IPPermissions: s.ipPermissions(in), IPPermissionsEgress: s.ipPermissions(eg),
		VpcID: g.VpcID, SecurityGroupArn: s.arn(kindGroup, g.GroupID), TagSet: tagSet(g.Tags),
	}
}

type referencedGroupXML struct {
	GroupID string `xml:"groupId"`
	UserID  string `xml:"userId"`
}

// ruleMatchXML is what a rule matches, as SecurityGroupRule and
// RevokedSecurityGroupRule both show it (its elements stand in the outer
// element, in this order).
type ruleMatchXML struct {
	IsEgress   bool   `xml:"isEgress"`
	IPProtocol string `xml:"ipProtocol"`
	FromPort   int32  `xml:"fromPort"`
	ToPort     int32  `xml:"toPort"`
	CidrIpv4   string `xml:"cidrIpv4,omitempty"`
	CidrIpv6   string `xml:"cidrIpv6,omitempty"`
}

// ruleMatch is what r matches.
func ruleMatch(r store.SecurityGroupRule) ruleMatchXML {
	return ruleMatchXML{IsEgress: r.IsEgress, IPProtocol: r.IpProtocol, FromPort: r.FromPort, ToPort: r.ToPort, CidrIpv4: r.CidrIpv4, CidrIpv6: r.CidrIpv6}
}

type securityGroupRuleXML struct {
	SecurityGroupRuleID string `xml:"securityGroupRuleId"`
	GroupID             string `xml:"groupId"`
	GroupOwnerID        string `xml:"groupOwnerId"`
	ruleMatchXML
	ReferencedGroupInfo  *referencedGroupXML `xml:"referencedGroupInfo,omitempty"`
	Description          string              `xml:"description,omitempty"`
	TagSet               tagSetXML           `xml:"tagSet"`
	SecurityGroupRuleArn string              `xml:"securityGroupRuleArn"`
}

type securityGroupRuleSetXML struct {
	Items []securityGroupRuleXML `xml:"item"`
}

// ruleXML renders one rule in the SecurityGroupRule shape.
func (s *service) ruleXML(r store.SecurityGroupRule) securityGroupRuleXML {
	out := securityGroupRuleXML{
		SecurityGroupRuleID: r.RuleID, GroupID: r.GroupID, GroupOwnerID: s.cfg.AccountID, ruleMatchXML: ruleMatch(r),
		Description: r.Description, TagSet: tagSetXML{Items: []tagXML{}},
		SecurityGroupRuleArn: s.arn(kindRule, r.RuleID),
	}
	if r.ReferencedGroupID != "" {
		out.ReferencedGroupInfo = &referencedGroupXML{GroupID: r.ReferencedGroupID, UserID: s.cfg.AccountID}
	}
	return out
}

// ruleSetXML renders rules as a securityGroupRuleSet.
func (s *service) ruleSetXML(rules []store.SecurityGroupRule) securityGroupRuleSetXML {
	out := securityGroupRuleSetXML{Items: make([]securityGroupRuleXML, 0, len(rules))}
	for _, r := range rules {
		out.Items = append(out.Items, s.ruleXML(r))
	}
	return out
}

type revokedRuleXML struct {
	SecurityGroupRuleID string `xml:"securityGroupRuleId"`
	GroupID             string `xml:"groupId"`
	ruleMatchXML
	ReferencedGroupID string `xml:"referencedGroupId,omitempty"`
	Description       string `xml:"description,omitempty"`
}

// --- instances ---

type instanceStateXML struct {
	Code int    `xml:"code"`
	Name string `xml:"name"`
}

type placementXML struct {
	AvailabilityZone   string `xml:"availabilityZone"`
	AvailabilityZoneID string `xml:"availabilityZoneId,omitempty"`
	GroupName          string `xml:"groupName"`
	Tenancy            string `xml:"tenancy"`
}

type groupIdentifierXML struct {
	GroupID   string `xml:"groupId"`
	GroupName string `xml:"groupName"`
}

type groupSetXML struct {
	Items []groupIdentifierXML `xml:"item"`
}

type instanceXML struct {
	InstanceID       string           `xml:"instanceId"`
	InstanceState    instanceStateXML `xml:"instanceState"`
	PrivateDNSName   string           `xml:"privateDnsName"`
	DNSName          string           `xml:"dnsName"`
	LaunchTime       string           `xml:"launchTime"`
	Placement        placementXML     `xml:"placement"`
	Platform         string           `xml:"platform,omitempty"`
	SubnetID         string           `xml:"subnetId"`
	VpcID            string           `xml:"vpcId"`
	PrivateIPAddress string           `xml:"privateIpAddress"`
	IPAddress        string           `xml:"ipAddress,omitempty"`
	GroupSet         groupSetXML      `xml:"groupSet"`
	Ipv6Address      string           `xml:"ipv6Address,omitempty"`
	TagSet           tagSetXML        `xml:"tagSet"`
	PlatformDetails  string           `xml:"platformDetails"`
}

type instancesSetXML struct {
	Items []instanceXML `xml:"item"`
}

// reservationXML is one reservation of DescribeInstances, and the whole
// result of RunInstances-shaped actions (RegisterInstance).
type reservationXML struct {
	ReservationID string          `xml:"reservationId"`
	OwnerID       string          `xml:"ownerId"`
	GroupSet      groupSetXML     `xml:"groupSet"`
	InstancesSet  instancesSetXML `xml:"instancesSet"`
}

// instance states (AWS's codes).
const (
	instanceRunning     = "running"
	instanceRunningCode = 16
)

// privateDNSName is the name EC2 gives a private IPv4 address:
// ip-10-0-1-5.ec2.internal in us-east-1, ip-10-0-1-5.<region>.compute.internal elsewhere.
func (s *service) privateDNSName(ip string) string {
	if ip == "" {
		return ""
	}
	host := "ip-" + strings.ReplaceAll(ip, ".", "-")
	if s.cfg.Region == "us-east-1" {
		return host + ".ec2.internal"
	}
	return host + "." + s.cfg.Region + ".compute.internal"
}

// groupNames maps security group ids to names for groupSet.
type groupNames map[string]string

// instanceXML renders an instance; names maps group ids to names.
func (s *service) instanceXML(i store.Instance, names groupNames) instanceXML {
	out := instanceXML{
		InstanceID:     i.InstanceID,
		InstanceState:  instanceStateXML{Code: instanceStateCode(i.State), Name: i.State},
		PrivateDNSName: s.privateDNSName(i.PrivateIPAddress), LaunchTime: formatTime(i.LaunchTime),
		Placement: placementXML{AvailabilityZone: i.AvailabilityZone, AvailabilityZoneID: s.azID(i.AvailabilityZone), Tenancy: "default"},
		Platform:  i.Platform, SubnetID: i.SubnetID, VpcID: i.VpcID, PrivateIPAddress: i.PrivateIPAddress,
		IPAddress: i.PublicIPAddress, Ipv6Address: i.Ipv6Address, TagSet: tagSet(i.Tags),
		PlatformDetails: "Linux/UNIX",
	}
	if i.Platform == platformWindows {
		out.PlatformDetails = "Windows"
	}
	out.GroupSet.Items = []groupIdentifierXML{}
	for _, g := range i.SecurityGroupIDs {
		out.GroupSet.Items = append(out.GroupSet.Items, groupIdentifierXML{GroupID: g, GroupName: names[g]})
	}
	return out
}

// instanceStateCode is AWS's numeric code of an instance state.
func instanceStateCode(state string) int {
	switch state {
	case "pending":
		return 0
	case instanceRunning:
		return instanceRunningCode
	case "shutting-down":
		return 32
	case "terminated":
		return 48
	case "stopping":
		return 64
	case "stopped":
		return 80
	}
	return instanceRunningCode
}

// reservationID derives a stable reservation id from an instance id.
func reservationID(instanceID string) string {
	return "r-" + strings.TrimPrefix(instanceID, "i-")
}

// reservationXML renders an instance as a reservation of its own.
func (s *service) reservationXML(i store.Instance, names groupNames) reservationXML {
	return reservationXML{
		ReservationID: reservationID(i.InstanceID), OwnerID: s.cfg.AccountID,
		GroupSet:     groupSetXML{Items: []groupIdentifierXML{}},
		InstancesSet: instancesSetXML{Items: []instanceXML{s.instanceXML(i, names)}},
	}
}

// --- tags ---

type tagDescriptionXML struct {
	ResourceID   string `xml:"resourceId"`
	ResourceType string `xml:"resourceType"`
	Key          string `xml:"key"`
	Value        string `xml:"value"`
}

// --- Instance Connect Endpoints ---

// endpointXML is an Ec2InstanceConnectEndpoint, members in the order the
// real clients were shown (see docs/aws-compat.md §2.5, §7).
type endpointXML struct {
	OwnerID                    string       `xml:"ownerId"`
	InstanceConnectEndpointID  string       `xml:"instanceConnectEndpointId"`
	InstanceConnectEndpointArn string       `xml:"instanceConnectEndpointArn"`
	State                      string       `xml:"state"`
	StateMessage               string       `xml:"stateMessage"`
	DNSName                    string       `xml:"dnsName"`
	FipsDNSName                string       `xml:"fipsDnsName"`
	NetworkInterfaceIDSet      stringSetXML `xml:"networkInterfaceIdSet"`
	VpcID                      string       `xml:"vpcId"`
	AvailabilityZone           string       `xml:"availabilityZone"`
	CreatedAt                  string       `xml:"createdAt"`
	SubnetID                   string       `xml:"subnetId"`
	PreserveClientIP           bool         `xml:"preserveClientIp"`
	SecurityGroupIDSet         stringSetXML `xml:"securityGroupIdSet"`
	TagSet                     tagSetXML    `xml:"tagSet"`
	IPAddressType              string       `xml:"ipAddressType"`
	AvailabilityZoneID         string       `xml:"availabilityZoneId"`
}

// endpointToXML renders an endpoint.
func endpointToXML(e store.Endpoint) endpointXML {
	return endpointXML{
		OwnerID: e.OwnerID, InstanceConnectEndpointID: e.EndpointID, InstanceConnectEndpointArn: e.ARN,
		State: e.State, StateMessage: e.StateMessage, DNSName: e.DNSName, FipsDNSName: e.FipsDNSName,
		NetworkInterfaceIDSet: stringSet(e.NetworkInterfaceIDs), VpcID: e.VpcID,
		AvailabilityZone: e.AvailabilityZone, CreatedAt: formatTime(e.CreatedAt), SubnetID: e.SubnetID,
		PreserveClientIP: e.PreserveClientIP, SecurityGroupIDSet: stringSet(e.SecurityGroupIDs),
		TagSet: tagSet(e.Tags), IPAddressType: e.IPAddressType, AvailabilityZoneID: e.AvailabilityZoneID,
	}
}

// itoa32 formats a port for messages.
func itoa32(n int32) string { return strconv.FormatInt(int64(n), 10) }
