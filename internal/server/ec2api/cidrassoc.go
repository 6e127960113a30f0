package ec2api

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/postern/postern/internal/server/api"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/wire/awsproto"
)

// IPv6 blocks of VPCs and subnets: CreateVpc's AmazonProvidedIpv6CidrBlock
// and the Associate/Disassociate{Vpc,Subnet}CidrBlock actions. Where AWS
// hands out a /56 of its own global space, Postern hands out a /56 of a
// unique local (ULA) pool, Config.IPv6Pool: by default a random /56 of
// fd00::/8, which is a random RFC 4193 global id per VPC. Postern keeps one
// IPv4 and at most one IPv6 block per VPC.

// DefaultIPv6Pool is the pool of VPC IPv6 blocks when Config.IPv6Pool is
// not set: the whole locally assigned ULA range.
var DefaultIPv6Pool = netip.MustParsePrefix("fd00::/8")

// vpcIPv6Bits is the size of the block AmazonProvidedIpv6CidrBlock gives.
const vpcIPv6Bits = 56

// Error codes of these actions.
const (
	codeCidrLimit           = "CidrLimitExceeded"
	codeCidrInUse           = "InvalidCidrBlock.InUse"
	codeNotPermitted        = "OperationNotPermitted"
	codeInsufficientCidr    = "InsufficientCidrBlocks"
	codeVpcAssocNotFound    = "InvalidVpcCidrBlockAssociationID.NotFound"
	codeSubnetAssocNotFound = "InvalidSubnetCidrBlockAssociationID.NotFound"
)

// Association states (Postern's changes are immediate).
const (
	assocAssociated    = "associated"
	assocDisassociated = "disassociated"
)

// checkIPv6Pool validates a pool: an IPv6 prefix without host bits, at
// least a /56.
func checkIPv6Pool(p netip.Prefix) error {
	if !p.IsValid() || !p.Addr().Is6() || p.Addr().Is4In6() || p.Addr().Zone() != "" {
		return fmt.Errorf("ec2api: IPv6Pool %v is not an IPv6 prefix", p)
	}
	if p.Masked() != p {
		return fmt.Errorf("ec2api: IPv6Pool %v has host bits set", p)
	}
	if p.Bits() > vpcIPv6Bits {
		return fmt.Errorf("ec2api: IPv6Pool %v is smaller than one /56", p)
	}
	return nil
}

// ipv6AssocID derives the association id of an IPv6 block of a resource
// (vpc-cidr-assoc-…, subnet-cidr-assoc-…): stable for the pair, so that a
// block associated again after a disassociation has a new id when it is
// another block.
func ipv6AssocID(resourceID, cidr string) string {
	prefix, _, _ := strings.Cut(resourceID, "-")
	sum := sha256.Sum256([]byte(resourceID + " " + cidr))
	return prefix + "-cidr-assoc-" + hex.EncodeToString(sum[:9])[:17]
}

