package store

import (
	"context"
	"time"
)

// EC2 groups the repositories of the private-network model (VPCs, subnets,
// security groups, registered instances), the Instance Connect Endpoints,
// resource tags and idempotency tokens.
type EC2 interface {
	Vpcs
	Subnets
	SecurityGroups
	Instances
	Endpoints
	ResourceTags
	ClientTokens
}

// Vpc is a private network.
type Vpc struct {
	VpcID         string // vpc-…
	CidrBlock     string // IPv4 CIDR, canonical form
	Ipv6CidrBlock string // "" when none
	State         string // "available"
	CreateDate    time.Time
	Tags          []Tag // filled by Get/List from ResourceTags
}

// Vpcs is the VPC repository.
type Vpcs interface {
	CreateVpc(ctx context.Context, v Vpc) error
	GetVpc(ctx context.Context, vpcID string) (Vpc, error)
	// ListVpcs returns all VPCs ordered by id.
	ListVpcs(ctx context.Context) ([]Vpc, error)
	// DeleteVpc returns ErrInUse while subnets, security groups other than
	// the default one, instances or endpoints reference the VPC; it deletes
	// the VPC's default security group with it.
	DeleteVpc(ctx context.Context, vpcID string) error
	// SetVpcIpv6CidrBlock sets (or, with "", removes) the VPC's IPv6
	// block; ErrNotFound when the VPC does not exist. The caller checks
	// that no subnet uses a block it removes.
	SetVpcIpv6CidrBlock(ctx context.Context, vpcID, cidr string) error
}

// Subnet is a CIDR inside a VPC.
type Subnet struct {
	SubnetID           string // subnet-…
	VpcID              string
	CidrBlock          string
	Ipv6CidrBlock      string
	AvailabilityZone   string
	AvailabilityZoneID string
	State              string // "available"
	CreateDate         time.Time
	Tags               []Tag
}

// Subnets is the subnet repository.
type Subnets interface {
	// CreateSubnet returns ErrNotFound when the VPC does not exist.
	CreateSubnet(ctx context.Context, s Subnet) error
	GetSubnet(ctx context.Context, subnetID string) (Subnet, error)
	// ListSubnets returns subnets ordered by id; vpcID "" means all.
	ListSubnets(ctx context.Context, vpcID string) ([]Subnet, error)
	// DeleteSubnet returns ErrInUse while instances or endpoints use it.
	DeleteSubnet(ctx context.Context, subnetID string) error
	// SetSubnetIpv6CidrBlock sets (or, with "", removes) the subnet's
	// IPv6 block; ErrNotFound when the subnet does not exist. The caller
	// checks that nothing uses a block it removes.
	SetSubnetIpv6CidrBlock(ctx context.Context, subnetID, cidr string) error
}

// SecurityGroup is a set of rules evaluated for every tunnel.
type SecurityGroup struct {
	GroupID     string // sg-…
	GroupName   string // unique within its VPC
	Description string
	VpcID       string
	IsDefault   bool // the VPC's "default" group
	CreateDate  time.Time
	Tags        []Tag
}

// SecurityGroupRule is one ingress or egress rule.
type SecurityGroupRule struct {
	RuleID            string // sgr-…
	GroupID           string
	IsEgress          bool
	IpProtocol        string // "tcp", "udp", "icmp", "icmpv6" or "-1" (all)
	FromPort          int32  // -1 for all
	ToPort            int32  // -1 for all
	CidrIpv4          string // exactly one of CidrIpv4, CidrIpv6, ReferencedGroupID is set
	CidrIpv6          string
	ReferencedGroupID string
	Description       string
}

// SecurityGroups is the security-group repository, including rules.
type SecurityGroups interface {
	// CreateSecurityGroup returns ErrConflict when the name exists in the VPC.
	CreateSecurityGroup(ctx context.Context, g SecurityGroup) error
	GetSecurityGroup(ctx context.Context, groupID string) (SecurityGroup, error)
	// GetSecurityGroupByName finds a group by VPC and name.
	GetSecurityGroupByName(ctx context.Context, vpcID, name string) (SecurityGroup, error)
	// ListSecurityGroups returns groups ordered by id; vpcID "" means all.
	ListSecurityGroups(ctx context.Context, vpcID string) ([]SecurityGroup, error)
	// DeleteSecurityGroup returns ErrInUse while instances or endpoints use
	// the group or other groups' rules reference it.
	DeleteSecurityGroup(ctx context.Context, groupID string) error
	// AddSecurityGroupRules adds rules; ErrConflict when an identical rule
	// (same direction, protocol, ports and peer) exists.
	AddSecurityGroupRules(ctx context.Context, rules []SecurityGroupRule) error
	// RemoveSecurityGroupRules deletes rules by id.
	RemoveSecurityGroupRules(ctx context.Context, ruleIDs []string) error
	// ListSecurityGroupRules returns the rules of the groups (all groups when
	// groupIDs is empty), ordered by group then rule id.
	ListSecurityGroupRules(ctx context.Context, groupIDs []string) ([]SecurityGroupRule, error)
}

