// Package ec2api serves the part of the Amazon EC2 Query API that Postern
// implements: the private-network model (VPCs, subnets, security groups
// and their rules), registered instances (Postern's RegisterInstance and
// DeregisterInstance stand in for RunInstances and TerminateInstances: an
// instance is an existing server that an operator registers), resource tags
// and EC2 Instance Connect Endpoints.
//
// Requests and responses follow the EC2 flavour of the Query protocol
// exactly as the AWS SDKs and the AWS CLI send and parse them
// (docs/aws-compat.md §2, §7). Every action is authorized with
// AWS's action names, resource ARNs and condition keys before it acts.
// This package is the only place where EC2 error codes are produced; the
// store below it returns plain Go errors. Every request that writes more
// than one record writes them in one store transaction, so a failed request
// leaves nothing half-created.
package ec2api

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/postern/postern/internal/server/api"
	"github.com/postern/postern/internal/server/endpoints"
	"github.com/postern/postern/internal/server/policy"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/wire/awsid"
	"github.com/postern/postern/internal/wire/awsproto"
)

// Service identity, as EC2 clients use it.
const (
	// SigningName is the SigV4 service name EC2 clients sign with.
	SigningName = "ec2"
	// Namespace is the XML namespace of EC2 responses (with the trailing
	// slash real responses carry).
	Namespace = "http://ec2.amazonaws.com/doc/2016-11-15/"
	// APIVersion is the Version parameter EC2 clients send.
	APIVersion = "2016-11-15"
)

// Defaults of Config.
const (
	// DefaultEndpointsPerVPC and DefaultEndpointsPerSubnet are AWS's
	// quotas: one Instance Connect Endpoint per VPC and per subnet.
	DefaultEndpointsPerVPC    = 1
	DefaultEndpointsPerSubnet = 1
	// DefaultDeletedRetention is how long deleted endpoints stay listed.
	DefaultDeletedRetention = time.Hour
)

// Config configures the EC2 service.
type Config struct {
	// Store holds the EC2 records. Required.
	Store store.Store
	// AccountID and Region are the installation's account and region;
	// they appear in ARNs, owner ids and availability zones. Required.
	AccountID, Region string
	// DNSName is the server's public host name: every endpoint's dnsName
	// and fipsDnsName, where clients open tunnels. Required.
	DNSName string
	// EndpointsPerVPC and EndpointsPerSubnet are the endpoint quotas:
	// 0 means the default (1 and 1, as AWS), -1 means unlimited.
	EndpointsPerVPC, EndpointsPerSubnet int
	// DeletedRetention is how long delete-complete endpoints stay listed
	// before they are purged (lazily, by the next listing). 0 means the
	// default, one hour.
	DeletedRetention time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Endpoints is the endpoints' and agents' life cycle, shared with the
	// tunnel side (which connects its agents to it). Nil makes one over
	// Store with no agents connected (tests of the API alone).
	Endpoints *endpoints.Endpoints
	// JoinServer (host:port) and JoinCAPin (hex SHA-256 of the CA
	// certificate) go into join tokens; without them
	// CreateEndpointJoinToken is unavailable.
	JoinServer, JoinCAPin string
	// JoinTokenTTL is the default lifetime of join tokens (15 minutes).
	JoinTokenTTL time.Duration
	// IPv6Pool is where AmazonProvidedIpv6CidrBlock takes a VPC's /56
	// from: an IPv6 prefix of /56 or shorter; default DefaultIPv6Pool
	// (fd00::/8, a random ULA /56 per VPC).
	IPv6Pool netip.Prefix
	// IDs makes resource ids for a prefix ("vpc", "subnet", "sg", "sgr",
	// "i", "eice"); default awsid.EC2. Tests inject a deterministic one.
	IDs func(prefix string) string
}