// allocateIPv6 picks a free /56 of the pool: one overlapping no VPC's IPv6
// block. It reads the VPCs in tx, the transaction that stores the block.
func (s *service) allocateIPv6(c *api.Call, tx store.Repo) (string, error) {
	vpcs, err := tx.ListVpcs(ctx(c))
	if err != nil {
		return "", storeErr(err, "list vpcs")
	}
	var used []netip.Prefix
	for _, v := range vpcs {
		if p := mustPrefix(v.Ipv6CidrBlock); p.IsValid() {
			used = append(used, p)
		}
	}
	pool := s.cfg.IPv6Pool
	base := pool.Addr().As16()
	hi := binary.BigEndian.Uint64(base[:8])
	n := uint64(1) << (vpcIPv6Bits - pool.Bits()) // the pool's /56s; at most 2^48
	nth := func(k uint64) netip.Prefix {
		var a [16]byte
		binary.BigEndian.PutUint64(a[:8], hi|k<<(64-vpcIPv6Bits))
		return netip.PrefixFrom(netip.AddrFrom16(a), vpcIPv6Bits)
	}
	// inUse returns the block in use that p overlaps.
	inUse := func(p netip.Prefix) (netip.Prefix, bool) {
		for _, u := range used {
			if u.Overlaps(p) {
				return u, true
			}
		}
		return netip.Prefix{}, false
	}
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return "", fmt.Errorf("ec2api: random block: %w", err)
	}
	// From a random /56 on (round the pool), the first free one, jumping
	// over each block in use (which may be larger than a /56) at once: at
	// most two steps per block in use, and one more.
	k := binary.BigEndian.Uint64(rnd[:]) % n
	for range 2*len(used) + 2 {
		p := nth(k)
		u, busy := inUse(p)
		if !busy {
			return p.String(), nil
		}
		next := k + 1
		if u.Bits() < vpcIPv6Bits {
			ua := u.Masked().Addr().As16()
			last := binary.BigEndian.Uint64(ua[:8]) | (uint64(1)<<(64-u.Bits()) - 1)
			if end := (last - hi) >> (64 - vpcIPv6Bits); last >= hi && end >= k {
				next = end + 1 // the /56 after u
			}
		}
		if next >= n {
			next = 0
		}
		k = next
	}
	return "", badRequest(codeInsufficientCidr, "The IPv6 pool %s has no free /56 block left.", pool)
}

type ipv6CidrAssocXML struct {
	AssociationID      string   `xml:"associationId"`
	Ipv6CidrBlock      string   `xml:"ipv6CidrBlock"`
	Ipv6CidrBlockState stateXML `xml:"ipv6CidrBlockState"`
	NetworkBorderGroup string   `xml:"networkBorderGroup,omitempty"`
}

type associateVpcCidrBlockResult struct {
	Ipv6CidrBlockAssociation *ipv6CidrAssocXML `xml:"ipv6CidrBlockAssociation,omitempty"`
	VpcID                    string            `xml:"vpcId"`
}

type disassociateVpcCidrBlockResult associateVpcCidrBlockResult

type associateSubnetCidrBlockResult struct {
	Ipv6CidrBlockAssociation ipv6CidrAssocXML `xml:"ipv6CidrBlockAssociation"`
	SubnetID                 string           `xml:"subnetId"`
}

type disassociateSubnetCidrBlockResult struct {
	SubnetID                 string           `xml:"subnetId"`
	Ipv6CidrBlockAssociation ipv6CidrAssocXML `xml:"ipv6CidrBlockAssociation"`
}

// cidrLimit is AWS's answer to one block too many.
func cidrLimit(id string) error {
	return badRequest(codeCidrLimit, "This network '%s' has met its maximum number of allowed CIDRs: 1", id)
}

