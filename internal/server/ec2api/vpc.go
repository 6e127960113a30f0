package ec2api

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/postern/postern/internal/server/api"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/wire/awsproto"
)

// Default security group of every VPC, as AWS makes it.
const (
	defaultGroupName        = store.DefaultGroupName
	defaultGroupDescription = store.DefaultGroupDescription
)

// stateAvailable is the state of VPCs and subnets.
const stateAvailable = "available"

type createVpcResult struct {
	Vpc vpcXML `xml:"vpc"`
}

// cidrError maps a CIDR parse failure to AWS's error: a prefix length out
// of range is rangeCode, anything else InvalidParameterValue.
func cidrError(err error, value, param, rangeCode string) *awsproto.Error {
	if errors.Is(err, errPrefixLen) {
		return badRequest(rangeCode, "The CIDR '%s' is invalid.", value)
	}
	return awsproto.InvalidParameterValue("Value (%s) for parameter %s is invalid. This is not a valid CIDR block.", value, lowerFirst(param))
}

// createVpc is CreateVpc: CidrBlock (/16–/28), optional Ipv6CidrBlock
// (/44–/64, a given block) or AmazonProvidedIpv6CidrBlock (a /56 of
// Config.IPv6Pool; a given Ipv6CidrBlock wins), TagSpecification.N. The
// VPC's default security group is created with it (with ::/0 out when the
// VPC has an IPv6 block).
func (s *service) createVpc(c *api.Call) (any, error) {
	p := c.Params
	cidr, err := p.Required("CidrBlock")
	if err != nil {
		return nil, err
	}
	v4, err := parseCIDR(cidr, 4, minVpcPrefix4, maxVpcPrefix4)
	if err != nil {
		return nil, cidrError(err, cidr, "CidrBlock", codeVpcRange)
	}
	amazon6, err := p.Bool("AmazonProvidedIpv6CidrBlock", false)
	if err != nil {
		return nil, err
	}
	ipv6 := ""
	if raw := p.Get("Ipv6CidrBlock"); raw != "" {
		v6, err := parseCIDR(raw, 6, minVpcPrefix6, maxVpcPrefix6)
		if err != nil {
			return nil, cidrError(err, raw, "Ipv6CidrBlock", codeVpcRange)
		}
		ipv6 = v6.String()
	}
	tags, err := parseTagSpecs(p, kindVpc.arnType)
	if err != nil {
		return nil, err
	}
	id := s.newID(kindVpc)
	arn := s.arn(kindVpc, id)
	if err := s.authorizeAndDryRun(c, createChecks("CreateVpc", arn, tags)...); err != nil {
		return nil, err
	}
	now := s.now()
	vpc := store.Vpc{VpcID: id, CidrBlock: v4.String(), Ipv6CidrBlock: ipv6, State: stateAvailable, CreateDate: now}
	err = s.createTagged(c, id, tags, func(tx store.Repo) error {
		if amazon6 && ipv6 == "" {
			block, err := s.allocateIPv6(c, tx)
			if err != nil {
				return err
			}
			vpc.Ipv6CidrBlock = block
		}
		if err := tx.CreateVpc(ctx(c), vpc); err != nil {
			return storeErr(err, "create vpc %s", id)
		}
		return s.createDefaultGroup(ctx(c), tx, vpc, now)
	})
	if err != nil {
		return nil, err
	}
	vpc.Tags = tags
	return createVpcResult{Vpc: s.vpcXML(vpc)}, nil
}

// createDefaultGroup makes a VPC's default security group
// (store.CreateDefaultGroup).
func (s *service) createDefaultGroup(ctx context.Context, tx store.Repo, vpc store.Vpc, now time.Time) error {
	return store.CreateDefaultGroup(ctx, tx, vpc, s.cfg.IDs, now)
}

// createChecks are the checks of a create action with tag-on-create: the
// action on the new resource and, when tagging, ec2:CreateTags on it with
// ec2:CreateAction naming the action.
func createChecks(action, arn string, tags []store.Tag) []check {
	reqCtx := withRequestTags(policyContext(), tags)
	checks := []check{{action: "ec2:" + action, resource: arn, ctx: reqCtx}}
	if len(tags) > 0 {
		tagCtx := merged(reqCtx)
		tagCtx.Set("ec2:CreateAction", action)
		checks = append(checks, check{action: "ec2:CreateTags", resource: arn, ctx: tagCtx})
	}
	return checks
}

// setTags stores tags on a new resource (nothing when there are none).
func setTags(ctx context.Context, tx store.Repo, id string, tags []store.Tag) error {
	if len(tags) == 0 {
		return nil
	}
	if err := tx.SetTags(ctx, id, tags); err != nil {
		return storeErr(err, "tag %s", id)
	}
	return nil
}

// clearTags removes every tag of a resource being deleted.
func clearTags(ctx context.Context, tx store.Repo, id string) error {
	m, err := tx.ListTags(ctx, []string{id})
	if err != nil {
		return storeErr(err, "list tags of %s", id)
	}
	if tags := m[id]; len(tags) > 0 {
		del := make([]store.Tag, len(tags))
		for i, t := range tags {
			del[i] = store.Tag{Key: t.Key}
		}
		if err := tx.DeleteTags(ctx, id, del); err != nil {
			return storeErr(err, "delete tags of %s", id)
		}
	}
	return nil
}