// withDefaults validates cfg and fills in its defaults.
func (cfg Config) withDefaults() (Config, error) {
	var missing []string
	if cfg.Store == nil {
		missing = append(missing, "Store")
	}
	if cfg.AccountID == "" {
		missing = append(missing, "AccountID")
	}
	if cfg.Region == "" {
		missing = append(missing, "Region")
	}
	if cfg.DNSName == "" {
		missing = append(missing, "DNSName")
	}
	if len(missing) > 0 {
		return cfg, fmt.Errorf("ec2api: Config needs %s", strings.Join(missing, ", "))
	}
	if cfg.EndpointsPerVPC == 0 {
		cfg.EndpointsPerVPC = DefaultEndpointsPerVPC
	}
	if cfg.EndpointsPerSubnet == 0 {
		cfg.EndpointsPerSubnet = DefaultEndpointsPerSubnet
	}
	if cfg.EndpointsPerVPC < -1 || cfg.EndpointsPerSubnet < -1 {
		return cfg, errors.New("ec2api: endpoint quotas must be positive, 0 (default) or -1 (unlimited)")
	}
	if cfg.DeletedRetention == 0 {
		cfg.DeletedRetention = DefaultDeletedRetention
	}
	if cfg.DeletedRetention < 0 {
		return cfg, errors.New("ec2api: DeletedRetention must not be negative")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.IDs == nil {
		cfg.IDs = awsid.EC2
	}
	if !cfg.IPv6Pool.IsValid() {
		cfg.IPv6Pool = DefaultIPv6Pool
	}
	if err := checkIPv6Pool(cfg.IPv6Pool); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// service implements the actions.
type service struct {
	cfg Config
	st  store.Store
	eps *endpoints.Endpoints
	// purgedAt is when paged listings last purged expired deleted
	// endpoints (unix seconds); see maybePurge.
	purgedAt atomic.Int64
	// base is baseContext, built once (checkContext); read-only.
	baseOnce sync.Once
	base     policy.Context
	// epDesc is describeEndpoints' describer, built once; read-only.
	epDescOnce sync.Once
	epDesc     describer[store.Endpoint]
	// instances caches DescribeInstances' reads (instancecache.go); nil
	// in services made otherwise than by newService.
	instances *instanceCache
	// iamActions maps each action name to its IAM action ("ec2:" + name),
	// built once by NewEC2; read-only (nil in services made otherwise).
	iamActions map[string]string
}

// newService validates cfg and builds the action implementations.
func newService(cfg Config) (*service, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	eps := cfg.Endpoints
	if eps == nil {
		if eps, err = endpoints.New(endpoints.Config{Store: cfg.Store, Now: cfg.Now, IDs: cfg.IDs}); err != nil {
			return nil, err
		}
	}
	return &service{cfg: cfg, st: cfg.Store, eps: eps, instances: newInstanceCache(cfg.Store)}, nil
}

// NewEC2 returns the EC2 service for the API dispatcher.
func NewEC2(cfg Config) (*api.Service, error) {
	s, err := newService(cfg)
	if err != nil {
		return nil, err
	}
	actions := s.actions()
	s.iamActions = make(map[string]string, len(actions))
	for name := range actions {
		s.iamActions[name] = "ec2:" + name
	}
	return &api.Service{
		SigningName: SigningName,
		Protocol:    api.ProtocolEC2,
		Namespace:   Namespace,
		Version:     APIVersion,
		Actions:     actions,
	}, nil
}

// actions maps every action name to its implementation.
func (s *service) actions() map[string]api.ActionFunc {
	return map[string]api.ActionFunc{
		"CreateVpc":    s.createVpc,
		"DescribeVpcs": s.describeVpcs,
		"DeleteVpc":    s.deleteVpc,

		"AssociateVpcCidrBlock":       s.associateVpcCidrBlock,
		"DisassociateVpcCidrBlock":    s.disassociateVpcCidrBlock,
		"AssociateSubnetCidrBlock":    s.associateSubnetCidrBlock,
		"DisassociateSubnetCidrBlock": s.disassociateSubnetCidrBlock,

		"CreateSubnet":    s.createSubnet,
		"DescribeSubnets": s.describeSubnets,
		"DeleteSubnet":    s.deleteSubnet,

		"CreateSecurityGroup":           s.createSecurityGroup,
		"DescribeSecurityGroups":        s.describeSecurityGroups,
		"DeleteSecurityGroup":           s.deleteSecurityGroup,
		"AuthorizeSecurityGroupIngress": s.authorizeIngress,
		"AuthorizeSecurityGroupEgress":  s.authorizeEgress,
		"RevokeSecurityGroupIngress":    s.revokeIngress,
		"RevokeSecurityGroupEgress":     s.revokeEgress,
		"DescribeSecurityGroupRules":    s.describeSecurityGroupRules,

		"CreateEndpointJoinToken": s.createJoinToken,
		"DescribeEndpointAgents":  s.describeAgents,
		"RevokeEndpointAgent":     s.revokeAgent,

		"RegisterInstance":          s.registerInstance,
		"DeregisterInstance":        s.deregisterInstance,
		"DescribeInstances":         s.describeInstances,
		"ModifyInstanceAttribute":   s.modifyInstanceAttribute,
		"CreateTags":                s.createTags,
		"DeleteTags":                s.deleteTags,
		"DescribeTags":              s.describeTags,
		"DescribeAvailabilityZones": s.describeAvailabilityZones,

		"CreateInstanceConnectEndpoint":    s.createEndpoint,
		"DescribeInstanceConnectEndpoints": s.describeEndpoints,
		"DeleteInstanceConnectEndpoint":    s.deleteEndpoint,
		"ModifyInstanceConnectEndpoint":    s.modifyEndpoint,
	}
}

// now returns the current time in UTC, truncated to milliseconds (the
// precision of AWS timestamps).
func (s *service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Millisecond) }

// newID makes a resource id.
func (s *service) newID(k resourceKind) string { return s.cfg.IDs(k.prefix) }

// arn returns the ARN of an EC2 resource of this installation.
func (s *service) arn(k resourceKind, id string) string {
	return awsid.EC2ARN(s.cfg.Region, s.cfg.AccountID, k.arnType, id)
}

// storeErr wraps an unexpected store failure; the dispatcher answers it
// with InternalFailure and logs it.
func storeErr(err error, format string, args ...any) error {
	return fmt.Errorf("ec2api: "+format+": %w", append(args, err)...)
}

// dryRun reads the DryRun parameter.
func dryRun(c *api.Call) (bool, error) {
	return c.Params.Bool("DryRun", false)
}

// ctx returns the request context.
func ctx(c *api.Call) context.Context {
	if c.Ctx != nil {
		return c.Ctx
	}
	return context.Background()
}

// asAWS reports whether err is already an AWS error for the client.
func asAWS(err error) bool {
	var e *awsproto.Error
	return errors.As(err, &e)
}