// associateVpcCidrBlock is AssociateVpcCidrBlock: VpcId and one of
// AmazonProvidedIpv6CidrBlock (a /56 of the pool), Ipv6CidrBlock (a given
// block, /44–/64) or CidrBlock (a secondary IPv4 block: Postern keeps one
// per VPC, so CidrLimitExceeded). A VPC holds at most one IPv6 block.
// Security groups that exist are not changed (AWS adds no ::/0 rule to
// them either).
func (s *service) associateVpcCidrBlock(c *api.Call) (any, error) {
	p := c.Params
	vpcID, err := requiredID(p, "VpcId", kindVpc)
	if err != nil {
		return nil, err
	}
	amazon, err := p.Bool("AmazonProvidedIpv6CidrBlock", false)
	if err != nil {
		return nil, err
	}
	cidr4, cidr6 := p.Get("CidrBlock"), p.Get("Ipv6CidrBlock")
	switch {
	case cidr4 != "" && (amazon || cidr6 != ""):
		return nil, errCombination("The parameter CidrBlock cannot be used with AmazonProvidedIpv6CidrBlock or Ipv6CidrBlock.")
	case amazon && cidr6 != "":
		return nil, errCombination("The parameters AmazonProvidedIpv6CidrBlock and Ipv6CidrBlock cannot be used together.")
	case cidr4 == "" && !amazon && cidr6 == "":
		return nil, awsproto.MissingParameter("CidrBlock")
	}
	var v6 netip.Prefix
	if cidr4 != "" {
		if _, err := parseCIDR(cidr4, 4, minVpcPrefix4, maxVpcPrefix4); err != nil {
			return nil, cidrError(err, cidr4, "CidrBlock", codeVpcRange)
		}
	}
	if cidr6 != "" {
		if v6, err = parseCIDR(cidr6, 6, minVpcPrefix6, maxVpcPrefix6); err != nil {
			return nil, cidrError(err, cidr6, "Ipv6CidrBlock", codeVpcRange)
		}
	}
	chk := check{action: "ec2:AssociateVpcCidrBlock", resource: s.arn(kindVpc, vpcID)}
	vpc, err := s.getVpc(c, vpcID)
	if err != nil {
		return nil, s.hideMissing(c, err, vpcID, chk)
	}
	chk.ctx = withResourceTags(policyContext(), vpc.Tags)
	if err := s.authorizeAndDryRun(c, chk); err != nil {
		return nil, err
	}
	if cidr4 != "" {
		return nil, cidrLimit(vpcID)
	}
	var block string
	err = s.st.InTx(ctx(c), func(tx store.Repo) error {
		cur, err := tx.GetVpc(ctx(c), vpcID)
		if errors.Is(err, store.ErrNotFound) {
			return kindVpc.errNotFound(vpcID)
		}
		if err != nil {
			return storeErr(err, "get vpc %s", vpcID)
		}
		if cur.Ipv6CidrBlock != "" {
			return cidrLimit(vpcID)
		}
		block = v6.String()
		if amazon {
			if block, err = s.allocateIPv6(c, tx); err != nil {
				return err
			}
		}
		if err := tx.SetVpcIpv6CidrBlock(ctx(c), vpcID, block); err != nil {
			return storeErr(err, "set the IPv6 block of %s", vpcID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return associateVpcCidrBlockResult{VpcID: vpcID, Ipv6CidrBlockAssociation: &ipv6CidrAssocXML{
		AssociationID: ipv6AssocID(vpcID, block), Ipv6CidrBlock: block,
		Ipv6CidrBlockState: stateXML{State: assocAssociated}, NetworkBorderGroup: s.cfg.Region,
	}}, nil
}

// disassociateVpcCidrBlock is DisassociateVpcCidrBlock: AssociationId of
// the VPC's IPv6 block (the primary IPv4 block cannot be removed). The
// block must hold no subnet's block (InvalidCidrBlock.InUse).
func (s *service) disassociateVpcCidrBlock(c *api.Call) (any, error) {
	assoc, err := c.Params.Required("AssociationId")
	if err != nil {
		return nil, err
	}
	vpcs, err := s.st.ListVpcs(ctx(c))
	if err != nil {
		return nil, storeErr(err, "list vpcs")
	}
	var vpc store.Vpc
	primary := false
	for _, v := range vpcs {
		if v.Ipv6CidrBlock != "" && ipv6AssocID(v.VpcID, v.Ipv6CidrBlock) == assoc {
			vpc = v
			break
		}
		if assocID(v.VpcID, "cidr") == assoc {
			vpc, primary = v, true
			break
		}
	}
	if vpc.VpcID == "" {
		notFound := badRequest(codeVpcAssocNotFound, "The vpc CIDR block association ID '%s' does not exist", assoc)
		return nil, s.hideMissing(c, notFound, assoc, check{action: "ec2:DisassociateVpcCidrBlock", resource: s.arn(kindVpc, "*")})
	}
	chk := check{action: "ec2:DisassociateVpcCidrBlock", resource: s.arn(kindVpc, vpc.VpcID), ctx: withResourceTags(policyContext(), vpc.Tags)}
	if err := s.authorizeAndDryRun(c, chk); err != nil {
		return nil, err
	}
	if primary {
		return nil, badRequest(codeNotPermitted, "The vpc CIDR block with association ID %s may not be disassociated. It is the primary IPv4 CIDR block of the VPC", assoc)
	}
	block := vpc.Ipv6CidrBlock
	err = s.st.InTx(ctx(c), func(tx store.Repo) error {
		cur, err := tx.GetVpc(ctx(c), vpc.VpcID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return storeErr(err, "get vpc %s", vpc.VpcID)
		}
		if err != nil || cur.Ipv6CidrBlock != block {
			return badRequest(codeVpcAssocNotFound, "The vpc CIDR block association ID '%s' does not exist", assoc)
		}
		subnets, err := tx.ListSubnets(ctx(c), vpc.VpcID)
		if err != nil {
			return storeErr(err, "list subnets of %s", vpc.VpcID)
		}
		for _, sn := range subnets {
			if sn.Ipv6CidrBlock != "" {
				return badRequest(codeCidrInUse, "The vpc %s currently has a subnet within CIDR block %s", vpc.VpcID, block)
			}
		}
		if err := tx.SetVpcIpv6CidrBlock(ctx(c), vpc.VpcID, ""); err != nil {
			return storeErr(err, "remove the IPv6 block of %s", vpc.VpcID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return disassociateVpcCidrBlockResult{VpcID: vpc.VpcID, Ipv6CidrBlockAssociation: &ipv6CidrAssocXML{
		AssociationID: assoc, Ipv6CidrBlock: block,
		Ipv6CidrBlockState: stateXML{State: assocDisassociated}, NetworkBorderGroup: s.cfg.Region,
	}}, nil
}

// associateSubnetCidrBlock is AssociateSubnetCidrBlock: SubnetId and
// Ipv6CidrBlock, a /64 inside the VPC's IPv6 block that overlaps no other
// subnet's. A subnet holds at most one IPv6 block.
func (s *service) associateSubnetCidrBlock(c *api.Call) (any, error) {
	p := c.Params
	subnetID, err := requiredID(p, "SubnetId", kindSubnet)
	if err != nil {
		return nil, err
	}
	raw, err := p.Required("Ipv6CidrBlock")
	if err != nil {
		return nil, err
	}
	v6, err := parseCIDR(raw, 6, subnetPrefix6, subnetPrefix6)
	if err != nil {
		return nil, cidrError(err, raw, "Ipv6CidrBlock", codeSubnetRange)
	}
	chk := check{action: "ec2:AssociateSubnetCidrBlock", resource: s.arn(kindSubnet, subnetID)}
	sn, err := s.getSubnet(c, subnetID)
	if err != nil {
		return nil, s.hideMissing(c, err, subnetID, chk)
	}
	chk.ctx = withResourceTags(policyContext(), sn.Tags)
	if err := s.authorizeAndDryRun(c, chk); err != nil {
		return nil, err
	}
	block := v6.String()
	err = s.st.InTx(ctx(c), func(tx store.Repo) error {
		cur, err := tx.GetSubnet(ctx(c), subnetID)
		if errors.Is(err, store.ErrNotFound) {
			return kindSubnet.errNotFound(subnetID)
		}
		if err != nil {
			return storeErr(err, "get subnet %s", subnetID)
		}
		if cur.Ipv6CidrBlock != "" {
			return cidrLimit(subnetID)
		}
		vpc, err := tx.GetVpc(ctx(c), cur.VpcID)
		if err != nil {
			return storeErr(err, "get vpc %s", cur.VpcID)
		}
		if !containsPrefix(mustPrefix(vpc.Ipv6CidrBlock), v6) {
			return badRequest(codeSubnetRange, "The IPv6 CIDR '%s' is invalid.", raw)
		}
		others, err := tx.ListSubnets(ctx(c), cur.VpcID)
		if err != nil {
			return storeErr(err, "list subnets of %s", cur.VpcID)
		}
		for _, o := range others {
			if q := mustPrefix(o.Ipv6CidrBlock); q.IsValid() && q.Overlaps(v6) {
				return badRequest(codeSubnetConflict, "The IPv6 CIDR '%s' conflicts with another subnet", raw)
			}
		}
		if err := tx.SetSubnetIpv6CidrBlock(ctx(c), subnetID, block); err != nil {
			return storeErr(err, "set the IPv6 block of %s", subnetID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return associateSubnetCidrBlockResult{SubnetID: subnetID, Ipv6CidrBlockAssociation: ipv6CidrAssocXML{
		AssociationID: ipv6AssocID(subnetID, block), Ipv6CidrBlock: block, Ipv6CidrBlockState: stateXML{State: assocAssociated},
	}}, nil
}

// disassociateSubnetCidrBlock is DisassociateSubnetCidrBlock:
// AssociationId of a subnet's IPv6 block. An IPv6-only subnet keeps its
// block; no instance may have an address in it and no endpoint in the
// subnet may use IPv6 (InvalidCidrBlock.InUse).
func (s *service) disassociateSubnetCidrBlock(c *api.Call) (any, error) {
	assoc, err := c.Params.Required("AssociationId")
	if err != nil {
		return nil, err
	}
	subnets, err := s.st.ListSubnets(ctx(c), "")
	if err != nil {
		return nil, storeErr(err, "list subnets")
	}
	var sn store.Subnet
	for _, o := range subnets {
		if o.Ipv6CidrBlock != "" && ipv6AssocID(o.SubnetID, o.Ipv6CidrBlock) == assoc {
			sn = o
			break
		}
	}
	notFound := badRequest(codeSubnetAssocNotFound, "The subnet CIDR block with association ID '%s' does not exist", assoc)
	if sn.SubnetID == "" {
		return nil, s.hideMissing(c, notFound, assoc, check{action: "ec2:DisassociateSubnetCidrBlock", resource: s.arn(kindSubnet, "*")})
	}
	chk := check{action: "ec2:DisassociateSubnetCidrBlock", resource: s.arn(kindSubnet, sn.SubnetID), ctx: withResourceTags(policyContext(), sn.Tags)}
	if err := s.authorizeAndDryRun(c, chk); err != nil {
		return nil, err
	}
	if sn.CidrBlock == "" {
		return nil, badRequest(codeNotPermitted, "The subnet CIDR block with association ID %s may not be disassociated. It is the only CIDR block of the IPv6-only subnet %s", assoc, sn.SubnetID)
	}
	block := sn.Ipv6CidrBlock
	err = s.st.InTx(ctx(c), func(tx store.Repo) error {
		cur, err := tx.GetSubnet(ctx(c), sn.SubnetID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return storeErr(err, "get subnet %s", sn.SubnetID)
		}
		if err != nil || cur.Ipv6CidrBlock != block {
			return notFound
		}
		instances, err := tx.ListInstances(ctx(c))
		if err != nil {
			return storeErr(err, "list instances")
		}
		for _, i := range instances {
			if i.SubnetID == sn.SubnetID && i.Ipv6Address != "" {
				return badRequest(codeCidrInUse, "The subnet %s has an instance (%s) with an address in CIDR block %s", sn.SubnetID, i.InstanceID, block)
			}
		}
		eps, err := tx.ListEndpointsPage(ctx(c), store.EndpointQuery{SubnetIDs: []string{sn.SubnetID}})
		if err != nil {
			return storeErr(err, "list endpoints of %s", sn.SubnetID)
		}
		for _, e := range eps {
			if e.DeletedAt.IsZero() && (e.IPAddressType == ipTypeIPv6 || e.IPAddressType == ipTypeDualstack) {
				return badRequest(codeCidrInUse, "The subnet %s has an Instance Connect Endpoint (%s) using CIDR block %s", sn.SubnetID, e.EndpointID, block)
			}
		}
		if err := tx.SetSubnetIpv6CidrBlock(ctx(c), sn.SubnetID, ""); err != nil {
			return storeErr(err, "remove the IPv6 block of %s", sn.SubnetID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return disassociateSubnetCidrBlockResult{SubnetID: sn.SubnetID, Ipv6CidrBlockAssociation: ipv6CidrAssocXML{
		AssociationID: assoc, Ipv6CidrBlock: block, Ipv6CidrBlockState: stateXML{State: assocDisassociated},
	}}, nil
}