// Instance is a registered server in a subnet.
type Instance struct {
	InstanceID       string // i-…
	SubnetID         string
	VpcID            string
	PrivateIPAddress string
	Ipv6Address      string
	PublicIPAddress  string
	Platform         string // "" (Linux) or "windows"
	AvailabilityZone string
	State            string // "running"
	SecurityGroupIDs []string
	LaunchTime       time.Time
	Tags             []Tag
}

// Instances is the registered-instance repository.
type Instances interface {
	// CreateInstance returns ErrConflict when the private address is taken in the VPC.
	CreateInstance(ctx context.Context, i Instance) error
	GetInstance(ctx context.Context, instanceID string) (Instance, error)
	// FindInstanceByAddress returns the instance of the VPC whose private
	// IPv4 address or IPv6 address is ip (canonical text form), or
	// ErrNotFound.
	FindInstanceByAddress(ctx context.Context, vpcID, ip string) (Instance, error)
	// ListInstances returns instances ordered by id.
	ListInstances(ctx context.Context) ([]Instance, error)
	// SetInstanceSecurityGroups replaces the instance's groups.
	SetInstanceSecurityGroups(ctx context.Context, instanceID string, groupIDs []string) error
	DeleteInstance(ctx context.Context, instanceID string) error
}

// Endpoint is an Instance Connect Endpoint.
type Endpoint struct {
	EndpointID          string // eice-…
	ARN                 string
	OwnerID             string
	State               string
	StateMessage        string
	DNSName             string
	FipsDNSName         string
	SubnetID            string
	VpcID               string
	AvailabilityZone    string
	AvailabilityZoneID  string
	PreserveClientIP    bool
	IPAddressType       string
	SecurityGroupIDs    []string
	NetworkInterfaceIDs []string
	ClientToken         string
	CreatedAt           time.Time
	// DeletedAt is set when the endpoint reached delete-complete; such
	// endpoints stay listed for a while, then are purged.
	DeletedAt time.Time
	Tags      []Tag
}

// Endpoints is the Instance Connect Endpoint repository.
type Endpoints interface {
	CreateEndpoint(ctx context.Context, e Endpoint) error
	GetEndpoint(ctx context.Context, endpointID string) (Endpoint, error)
	// ListEndpoints returns endpoints ordered by id.
	ListEndpoints(ctx context.Context) ([]Endpoint, error)
	// UpdateEndpoint replaces the mutable fields (state, message, groups,
	// preserve-client-ip, ip address type, interfaces, deleted-at, DNS
	// names).
	UpdateEndpoint(ctx context.Context, e Endpoint) error
	// PurgeEndpoints removes endpoints deleted before t.
	PurgeEndpoints(ctx context.Context, before time.Time) (int, error)
	// ListEndpointsPage returns the endpoints q selects, ordered by id,
	// reading only those rows (a page of a listing without a full scan).
	ListEndpointsPage(ctx context.Context, q EndpointQuery) ([]Endpoint, error)
}

// EndpointQuery selects endpoints for ListEndpointsPage. Every non-empty
// list restricts the result to records whose field is one of its values.
type EndpointQuery struct {
	AfterID   string // only ids greater than this
	Limit     int    // at most this many; 0 for all
	IDs       []string
	VpcIDs    []string
	SubnetIDs []string
	States    []string
}

// ResourceTags holds tags of EC2 resources, keyed by resource id.
type ResourceTags interface {
	// SetTags adds or overwrites tags on a resource.
	SetTags(ctx context.Context, resourceID string, tags []Tag) error
	// DeleteTags removes tags by key; a tag with a non-empty Value is
	// removed only when its value matches.
	DeleteTags(ctx context.Context, resourceID string, tags []Tag) error
	// ListTags returns (resource id → tags) for the ids, or for every
	// resource when ids is empty.
	ListTags(ctx context.Context, resourceIDs []string) (map[string][]Tag, error)
}

// ClientToken records an idempotent create.
type ClientToken struct {
	Token      string
	Action     string
	ParamsHash string // hash of the request's parameters, to detect mismatches
	ResourceID string
	CreateDate time.Time
}

// ClientTokens is the idempotency-token repository.
type ClientTokens interface {
	// PutClientToken returns ErrConflict when the token exists for the action.
	PutClientToken(ctx context.Context, t ClientToken) error
	GetClientToken(ctx context.Context, action, token string) (ClientToken, error)
}