type describeVpcsResult struct {
	VpcSet    itemSet[vpcXML] `xml:"vpcSet"`
	NextToken string          `xml:"nextToken,omitempty"`
}

var vpcFilters = newFilterSpec(true, "vpc-id", "cidr", "cidr-block-association.cidr-block",
	"cidr-block-association.association-id", "cidr-block-association.state", "state", "is-default", "owner-id",
	"ipv6-cidr-block-association.ipv6-cidr-block", "ipv6-cidr-block-association.association-id",
	"ipv6-cidr-block-association.state", "instance-tenancy")

// describeVpcs is DescribeVpcs: VpcId.N, Filter.N, MaxResults (5–1000), NextToken.
func (s *service) describeVpcs(c *api.Call) (any, error) {
	return describe(s, c, describer[store.Vpc]{
		describeParams: describeParams{idParam: "VpcId", kind: kindVpc, filters: vpcFilters, minPage: 5, maxPage: 1000},
		id:             func(v store.Vpc) string { return v.VpcID },
		list:           func(c *api.Call, _ describeQuery) ([]store.Vpc, error) { return s.st.ListVpcs(ctx(c)) },
		listing:        "list vpcs",
		values:         s.vpcFilterValues,
		render: func(pg []store.Vpc, next string) any {
			return describeVpcsResult{VpcSet: xmlItems(pg, s.vpcXML), NextToken: next}
		},
	})
}

// vpcFilterValues answers the DescribeVpcs filters for v.
func (s *service) vpcFilterValues(v store.Vpc) func(string) []string {
	return withTagFilters(v.Tags, func(name string) []string {
		switch name {
		case "vpc-id":
			return []string{v.VpcID}
		case "cidr", "cidr-block-association.cidr-block":
			return []string{v.CidrBlock}
		case "cidr-block-association.association-id":
			return []string{assocID(v.VpcID, "cidr")}
		case "cidr-block-association.state":
			return []string{"associated"}
		case "state":
			return []string{v.State}
		case "is-default":
			return []string{"false"}
		case "owner-id":
			return []string{s.cfg.AccountID}
		case "ipv6-cidr-block-association.ipv6-cidr-block":
			if v.Ipv6CidrBlock != "" {
				return []string{v.Ipv6CidrBlock}
			}
		case "ipv6-cidr-block-association.association-id":
			if v.Ipv6CidrBlock != "" {
				return []string{ipv6AssocID(v.VpcID, v.Ipv6CidrBlock)}
			}
		case "ipv6-cidr-block-association.state":
			if v.Ipv6CidrBlock != "" {
				return []string{assocAssociated}
			}
		case "instance-tenancy":
			return []string{"default"}
		}
		return nil
	})
}

// deleteVpc is DeleteVpc: the VPC must have no subnets, instances,
// endpoints or security groups besides its default one (DependencyViolation).
func (s *service) deleteVpc(c *api.Call) (any, error) {
	return deleteOne(s, c, deletion[store.Vpc]{
		action: "ec2:DeleteVpc", idParam: "VpcId", kind: kindVpc,
		get:  s.getVpc,
		tags: func(v store.Vpc) []store.Tag { return v.Tags },
		del: func(c *api.Call, tx store.Repo, id string) error {
			def, err := tx.GetSecurityGroupByName(ctx(c), id, defaultGroupName)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return storeErr(err, "default security group of %s", id)
			}
			if err := deleteErr(tx.DeleteVpc(ctx(c), id), kindVpc, id, "The vpc '%s' has dependencies and cannot be deleted."); err != nil {
				return err
			}
			if def.GroupID != "" {
				return clearTags(ctx(c), tx, def.GroupID)
			}
			return nil
		},
	})
}

// selectIDs returns the items whose id is in ids (all items when ids is
// empty), or the kind's NotFound error naming every id that does not exist.
func selectIDs[T any](items []T, id func(T) string, ids []string, k resourceKind) ([]T, error) {
	if len(ids) == 0 {
		return items, nil
	}
	if len(ids) == 1 { // a Describe by one id: the same, without the maps
		n := 0
		for _, it := range items {
			if id(it) == ids[0] {
				n++
			}
		}
		switch n {
		case 0:
			return nil, k.errNotFound(ids[0])
		case len(items): // every item is that one (as the store answered): no copy
			return items, nil
		}
		out := make([]T, 0, n)
		for _, it := range items {
			if id(it) == ids[0] {
				out = append(out, it)
			}
		}
		return out, nil
	}
	want := make(map[string]bool, len(ids))
	for _, i := range ids {
		want[i] = true
	}
	var out []T
	found := map[string]bool{}
	for _, it := range items {
		if want[id(it)] {
			out = append(out, it)
			found[id(it)] = true
		}
	}
	var missing []string
	for _, i := range ids {
		if !found[i] {
			missing = append(missing, i)
		}
	}
	if len(missing) > 0 {
		return nil, k.errNotFound(missing...)
	}
	return out, nil
}

// sortByID sorts items by id, ascending.
func sortByID[T any](items []T, id func(T) string) {
	if len(items) < 2 {
		return
	}
	sort.SliceStable(items, func(i, j int) bool { return id(items[i]) < id(items[j]) })
}
